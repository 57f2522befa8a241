"""The admin monitor's board on Redis: two hashes (sessions, nodes) and one channel that carries
each change, already encoded as a frame, to every node."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio
import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from realtime import keys
from realtime.bus_redis import as_unavailable
from realtime.monitor import node_frame, now_ms, remove_frame, upsert_frame
from realtime.redis_client import RedisClient, shard_client

log = logging.getLogger("wingman.monitor")

# Take the session off and announce it only when this call took it off: announced once.
# PUBLISH on one Redis, SPUBLISH on a cluster (the channel shares the board's slot).
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH_COMMAND', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# Put an entry on the board and announce it in one step (a cluster pipeline cannot publish).
_PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH_COMMAND', KEYS[2], ARGV[3])
return 1
"""


class RedisBoard:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        command = "SPUBLISH" if isinstance(redis, RedisCluster) else "PUBLISH"
        self._remove = redis.register_script(_REMOVE.replace("PUBLISH_COMMAND", command))
        self._put_script = redis.register_script(_PUT.replace("PUBLISH_COMMAND", command))
        self.on_frame: Callable[[bytes], None] = lambda frame: None

    async def put_session(self, summary: dict[str, Any]) -> None:
        await self._put(keys.monitor_sessions(), summary["sid"], summary, upsert_frame(summary))

    async def remove_session(self, sid: str) -> None:
        async with as_unavailable():
            await self._remove(keys=[keys.monitor_sessions(), keys.monitor_channel()],
                               args=[sid, remove_frame(sid)])

    async def put_node(self, info: dict[str, Any]) -> None:
        await self._put(keys.monitor_nodes(), info["id"], info, node_frame(info))

    async def _put(self, key: str, field: str, value: dict[str, Any], frame: bytes) -> None:
        async with as_unavailable():
            await self._put_script(keys=[key, keys.monitor_channel()],
                                   args=[field, orjson.dumps(value), frame])

    async def sessions(self) -> list[dict[str, Any]]:
        async with as_unavailable():
            found = await self._redis.hgetall(keys.monitor_sessions())
        return [orjson.loads(v) for v in found.values()]

    async def some_sessions(self, sids: list[str]) -> dict[str, dict[str, Any]]:
        if not sids:
            return {}
        async with as_unavailable():
            found = await self._redis.hmget(keys.monitor_sessions(), sids)
        return {sid: orjson.loads(v) for sid, v in zip(sids, found, strict=True) if v}

    async def nodes(self, alive_ms: int) -> list[dict[str, Any]]:
        async with as_unavailable():
            found = await self._redis.hgetall(keys.monitor_nodes())
        since = now_ms() - alive_ms
        infos = [orjson.loads(v) for v in found.values()]
        return [n for n in infos if n.get("seen_ms", 0) >= since]

    async def run(self) -> None:
        """Hold a subscription to the monitor channel; reconnect with backoff when it drops."""
        backoff = 0.1
        while True:
            client: Redis | None = None
            pubsub: PubSub | None = None
            try:
                channel = keys.monitor_channel()
                if isinstance(self._redis, RedisCluster):
                    # Sharded: held on the master of the board's slot, found afresh each time.
                    await self._redis.initialize()
                    await self._redis.nodes_manager.initialize()
                    node = self._redis.get_node_from_key(channel)
                    if node is None:
                        raise OSError(f"no master serves {channel} now")
                    client = shard_client(node)
                    pubsub = client.pubsub()
                    await pubsub.ssubscribe(channel)
                    delivered = "smessage"
                else:
                    pubsub = self._redis.pubsub()
                    await pubsub.subscribe(channel)
                    delivered = "message"
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == delivered:
                        self.on_frame(message["data"])
                    elif message["type"] == "sunsubscribe":
                        raise OSError("the board's slot moved")
            except (RedisError, OSError) as err:
                log.warning("monitor channel lost (%s); reconnecting in %.1fs", err, backoff)
            finally:
                with anyio.CancelScope(shield=True), suppress(RedisError, OSError):
                    if pubsub is not None:
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                    if client is not None:
                        await client.aclose()
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
