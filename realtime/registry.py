"""The nodes of a cluster on Redis: each beats with its live counts; one whose beat stopped is
dead, and exactly one other node claims the work of cleaning up after it."""

from __future__ import annotations

import time
from typing import Any

import orjson

from realtime import keys
from realtime.bus_redis import as_unavailable, text
from realtime.redis_client import RedisClient

_NODES = keys.live_nodes()
_info_key = keys.node_info
_sessions_key = keys.node_sessions


class NodeRegistry:
    def __init__(self, redis: RedisClient, node_id: str, ttl_seconds: float) -> None:
        self._redis = redis
        self.node_id = node_id
        self._ttl_ms = int(ttl_seconds * 1000)

    async def beat(self, info: dict[str, Any]) -> None:
        now = _now_ms()
        async with as_unavailable():
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(_NODES, {self.node_id: now})
            pipe.set(_info_key(self.node_id), orjson.dumps({**info, "id": self.node_id,
                                                            "seen_ms": now}),
                     px=self._ttl_ms * 3)
            pipe.pexpire(_sessions_key(self.node_id), self._ttl_ms * 720)
            await pipe.execute()

    async def holds(self, sid: str) -> None:
        """Note that this node serves `sid`, so that whoever cleans up after it looks there."""
        async with as_unavailable():
            await self._redis.sadd(_sessions_key(self.node_id), sid)

    async def releases(self, sid: str) -> None:
        async with as_unavailable():
            await self._redis.srem(_sessions_key(self.node_id), sid)

    async def nodes(self) -> list[dict[str, Any]]:
        """Live nodes with what they last reported."""
        async with as_unavailable():
            alive = await self._redis.zrangebyscore(_NODES, _now_ms() - self._ttl_ms, "+inf")
            if not alive:
                return []
            infos = await self._redis.mget([_info_key(text(n)) for n in alive])
        return [orjson.loads(i) for i in infos if i is not None]

    async def dead(self) -> list[str]:
        async with as_unavailable():
            stale = await self._redis.zrangebyscore(_NODES, "-inf", _now_ms() - self._ttl_ms)
        return [text(n) for n in stale if text(n) != self.node_id]

    async def claim(self, node_id: str) -> list[str] | None:
        """The sessions a dead node served, if this node is the one to clean up after it."""
        async with as_unavailable():
            mine = await self._redis.set(keys.node_reaper(node_id), self.node_id, nx=True,
                                         px=60_000)
            if not mine:
                return None
            sids = await self._redis.smembers(_sessions_key(node_id))
        return sorted(text(s) for s in sids)

    async def forget(self, node_id: str) -> None:
        async with as_unavailable():
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrem(_NODES, node_id)
            # Two slots on a cluster: one DEL each.
            pipe.delete(_info_key(node_id))
            pipe.delete(_sessions_key(node_id))
            await pipe.execute()

    async def leave(self) -> None:
        """A clean shutdown: gone from the registry at once."""
        await self.forget(self.node_id)


def _now_ms() -> int:
    return int(time.time() * 1000)
