"""Session traces: writing batches of events to Postgres once each, and reading them back.

`TraceStore` writes one batch: idempotent by (sid, seq), never for a tombstoned session, a row
Postgres refuses found by splitting the batch and set aside in the dead-letter table. Its feeders
are the Redis stream consumer (server/trace_streams.py) and, without Redis, `TraceWriter`, an
in-process bounded queue."""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import anyio
import asyncpg
import msgspec

from storage.db import JsonText, Pool

log = logging.getLogger("wingman.trace")

_INSERT = """
INSERT INTO trace_events (day, sid, seq, epoch, ts, kind, actor, role, data, private_to)
SELECT y, s, q, e, timestamptz 'epoch' + t * interval '1 ms', k, a, r, d::jsonb, p
FROM unnest($1::date[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[]) AS u(y, s, q, e, t, k, a, r, d, p)
WHERE NOT EXISTS (SELECT 1 FROM trace_tombstones WHERE trace_tombstones.sid = u.s)
ON CONFLICT (sid, seq, day) DO NOTHING
"""
# NaN and infinities would be refused by jsonb; msgspec writes them as null.
_json = msgspec.json.Encoder()
# Postgres (or the way to it) is down or busy: retry the same batch later, nothing is set aside.
TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, TimeoutError,
             asyncpg.OperatorInterventionError, asyncpg.InsufficientResourcesError,
             asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError,
             asyncpg.SerializationError)

# Postgres (or the encoding before it) refuses the rows themselves: retrying will not help.
REFUSED = (asyncpg.PostgresError, ValueError, TypeError, msgspec.EncodeError)
_COLUMNS = ("day", "sid", "seq", "epoch", "ts", "kind", "actor", "role", "data", "private_to")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def refused(err: BaseException) -> bool:
    """True when retrying the same rows cannot help (asyncpg's DataError, a value it cannot
    encode, is an InterfaceError like a lost connection, but nothing transient)."""
    return isinstance(err, asyncpg.DataError) or (
        isinstance(err, REFUSED) and not isinstance(err, TRANSIENT))


class TraceRow(NamedTuple):
    sid: str
    seq: int
    epoch: int
    ts_ms: int
    kind: str
    actor: str
    role: str
    data: dict[str, Any]
    private_to: str | None


class PlacedRow(NamedTuple):
    """A trace row as the bus placed it: the day its session started, and its data as JSON."""

    day: date
    sid: str
    seq: int
    epoch: int
    ts_ms: int
    kind: str
    actor: str
    role: str
    data: str
    private_to: str | None


def session_day(sid: str | uuid.UUID) -> date | None:
    """The UTC day a session started, from its UUIDv7 id (the first 48 bits are Unix ms); None
    for an id of another version."""
    value = sid if isinstance(sid, uuid.UUID) else uuid.UUID(sid)
    if value.version == 7:
        return datetime.fromtimestamp((value.int >> 80) / 1000, UTC).date()
    return None


def row_day(sid: str, ts_ms: int, known: dict[str, date | None] | None = None) -> date:
    """The partition day of a session's event: the day the session started, or for a session id
    that does not carry it, the day of the event. `known` remembers the days of sessions seen."""
    if known is None:
        day = session_day(sid)
    elif sid in known:
        day = known[sid]
    else:
        day = known[sid] = session_day(sid)
    return day or datetime.fromtimestamp(ts_ms / 1000, UTC).date()


def _clean(value: Any) -> Any:
    """Postgres text and jsonb cannot hold NUL (nor lone surrogates); learner output can."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def stored_json(data: dict[str, Any]) -> str:
    """Data as the JSON text jsonb takes (no NUL, no lone surrogate, no NaN)."""
    return _json.encode(_clean(data)).decode()


@dataclass
class Written:
    """What one batch came to: rows taken by Postgres (or found there already), rows set aside."""

    rows: int = 0
    set_aside: int = 0


class TraceStore:
    """Writes batches of trace rows; raises a TRANSIENT error when Postgres cannot be reached."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        # Told of every row set aside (for the metric), with the reason.
        self.on_set_aside: Callable[[str], None] = lambda reason: None

    async def write(self, batch: list[TraceRow]) -> Written:
        written = Written()
        await self._write(batch, written)
        return written

    async def write_placed(self, batch: list[PlacedRow]) -> Written:
        """The fast path: the whole batch in one COPY, all or nothing. Raises what Postgres
        raised when it refuses any row; the caller then decodes the batch and uses `write`."""
        if not batch:
            return Written()
        async with self._pool.acquire() as conn, conn.transaction():
            erased = {str(r["sid"]) for r in await conn.fetch(
                "SELECT sid FROM trace_tombstones WHERE sid = ANY($1::uuid[])",
                list({row.sid for row in batch}))}
            rows = [row for row in batch if str(uuid.UUID(row.sid)) not in erased] \
                if erased else batch
            if not rows:
                return Written(rows=len(batch))
            try:
                async with conn.transaction():
                    await conn.copy_records_to_table("trace_events", columns=_COLUMNS, records=[
                        (*row[:4], _EPOCH + timedelta(milliseconds=row.ts_ms), *row[5:8],
                         JsonText(row.data), row.private_to) for row in rows])
            except asyncpg.UniqueViolationError:
                # A writer that died before acknowledging wrote some of them already.
                await conn.execute(_INSERT, *zip(*rows, strict=True))
        return Written(rows=len(batch))

    async def _write(self, batch: list[TraceRow], written: Written) -> None:
        if not batch:
            return
        try:
            await self._insert(batch)
            written.rows += len(batch)
        except Exception as err:
            if not refused(err):
                raise
            if len(batch) == 1:
                await self._set_aside(batch[0], err)
                written.set_aside += 1
                return
            # Split to find the rows Postgres refuses, so one bad event never stalls the rest.
            half = len(batch) // 2
            await self._write(batch[:half], written)
            await self._write(batch[half:], written)

    async def _insert(self, batch: list[TraceRow]) -> None:
        known: dict[str, date | None] = {}
        await self.write_placed([
            PlacedRow(row_day(row.sid, row.ts_ms, known), row.sid, row.seq, row.epoch, row.ts_ms,
                      row.kind, row.actor, row.role, stored_json(row.data),
                      row.private_to)
            for row in batch])

    async def _set_aside(self, row: TraceRow, err: Exception) -> None:
        reason = type(err).__name__
        log.error("trace event %s/%s set aside: %s", row.sid, row.seq, reason)
        self.on_set_aside(reason)
        await self.set_aside_raw(row.sid, row.seq, str(err)[:500],
                                 json.dumps(_clean(row._asdict()), default=str))

    async def set_aside_raw(self, sid: str, seq: int, error: str, payload: str) -> None:
        """Keep what could not be stored for a person to look at (text with NULs replaced)."""
        key = _uuid_or_nil(sid)
        await self._pool.execute(
            "INSERT INTO trace_dead_letters (sid, seq, error, payload) VALUES ($1, $2, $3, $4)",
            key, seq, _clean(error), _clean(payload))


def _uuid_or_nil(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        return uuid.UUID(int=0)


class TraceWriter:
    """Without Redis: takes rows without waiting, writes them in batches through the store;
    bounded, so a long Postgres outage refuses new events instead of growing without end."""

    def __init__(self, store: TraceStore, batch: int, flush_seconds: float,
                 capacity: int) -> None:
        self._store = store
        self._batch = batch
        self._flush_seconds = flush_seconds
        self._capacity = capacity
        self._rows: deque[TraceRow] = deque()
        self._wakeup = anyio.Event()
        self.written = 0
        self.dead_letters = 0
        # Told of each batch written (rows stored, rows set aside), for the metrics.
        self.on_batch: Callable[[Written], None] = lambda written: None

    @property
    def lag(self) -> int:
        return len(self._rows)

    def has_room(self) -> bool:
        return len(self._rows) < self._capacity

    def add(self, row: TraceRow) -> bool:
        if not self.has_room():
            return False
        self._rows.append(row)
        if len(self._rows) >= self._batch:
            self._wakeup.set()
        return True

    async def run(self) -> None:
        """Write until cancelled; the caller drains with `flush` on shutdown."""
        while True:
            with anyio.move_on_after(self._flush_seconds):
                await self._wakeup.wait()
            self._wakeup = anyio.Event()
            await self._write_queued()

    async def flush(self, within: float = 10.0) -> bool:
        """Write what is queued; True when nothing is left."""
        with anyio.move_on_after(within):
            await self._write_queued()
        return not self._rows

    async def _write_queued(self) -> None:
        delay = 0.2
        while self._rows:
            batch = [self._rows[i] for i in range(min(self._batch, len(self._rows)))]
            try:
                written = await self._store.write(batch)
            except TRANSIENT as err:
                log.warning("trace write failed, retrying in %.1fs: %s", delay, type(err).__name__)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _ in batch:
                self._rows.popleft()
            self.written += written.rows
            self.dead_letters += written.set_aside
            self.on_batch(written)
            delay = 0.2


class TraceReader:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def events(self, sid: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        key = uuid.UUID(sid)
        day = session_day(key)
        if day is not None:  # the session's one partition
            rows = await self._pool.fetch(
                "SELECT * FROM trace_events WHERE sid = $1 AND day = $4 AND seq > $2"
                " ORDER BY seq LIMIT $3", key, after, limit, day)
        else:
            rows = await self._pool.fetch(
                "SELECT * FROM trace_events WHERE sid = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                key, after, limit)
        return [
            {"type": "event", "sid": str(r["sid"]), "epoch": r["epoch"], "seq": r["seq"],
             "ts": int(r["ts"].timestamp() * 1000), "kind": r["kind"],
             "by": {"user": r["actor"], "role": r["role"]}, "data": r["data"],
             **({"private_to": r["private_to"]} if r["private_to"] else {})}
            for r in rows
        ]
