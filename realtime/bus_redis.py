"""The event bus on Redis: one Lua script places each event (seq, time, history, publish) so every
node sees one order; each node holds one subscription connection for the sessions it serves."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from realtime.bus import (
    Deliver,
    Ended,
    Lost,
    Owners,
    Position,
    SessionMeta,
    Stale,
    Unavailable,
    claims,
    events_after,
)
from realtime.envelope import DECISIVE, Draft, Event
from realtime.keys import SessionKeys, control_channel, session_keys

log = logging.getLogger("wingman.bus")

# KEYS: state hash, history stream, channel, trace stream. ARGV: draft, expected dseq or '',
# decisive flag, history length, key lifetime ms, sid, trace stream bound, then field/value pairs
# the event changes in the state hash. A kept session's event also goes to its trace stream, in
# the same step; a trace stream at its bound refuses the event (-4) rather than lose one.
# Refuses a missing counter (-1): after Redis lost its data a node re-seeds it under a new epoch.
_PUBLISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local state = redis.call('HMGET', KEYS[1], 'seq', 'dseq', 'epoch', 'ended', 'keep')
if state[4] == '1' then return {-3} end
if ARGV[2] ~= '' and state[2] ~= ARGV[2] then
  return {-2, tonumber(state[1]), tonumber(state[2])}
end
-- A bound of 0: the trace stream is not in use (traces go to the node's own writer).
local kept = state[5] == '1' and ARGV[7] ~= '0'
if kept and redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[7]) then return {-4} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local t = redis.call('TIME')
local ts = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'dseq', seq) end
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local message = state[3] .. ' ' .. seq .. ' ' .. ts .. ' ' .. ARGV[1]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], seq .. '-1', 'm', message)
if kept then redis.call('XADD', KEYS[4], '*', 's', ARGV[6], 'm', message) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', KEYS[3], message)
return {seq, ts, tonumber(state[3])}
"""

# KEYS: state hash, history stream. ARGV: epoch, seq, dseq, lifetime ms, learner, question, keep,
# only-if-missing flag, question version. Returns the position in force afterwards.
_START = """
if ARGV[8] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'dseq')
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', ARGV[2], 'dseq', ARGV[3], 'base', ARGV[2],
           'learner', ARGV[5], 'question', ARGV[6], 'keep', ARGV[7], 'ended', '0',
           'version', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {ARGV[1], ARGV[2], ARGV[3]}
"""

_draft_decoder = msgspec.json.Decoder(Draft)


def text(value: object) -> str:
    """A Redis reply value as text (replies come as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_message(sid: str, payload: bytes) -> Event:
    epoch, seq, ts, body = payload.split(b" ", 3)
    draft = _draft_decoder.decode(body)
    return draft.placed(int(epoch), int(seq), int(ts))


class RedisBus:
    shared = True

    def __init__(self, redis: Redis, node_id: str, history_events: int,
                 lifetime_seconds: float, trace_streams: int = 16,
                 trace_stream_bound: int = 0) -> None:
        self.node_id = node_id
        self._redis = redis
        self._streams = trace_streams
        self._trace_bound = trace_stream_bound
        # Set by the node: told whenever a trace stream at its bound refused an event.
        self.on_trace_full: Callable[[str], None] = lambda sid: None
        self._history_events = history_events
        self._lifetime_ms = int(lifetime_seconds * 1000)
        self._publish = redis.register_script(_PUBLISH)
        self._start = redis.register_script(_START)
        # Set by the node: messages on its control channel, and what to do after a reconnect.
        self.on_control: Callable[[bytes], None] = lambda message: None
        self.on_resubscribed: Callable[[], Awaitable[None]] = _nothing
        self._control = control_channel(node_id)
        self._deliver: dict[str, tuple[str, Deliver]] = {}  # channel -> (sid, deliver)
        self._confirmed: dict[str, anyio.Event] = {}
        self._pubsub: PubSub | None = None
        self.connected = anyio.Event()

    def _keys(self, sid: str) -> SessionKeys:
        return session_keys(sid, self._streams)

    # Placing events

    async def create(self, sid: str, meta: SessionMeta) -> Position:
        return await self._begin(sid, meta, _new_epoch(), 0, 0, only_if_missing=False)

    async def seed(self, sid: str, meta: SessionMeta, above_seq: int, dseq: int) -> Position:
        return await self._begin(sid, meta, _new_epoch(), above_seq, dseq, only_if_missing=True)

    async def _begin(self, sid: str, meta: SessionMeta, epoch: int, seq: int, dseq: int,
                     only_if_missing: bool) -> Position:
        keys = self._keys(sid)
        async with as_unavailable():
            result = await self._start(keys=[keys.state, keys.history], args=[
                epoch, seq, dseq, self._lifetime_ms, meta.learner, meta.question_id,
                "1" if meta.keep else "0", "1" if only_if_missing else "0",
                meta.question_version])
        return Position(int(result[0]), int(result[1]), int(result[2] or 0))

    async def publish(self, draft: Draft, expect: int | None = None) -> Event:
        body = msgspec.json.encode(draft)
        args: list[Any] = [body, "" if expect is None else str(expect),
                           "1" if draft.kind in DECISIVE else "0", self._history_events,
                           self._lifetime_ms, draft.sid, self._trace_bound]
        for name, value in claims(draft, self.node_id).items():
            args += [name, value]
        keys = self._keys(draft.sid)
        async with as_unavailable():
            result = await self._publish(
                keys=[keys.state, keys.history, keys.channel, keys.trace], args=args)
        match result[0]:
            case -1:
                raise Lost(draft.sid)
            case -2:
                raise Stale(int(result[1]), int(result[2]))
            case -3:
                raise Ended(draft.sid)
            case -4:
                self.on_trace_full(draft.sid)
                raise Unavailable("the trace store is behind; retry shortly")
        return draft.placed(int(result[2]), int(result[0]), int(result[1]))

    # Reading

    async def history(self, sid: str, epoch: int, after_seq: int) -> list[Event] | None:
        position = await self.position(sid)
        if position is None or position.epoch != epoch:
            return None
        events = await self.events_since(sid, after_seq)
        return events_after([e for e in events if e.epoch == epoch], position, after_seq)

    async def events_since(self, sid: str, after_seq: int) -> list[Event]:
        """What the history stream still holds after `after_seq`, across epochs."""
        async with as_unavailable():
            entries: Any = await self._redis.xrange(self._keys(sid).history,
                                                    min=f"{after_seq + 1}-0")
        return [decode_message(sid, fields[b"m"]) for _, fields in entries]

    async def position(self, sid: str) -> Position | None:
        async with as_unavailable():
            epoch, seq, dseq = await self._redis.hmget(self._keys(sid).state,
                                                       ["epoch", "seq", "dseq"])
        if epoch is None:
            return None
        return Position(int(text(epoch)), int(text(seq)), int(text(dseq or 0)))

    async def meta(self, sid: str) -> SessionMeta | None:
        async with as_unavailable():
            learner, question, keep, version = await self._redis.hmget(
                self._keys(sid).state, ["learner", "question", "keep", "version"])
        if learner is None:
            return None
        return SessionMeta(text(learner), text(question), keep == b"1",
                           int(text(version or b"0")))

    async def owners(self, sid: str) -> Owners:
        async with as_unavailable():
            values = await self._redis.hmget(self._keys(sid).state,
                                             ["run", "run_node", "turn", "turn_node"])
        return Owners(*[text(v or b"") for v in values])

    async def save_snapshot(self, sid: str, seq: int, blob: bytes) -> None:
        async with as_unavailable():
            await self._redis.set(self._keys(sid).snapshot, b"%d " % seq + blob,
                                  px=self._lifetime_ms)

    async def snapshot(self, sid: str) -> tuple[int, bytes] | None:
        async with as_unavailable():
            value: Any = await self._redis.get(self._keys(sid).snapshot)
        if value is None:
            return None
        seq, blob = value.split(b" ", 1)
        return int(seq), blob

    # Subscriptions

    async def subscribe(self, sid: str, deliver: Deliver) -> None:
        channel = self._keys(sid).channel
        self._deliver[channel] = (sid, deliver)
        pubsub = self._pubsub
        if pubsub is None:
            raise Unavailable("the event bus is reconnecting; retry shortly")
        confirmed = self._confirmed[channel] = anyio.Event()
        async with as_unavailable():
            await pubsub.subscribe(channel)
            with anyio.fail_after(5):
                await confirmed.wait()
        if self._pubsub is not pubsub:
            raise Unavailable("the event bus connection dropped; retry shortly")

    async def unsubscribe(self, sid: str) -> None:
        channel = self._keys(sid).channel
        self._deliver.pop(channel, None)
        self._confirmed.pop(channel, None)
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError) as err:
                log.info("unsubscribe from %s failed: %s", sid, err)

    async def send_control(self, node_id: str, message: bytes) -> None:
        """A message for one node (cancel a run it owns, say)."""
        async with as_unavailable():
            await self._redis.publish(control_channel(node_id), message)

    async def run(self) -> None:
        """Hold the node's subscription connection; reconnect with backoff whenever it drops."""
        backoff = 0.1
        first = True
        while True:
            try:
                async with self._subscription() as pubsub:
                    backoff = 0.1
                    if not first:
                        await self.on_resubscribed()
                    first = False
                    await self._listen(pubsub)
            except (RedisError, OSError, Unavailable) as err:
                # A resync that could not finish counts as a failed reconnect: try it all again.
                log.warning("event bus connection lost (%s); reconnecting in %.1fs", err, backoff)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    @asynccontextmanager
    async def _subscription(self) -> AsyncIterator[PubSub]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._control, *self._deliver)
            # Every channel confirmed before anyone relies on it (joins read history after).
            wanted = 1 + len(self._deliver)
            with anyio.fail_after(10):
                while wanted:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "subscribe":
                        wanted -= 1
            self._pubsub = pubsub
            self.connected.set()
            yield pubsub
        finally:
            self._pubsub = None
            self.connected = anyio.Event()
            for event in self._confirmed.values():
                event.set()  # waiters re-check, and fail as unavailable
            with anyio.CancelScope(shield=True):
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"].decode()
            if kind == "message":
                if channel == self._control:
                    self.on_control(message["data"])
                    continue
                target = self._deliver.get(channel)
                if target is not None:
                    self._dispatch(target, message["data"])
            elif kind == "subscribe":
                confirmed = self._confirmed.pop(channel, None)
                if confirmed is not None:
                    confirmed.set()

    def _dispatch(self, target: tuple[str, Deliver], payload: bytes) -> None:
        sid, deliver = target
        try:
            event = decode_message(sid, payload)
        except (ValueError, msgspec.DecodeError):
            log.exception("undecodable event on %s", sid)
            return
        deliver(event)


@asynccontextmanager
async def as_unavailable() -> AsyncIterator[None]:
    try:
        yield
    except ResponseError:
        raise
    except (RedisError, OSError, TimeoutError) as err:
        raise Unavailable("the event bus (Redis) is unreachable; retry shortly") from err


async def _nothing() -> None:
    return None


def _new_epoch() -> int:
    return int(time.time() * 1000)
