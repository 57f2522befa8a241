"""The trace retention job: daily partitions made a week ahead, whole partitions dropped once
every session in them is older than the retention window, and the traces of erased sessions
(deleted accounts, withdrawn consent) removed by session id through the index. One node at a
time (a Postgres advisory lock); the clock is the caller's, so tests and operators can set it.

Postgres refuses DETACH PARTITION CONCURRENTLY on a table with a default partition, so a
partition is detached plainly under a short lock_timeout: writes wait at most that long, and a
detach that cannot get its lock in time is left for the next run."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from storage.db import Pool
from storage.erasure import erase_traces

if TYPE_CHECKING:
    from storage.erasure import Conn

log = logging.getLogger("wingman.retention")

# Any constant shared by all nodes (distinct from the migrations' lock): one job at a time.
_LOCK_KEY = 0x57494E4754524143
_PARTITION = re.compile(r"^trace_events_p(\d{8})$")
_ERASE_BATCH = 1000


def partition_name(day: date) -> str:
    return f"trace_events_p{day:%Y%m%d}"


def expiry_cutoff(now: datetime, retention_days: int) -> date:
    """Partitions of days before this are expired: every session in them started more than
    `retention_days` ago. A day's partition goes on the first run after its last session turned
    `retention_days` old, so traces are kept at least that long and gone within a day after
    (given a run at least daily)."""
    return (now.astimezone(UTC) - timedelta(days=retention_days)).date()


@dataclass
class DroppedPartition:
    partition: str
    day: str
    events: int


@dataclass
class RetentionReport:
    as_of: str
    ran: bool = True  # False: another node was running the job
    created: list[str] = field(default_factory=list)
    dropped: list[DroppedPartition] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # detach could not get its lock in time
    moved_from_default: int = 0
    expired_from_default: int = 0
    erased_sessions: int = 0
    erased_events: int = 0
    tombstones_forgotten: int = 0

    @property
    def events_removed(self) -> int:
        return (sum(d.events for d in self.dropped) + self.expired_from_default
                + self.erased_events)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_removed": self.events_removed}


class TraceRetention:
    def __init__(self, pool: Pool, retention_days: int, ahead_days: int,
                 lock_timeout_seconds: float, node: str) -> None:
        self._pool = pool
        self._retention_days = retention_days
        self._ahead_days = ahead_days
        self._lock_timeout = f"{max(int(lock_timeout_seconds * 1000), 1)}ms"
        self._node = node

    async def run(self, now: datetime) -> RetentionReport:
        report = RetentionReport(as_of=now.astimezone(UTC).isoformat())
        started = datetime.now(UTC)
        async with self._pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
                report.ran = False
                return report
            try:
                await self._run(conn, now.astimezone(UTC), report)
                await conn.execute(
                    "INSERT INTO trace_retention_runs (started_at, as_of, node, report)"
                    " VALUES ($1, $2, $3, $4::jsonb)", started, now, self._node,
                    orjson.dumps(report.to_dict()).decode())
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        return report

    async def _run(self, conn: Conn, now: datetime,
                   report: RetentionReport) -> None:
        today = now.date()
        cutoff = expiry_cutoff(now, self._retention_days)
        existing = await self._partitions(conn)
        stray = {r["day"] for r in await conn.fetch(
            "SELECT DISTINCT day FROM trace_events_default WHERE day >= $1", cutoff)}
        wanted = {today + timedelta(days=n) for n in range(self._ahead_days + 1)} | stray
        for day in sorted(wanted - set(existing)):
            if day < cutoff:
                continue
            try:
                report.moved_from_default += await self._create(conn, day)
                report.created.append(partition_name(day))
            except asyncpg.LockNotAvailableError:
                report.deferred.append(partition_name(day))
        for day, name in sorted(existing.items()):
            if day < cutoff:
                await self._drop(conn, name, day, report)
        expired = await conn.execute("DELETE FROM trace_events_default WHERE day < $1", cutoff)
        report.expired_from_default = int(expired.split()[-1])
        await self._erase(conn, report)
        forgotten = await conn.execute(
            "DELETE FROM trace_tombstones WHERE erased_at IS NOT NULL"
            " AND wingman_session_day(sid) < $1", cutoff)
        report.tombstones_forgotten = int(forgotten.split()[-1])

    async def _partitions(self, conn: Conn) -> dict[date, str]:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'trace_events'::regclass")
        found: dict[date, str] = {}
        for row in rows:
            match = _PARTITION.match(row["relname"])
            if match:
                found[datetime.strptime(match.group(1), "%Y%m%d").date()] = row["relname"]
        return found

    async def _create(self, conn: Conn, day: date) -> int:
        """A day's partition, built beside the table and attached (which does not block writes
        the way CREATE ... PARTITION OF would); rows of that day the default partition caught
        move into it. Returns how many moved."""
        name = partition_name(day)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{self._lock_timeout}'")
            await conn.execute(
                f"CREATE TABLE {name} (LIKE trace_events INCLUDING DEFAULTS,"
                f" CONSTRAINT {name}_day CHECK (day >= '{day}' AND day < '{day + timedelta(1)}'))")
            moved = await conn.execute(
                f"WITH moved AS (DELETE FROM trace_events_default WHERE day = $1 RETURNING *)"
                f" INSERT INTO {name} SELECT * FROM moved", day)
            await conn.execute(
                f"ALTER TABLE trace_events ATTACH PARTITION {name}"
                f" FOR VALUES FROM ('{day}') TO ('{day + timedelta(1)}')")
            await conn.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_day")
        count = int(moved.split()[-1])
        log.info("made trace partition %s%s", name,
                 f" ({count} events moved in from the default partition)" if count else "")
        return count

    async def _drop(self, conn: Conn, name: str, day: date,
                    report: RetentionReport) -> None:
        events = int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
        try:
            await conn.execute(f"SET lock_timeout = '{self._lock_timeout}'")
            await conn.execute(f"ALTER TABLE trace_events DETACH PARTITION {name}")
        except asyncpg.LockNotAvailableError:
            log.warning("trace partition %s busy; detaching it on the next run", name)
            report.deferred.append(name)
            return
        finally:
            await conn.execute("RESET lock_timeout")
        await conn.execute(f"DROP TABLE {name}")
        log.info("dropped trace partition %s (%d events)", name, events)
        report.dropped.append(DroppedPartition(name, day.isoformat(), events))

    async def _erase(self, conn: Conn, report: RetentionReport) -> None:
        """Sessions of learners who no longer consent, and every tombstoned session: their
        events, by session id through the index (a deleted session record leaves a tombstone
        by trigger)."""
        await conn.execute(
            "DELETE FROM sessions s USING users u WHERE s.learner_id = u.id AND NOT u.consent")
        while True:
            sids: list[uuid.UUID] = [r["sid"] for r in await conn.fetch(
                "SELECT sid FROM trace_tombstones WHERE erased_at IS NULL LIMIT $1",
                _ERASE_BATCH)]
            if not sids:
                return
            async with conn.transaction():
                report.erased_events += await erase_traces(conn, sids)
            report.erased_sessions += len(sids)
