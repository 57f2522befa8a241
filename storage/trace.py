"""Session traces: the batched writer that persists every event once, and reading them back."""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

import anyio
import asyncpg
import msgspec

from storage.db import Pool

log = logging.getLogger("wingman.trace")

_INSERT = """
INSERT INTO trace_events (sid, seq, epoch, ts, kind, actor, role, data, private_to)
SELECT s, q, e, t, k, a, r, d::jsonb, p
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[]) AS u(s, q, e, t, k, a, r, d, p)
WHERE NOT EXISTS (SELECT 1 FROM trace_tombstones WHERE trace_tombstones.sid = u.s)
ON CONFLICT (sid, seq) DO NOTHING
"""
# NaN and infinities would be refused by jsonb; msgspec writes them as null.
_json = msgspec.json.Encoder()
_TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
              asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, TimeoutError)


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


def _clean(value: Any) -> Any:
    """Postgres text and jsonb cannot hold NUL; learner output can."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class TraceWriter:
    """Takes rows without waiting, writes them in batches, idempotently by (sid, seq)."""

    def __init__(self, pool: Pool, batch: int, flush_seconds: float, capacity: int) -> None:
        self._pool = pool
        self._batch = batch
        self._flush_seconds = flush_seconds
        self._capacity = capacity
        self._rows: deque[TraceRow] = deque()
        self._wakeup = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self.written = 0
        self.dead_letters = 0

    @property
    def lag(self) -> int:
        return len(self._rows)

    def has_room(self) -> bool:
        return len(self._rows) < self._capacity

    def add(self, row: TraceRow) -> bool:
        if not self.has_room():
            return False
        self._rows.append(row)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
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
                await self._write(batch)
            except _TRANSIENT as err:
                log.warning("trace write failed, retrying in %.1fs: %s", delay, type(err).__name__)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _ in batch:
                self._rows.popleft()
            self.written += len(batch)
            delay = 0.2
        self._idle.set()

    async def _write(self, batch: list[TraceRow]) -> None:
        try:
            await self._insert(batch)
        except asyncpg.PostgresError as err:
            if isinstance(err, _TRANSIENT) or len(batch) == 1:
                if len(batch) == 1 and not isinstance(err, _TRANSIENT):
                    await self._set_aside(batch[0], err)
                    return
                raise
            # Split to find the rows Postgres refuses, so one bad event never stalls the rest.
            half = len(batch) // 2
            await self._write(batch[:half])
            await self._write(batch[half:])

    async def _insert(self, batch: list[TraceRow]) -> None:
        columns: list[list[Any]] = [[] for _ in range(9)]
        for row in batch:
            values = (uuid.UUID(row.sid), row.seq, row.epoch,
                      datetime.fromtimestamp(row.ts_ms / 1000, UTC), row.kind, row.actor,
                      row.role, _json.encode(_clean(row.data)).decode(),
                      row.private_to)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        await self._pool.execute(_INSERT, *columns)

    async def _set_aside(self, row: TraceRow, err: Exception) -> None:
        log.error("trace event %s/%s set aside: %s", row.sid, row.seq, type(err).__name__)
        self.dead_letters += 1
        await self._pool.execute(
            "INSERT INTO trace_dead_letters (sid, seq, error, payload) VALUES ($1, $2, $3, $4)",
            uuid.UUID(row.sid), row.seq, str(err)[:500],
            json.dumps(_clean(row._asdict()), default=str))


class TraceReader:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def events(self, sid: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT * FROM trace_events WHERE sid = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            uuid.UUID(sid), after, limit)
        return [
            {"type": "event", "sid": str(r["sid"]), "epoch": r["epoch"], "seq": r["seq"],
             "ts": int(r["ts"].timestamp() * 1000), "kind": r["kind"],
             "by": {"user": r["actor"], "role": r["role"]}, "data": r["data"],
             **({"private_to": r["private_to"]} if r["private_to"] else {})}
            for r in rows
        ]
