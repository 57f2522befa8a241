"""The durable trace write path on Redis. The publish script appends every kept event to its
session's trace stream (realtime/keys.py) in the same step that places it; a consumer group of
trace writers, any node may run one, writes the streams to Postgres in batches and acknowledges
entries only once committed. Entries a dead writer left pending are claimed by another after a
while; writes are idempotent by (sid, seq), so an entry written twice is stored once. A stream is
trimmed only below its oldest unacknowledged entry; at its bound publishing answers
`unavailable` (RedisBus) rather than lose an event."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio
import msgspec
from redis.exceptions import RedisError, ResponseError

from realtime.bus_redis import decode_message, text
from realtime.envelope import Actor, Event
from realtime.redis_client import RedisClient
from storage.trace import (
    REFUSED,
    TRANSIENT,
    PlacedRow,
    TraceRow,
    TraceStore,
    Written,
    refused,
    row_day,
    stored_json,
)

log = logging.getLogger("wingman.trace")

GROUP = "trace-writers"


def event_row(event: Event) -> TraceRow:
    """A session event as a trace row; names are personal data kept sealed in `users`, so the
    trace keeps user ids only."""
    return TraceRow(event.sid, event.seq, event.epoch, event.ts, event.kind, event.by.user,
                    event.by.role.value, _kept(event.data), event.private_to)


def _kept(data: dict[str, Any]) -> dict[str, Any]:
    if "name" in data:
        return {k: v for k, v in data.items() if k != "name"}
    return data


class _PlacedBody(msgspec.Struct):
    """The fields of a Draft's JSON the trace keeps, its data left as JSON for Postgres."""

    kind: str
    by: Actor
    data: msgspec.Raw
    private_to: str | None = None


_placed_body = msgspec.json.Decoder(_PlacedBody)


def placed_rows(entries: list[Any]) -> list[PlacedRow]:
    """Stream entries as rows, their data not decoded; raises (KeyError, ValueError, a msgspec
    error) for an entry that needs the careful path of `event_row`."""
    rows: list[PlacedRow] = []
    known: dict[str, date | None] = {}
    for _, fields in entries:
        sid = text(fields[b"s"])
        epoch, seq, ts, message = fields[b"m"].split(b" ", 3)
        body = _placed_body.decode(message)
        raw = bytes(body.data)
        # The few that may hold a NUL (jsonb takes none) or a name (kept out) are decoded.
        data = stored_json(_kept(msgspec.json.decode(raw))) \
            if b"\\u0000" in raw or b'"name"' in raw else raw.decode()
        rows.append(PlacedRow(row_day(sid, int(ts), known), sid, int(seq), int(epoch), int(ts),
                              body.kind, body.by.user, body.by.role.value, data,
                              body.private_to))
    return rows


@dataclass
class WriterObserver:
    """What the writer tells the metrics: each batch written, and each stream's length."""

    batch: Callable[[Written], None] = lambda written: None
    length: Callable[[str, int], None] = lambda stream, length: None


class StreamTraceWriter:
    """One node's consumer in the trace writers' group; `tasks` loops share the streams."""

    def __init__(self, redis: RedisClient, store: TraceStore, consumer: str, streams: list[str],
                 batch: int, idle_seconds: float, claim_idle_seconds: float, tasks: int,
                 read_chunk: int, observer: WriterObserver | None = None) -> None:
        self._redis = redis
        self._store = store
        self._consumer = consumer
        self._streams = streams
        self._batch = batch
        # Redis runs one command at a time: a big read, acknowledgement or trim would hold up
        # every session's publish behind it, so a batch is read and acknowledged in chunks.
        self._chunk = max(1, min(read_chunk, batch))
        self._idle_seconds = idle_seconds
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._tasks = max(1, min(tasks, len(streams)))
        self._observer = observer or WriterObserver()
        self._claimed_at: dict[str, float] = {}
        self._trimmed_at: dict[str, float] = {}
        self.written = 0

    async def run(self) -> None:
        async with anyio.create_task_group() as tasks:
            for n in range(self._tasks):
                tasks.start_soon(self._follow, self._streams[n::self._tasks])

    async def _follow(self, streams: list[str]) -> None:
        """Serve these streams until cancelled; Redis going away only pauses it."""
        backoff = 0.1
        ready: set[str] = set()
        while True:
            try:
                busy = False
                for stream in streams:
                    if stream not in ready:
                        await self._ensure_group(stream)
                        ready.add(stream)
                    busy = await self.step(stream) or busy
                backoff = 0.1
                if not busy:
                    await anyio.sleep(self._idle_seconds)
            except ResponseError as err:
                if "NOGROUP" in str(err):  # Redis lost its data (restart without persistence)
                    ready.clear()
                    continue
                log.exception("trace stream writer failed; retrying")
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except (RedisError, OSError) as err:
                log.warning("trace stream writer: Redis unreachable (%s); retrying in %.1fs",
                            err, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                # Whatever it is, the node's sessions must not go down with the writer.
                log.exception("trace stream writer failed; retrying in %.1fs", backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _ensure_group(self, stream: str) -> None:
        try:
            # From the start of the stream: nothing added before the group existed is skipped.
            await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def step(self, stream: str) -> bool:
        """One round on one stream: claim what a dead writer left, else read new entries; write
        and acknowledge them; trim. True when there was anything to write."""
        now = time.monotonic()
        entries: list[Any] = []
        if now - self._claimed_at.get(stream, 0.0) >= self._claim_idle_ms / 4000:
            self._claimed_at[stream] = now
            entries = await self._claim(stream)
        if not entries:
            entries = await self._read(stream)
        if entries:
            await self._write(stream, entries)
        if entries or now - self._trimmed_at.get(stream, 0.0) >= 1.0:
            self._trimmed_at[stream] = now
            await self._trim(stream)
        return bool(entries)

    async def _read(self, stream: str) -> list[Any]:
        entries: list[Any] = []
        while len(entries) < self._batch:
            count = min(self._chunk, self._batch - len(entries))
            reply: Any = await self._redis.xreadgroup(GROUP, self._consumer, {stream: ">"},
                                                       count=count)
            chunk = reply[0][1] if reply else []
            entries += chunk
            if len(chunk) < count:
                break
        return entries

    async def _claim(self, stream: str) -> list[Any]:
        """Entries pending longer than the claim timeout (their writer died, or is stuck)."""
        reply: Any = await self._redis.xautoclaim(stream, GROUP, self._consumer,
                                                  min_idle_time=self._claim_idle_ms,
                                                  start_id="0-0", count=self._chunk)
        claimed = [entry for entry in reply[1] if entry and entry[1]]
        if claimed:
            log.warning("claimed %d trace entries a writer left pending on %s", len(claimed),
                        stream)
        return claimed

    async def _write(self, stream: str, entries: list[Any]) -> None:
        try:
            written: Written = await self._retrying(self._store.write_placed,
                                                    placed_rows(entries))
        except (*REFUSED, KeyError, msgspec.DecodeError):
            # Something in the batch is not storable as it stands (a NUL, a malformed entry):
            # decode every entry, clean it, and find the culprits by splitting.
            written = await self._write_decoded(entries)
        # Acknowledged only now that Postgres committed; a crash before this writes them again.
        for at in range(0, len(entries), self._chunk):
            await self._redis.xack(stream, GROUP,
                                   *[entry_id for entry_id, _ in entries[at:at + self._chunk]])
        self.written += written.rows
        self._observer.batch(written)

    async def _write_decoded(self, entries: list[Any]) -> Written:
        rows: list[TraceRow] = []
        for entry_id, fields in entries:
            try:
                event = decode_message(text(fields[b"s"]), fields[b"m"])
                rows.append(event_row(event))
            except (KeyError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as err:
                await self._retrying(self._store.set_aside_raw, text(fields.get(b"s", b"")), 0,
                                     f"undecodable entry {text(entry_id)}: {err}",
                                     repr(fields)[:10_000])
                self._store.on_set_aside(type(err).__name__)
        written: Written = await self._retrying(self._store.write, rows)
        return written

    async def _retrying(self, attempt: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Postgres unreachable: back off and try the same again, holding the entries pending."""
        delay = 0.2
        while True:
            try:
                return await attempt(*args)
            except TRANSIENT as err:
                if refused(err):
                    raise
                log.warning("trace write failed, retrying in %.1fs: %s", delay,
                            type(err).__name__)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _trim(self, stream: str) -> None:
        """Drop what every writer acknowledged: below the oldest pending entry, or up to the
        last one delivered when none is pending. Never an unacknowledged entry."""
        pending: Any = await self._redis.xpending(stream, GROUP)
        if pending["pending"]:
            floor = text(pending["min"])
        else:
            groups: Any = await self._redis.xinfo_groups(stream)
            mine = [g for g in groups if text(g["name"]) == GROUP]
            floor = text(mine[0]["last-delivered-id"]) if mine else "0-0"
        if floor != "0-0":
            await self._redis.xtrim(stream, minid=floor, approximate=False)
        self._observer.length(stream, int(await self._redis.xlen(stream)))
