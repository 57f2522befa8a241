"""The admin monitor's board on Redis: two hashes (sessions, nodes) and one channel that carries
each change, already encoded as a frame, to every node."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio
import orjson
from redis.exceptions import RedisError

from realtime import keys
from realtime.bus_redis import as_unavailable
from realtime.monitor import node_frame, now_ms, remove_frame, upsert_frame
from realtime.redis_client import RedisClient

log = logging.getLogger("wingman.monitor")

# Take the session off and announce it only when this call took it off: announced once.
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class RedisBoard:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._remove = redis.register_script(_REMOVE)
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
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(key, field, orjson.dumps(value))
            pipe.publish(keys.monitor_channel(), frame)
            await pipe.execute()

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
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(keys.monitor_channel())
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message["type"] == "message":
                        self.on_frame(message["data"])
            except (RedisError, OSError) as err:
                log.warning("monitor channel lost (%s); reconnecting in %.1fs", err, backoff)
            finally:
                with anyio.CancelScope(shield=True), suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
