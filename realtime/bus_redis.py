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
from anyio.abc import TaskGroup
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
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
from realtime.redis_client import RedisClient, shard_client

log = logging.getLogger("wingman.bus")

# KEYS: state hash, history stream, channel, trace stream. ARGV: draft, expected dseq or '',
# decisive flag, history length, key lifetime ms, sid, trace stream bound, then field/value pairs
# the event changes in the state hash. A kept session's event also goes to its trace stream, in
# the same step; a trace stream at its bound refuses the event (-4) rather than lose one.
# PUBLISH on one Redis, SPUBLISH (to the master of the session's slot) on a cluster.
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
redis.call('PUBLISH_COMMAND', KEYS[3], message)
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

    def __init__(self, redis: RedisClient, node_id: str, history_events: int,
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
        self._publish = redis.register_script(_PUBLISH.replace(
            "PUBLISH_COMMAND", "SPUBLISH" if isinstance(redis, RedisCluster) else "PUBLISH"))
        self._start = redis.register_script(_START)
        # Set by the node: messages on its control channel, and what to do after a reconnect.
        self.on_control: Callable[[bytes], None] = lambda message: None
        self.on_resubscribed: Callable[[], Awaitable[None]] = _nothing
        self._control = control_channel(node_id)
        self._deliver: dict[str, tuple[str, Deliver]] = {}  # channel -> (sid, deliver)
        self._confirmed: dict[str, anyio.Event] = {}
        self._feed: _Feed | None = None
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
        feed = self._feed
        if feed is None:
            raise Unavailable("the event bus is reconnecting; retry shortly")
        confirmed = self._confirmed[channel] = anyio.Event()
        async with as_unavailable():
            await feed.add([channel])
            with anyio.fail_after(5):
                await confirmed.wait()
        if self._feed is not feed or feed.failed:
            raise Unavailable("the event bus connection dropped; retry shortly")

    async def unsubscribe(self, sid: str) -> None:
        channel = self._keys(sid).channel
        self._deliver.pop(channel, None)
        self._confirmed.pop(channel, None)
        if self._feed is not None:
            try:
                await self._feed.remove(channel)
            except (RedisError, OSError) as err:
                log.info("unsubscribe from %s failed: %s", sid, err)

    async def send_control(self, node_id: str, message: bytes) -> None:
        """A message for one node (cancel a run it owns, say)."""
        async with as_unavailable():
            if isinstance(self._redis, RedisCluster):
                await self._redis.spublish(control_channel(node_id), message)
            else:
                await self._redis.publish(control_channel(node_id), message)

    async def run(self) -> None:
        """Hold the node's subscriptions; reconnect with backoff whenever one drops (on a cluster,
        also when a shard's slots moved: a failover or resharding), then refill every session."""
        backoff = 0.1
        first = True
        while True:
            try:
                async with self._subscription() as feed:
                    backoff = 0.1
                    if not first:
                        await self.on_resubscribed()
                    first = False
                    await feed.broken()
            except* (RedisError, OSError, Unavailable) as group:
                # A resync that could not finish counts as a failed reconnect: try it all again.
                log.warning("event bus connection lost (%s); reconnecting in %.1fs",
                            group.exceptions[0], backoff)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    @asynccontextmanager
    async def _subscription(self) -> AsyncIterator[_Feed]:
        feed: _Feed | None = None
        try:
            async with anyio.create_task_group() as tasks:
                if isinstance(self._redis, RedisCluster):
                    # Where each slot lives now: after a failover the old master is gone.
                    await self._redis.initialize()
                    await self._redis.nodes_manager.initialize()
                    feed = _ShardFeed(self._redis, tasks, self._on_message, self._wanted)
                else:
                    feed = _PlainFeed(self._redis, tasks, self._on_message, self._wanted)
                try:
                    channels = [self._control, *self._deliver]
                    pending = [anyio.Event() for _ in channels]
                    self._confirmed.update(zip(channels, pending, strict=True))
                    await feed.add(channels)
                    # Every channel confirmed before anyone relies on it (joins read history
                    # after).
                    with anyio.fail_after(10):
                        for confirmed in pending:
                            await confirmed.wait()
                    feed.check()
                    self._feed = feed
                    self.connected.set()
                    yield feed
                finally:
                    self._feed = None
                    self.connected = anyio.Event()
                    for event in self._confirmed.values():
                        event.set()  # waiters re-check, and fail as unavailable
                    tasks.cancel_scope.cancel()
        finally:
            # Closed once its readers are gone: closing under a reader racing to reconnect
            # breaks inside redis-py.
            if feed is not None:
                with anyio.CancelScope(shield=True):
                    await feed.aclose()

    def _wanted(self, channel: str) -> bool:
        return channel == self._control or channel in self._deliver

    def _on_message(self, kind: str, channel: str, payload: bytes) -> None:
        if kind == "failed":
            for event in self._confirmed.values():
                event.set()  # waiters re-check, and fail as unavailable
        elif kind == "subscribe":
            confirmed = self._confirmed.pop(channel, None)
            if confirmed is not None:
                confirmed.set()
        elif channel == self._control:
            self.on_control(payload)
        else:
            target = self._deliver.get(channel)
            if target is not None:
                self._dispatch(target, payload)

    def _dispatch(self, target: tuple[str, Deliver], payload: bytes) -> None:
        sid, deliver = target
        try:
            event = decode_message(sid, payload)
        except (ValueError, msgspec.DecodeError):
            log.exception("undecodable event on %s", sid)
            return
        deliver(event)


OnMessage = Callable[[str, str, bytes], None]


class SlotMoved(ConnectionError):
    """Redis ended a sharded subscription we hold: its slot moved to another master."""


class _Feed:
    """The node's subscription connections and the tasks reading them; `broken` returns (raising)
    once any of them failed, and then the whole feed is rebuilt."""

    # Message types of classic pub/sub; the sharded feed reads the S-prefixed ones. One Redis
    # never ends a subscription by itself; a cluster does when the channel's slot moves.
    kinds: tuple[str, str, str | None] = ("subscribe", "message", None)

    def __init__(self, tasks: TaskGroup, on_message: OnMessage,
                 wanted: Callable[[str], bool]) -> None:
        self._tasks = tasks
        self._on_message = on_message
        self._wanted = wanted
        self._failed = anyio.Event()
        self._error: Exception | None = None

    async def add(self, channels: list[str]) -> None: ...

    async def remove(self, channel: str) -> None: ...

    async def aclose(self) -> None: ...

    async def broken(self) -> None:
        await self._failed.wait()
        self.check()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    async def _read(self, pubsub: PubSub) -> None:
        confirm, deliver, ended = self.kinds
        try:
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None or message["channel"] is None:
                    continue
                kind = message["type"]
                channel = message["channel"].decode()
                if kind == deliver:
                    self._on_message("message", channel, message["data"])
                elif kind == confirm:
                    self._on_message("subscribe", channel, b"")
                elif ended is not None and kind == ended and self._wanted(channel):
                    raise SlotMoved(f"Redis ended the subscription to {channel}")
        except (RedisError, OSError) as err:
            self._fail(err)
        except Exception as err:
            # redis-py can fail oddly while a connection breaks; any failure rebuilds the feed.
            log.exception("event bus reader failed")
            self._fail(ConnectionError(f"reader failed: {err!r}"))

    def _fail(self, err: Exception) -> None:
        if self._error is None:
            self._error = err
        self._failed.set()
        self._on_message("failed", "", b"")  # whoever waits for a confirmation stops waiting

    @property
    def failed(self) -> bool:
        return self._error is not None


class _PlainFeed(_Feed):
    """One Redis: one connection holds every channel."""

    def __init__(self, redis: Redis, tasks: TaskGroup, on_message: OnMessage,
                 wanted: Callable[[str], bool]) -> None:
        super().__init__(tasks, on_message, wanted)
        self._pubsub = redis.pubsub()
        self._reading = False

    async def add(self, channels: list[str]) -> None:
        await self._pubsub.subscribe(*channels)
        if not self._reading:  # its connection exists once it subscribed to something
            self._reading = True
            self._tasks.start_soon(self._read, self._pubsub)

    async def remove(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def aclose(self) -> None:
        with suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class _ShardFeed(_Feed):
    """A Redis Cluster: per master owning any of the node's channels, one plain connection holding
    them with SSUBSCRIBE, read by its own task, so a quiet shard never delays a busy one."""

    kinds = ("ssubscribe", "smessage", "sunsubscribe")

    def __init__(self, cluster: RedisCluster, tasks: TaskGroup, on_message: OnMessage,
                 wanted: Callable[[str], bool]) -> None:
        super().__init__(tasks, on_message, wanted)
        self._cluster = cluster
        self._shards: dict[str, tuple[Redis, PubSub]] = {}  # master's name -> its connection
        self._adding = anyio.Lock()

    async def add(self, channels: list[str]) -> None:
        # One at a time: a shard's connection is made by its first SSUBSCRIBE, and a second
        # one sent meanwhile would open another.
        async with self._adding:
            try:
                await self._add(channels)
            except (RedisError, OSError) as err:
                self._fail(err)  # a shard connection half made, or a slot moved: rebuild
                raise

    async def _add(self, channels: list[str]) -> None:
        # SSUBSCRIBE takes several channels only within one slot.
        by_slot: dict[tuple[str, int], list[str]] = {}
        for channel in channels:
            by_slot.setdefault((self._master(channel), self._cluster.keyslot(channel)),
                               []).append(channel)
        for (name, _), group in by_slot.items():
            shard = self._shards.get(name)
            if shard is None:
                node = self._cluster.get_node(node_name=name)
                if node is None:
                    raise SlotMoved(f"the master {name} left the cluster")
                client = shard_client(node)
                shard = self._shards[name] = (client, client.pubsub())
                await shard[1].ssubscribe(*group)
                self._tasks.start_soon(self._read, shard[1])
            else:
                await shard[1].ssubscribe(*group)

    async def remove(self, channel: str) -> None:
        shard = self._shards.get(self._master(channel))
        if shard is not None:
            await shard[1].sunsubscribe(channel)

    def _master(self, channel: str) -> str:
        node = self._cluster.get_node_from_key(channel)
        if node is None:
            raise SlotMoved(f"no master serves {channel} now")
        return node.name

    async def aclose(self) -> None:
        for client, pubsub in self._shards.values():
            with suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
        self._shards.clear()


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
