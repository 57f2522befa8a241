"""Presence across nodes on Redis: per session a sorted set of "user role node visible" members
scored by their node's last heartbeat, so members of a node that died age out by themselves."""

from __future__ import annotations

import time

from realtime.bus_redis import as_unavailable, text
from realtime.envelope import Role
from realtime.keys import session_keys
from realtime.redis_client import RedisClient

# KEYS: the session's presence set. ARGV: member, now ms, ttl ms, prefix ("user role "),
# lifetime ms, 'enter' or 'exit'. Returns 1 when nobody else alive holds the prefix.
_CHANGE = """
if ARGV[6] == 'enter' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2] - ARGV[3], '+inf')
for _, member in ipairs(alive) do
  if member ~= ARGV[1] and string.sub(member, 1, #ARGV[4]) == ARGV[4] then return 0 end
end
return 1
"""

# KEYS: the session's presence set. ARGV: node id, now ms, ttl ms. Removes the node's members;
# returns the visible "user role" pairs nobody alive holds any more.
_DROP_NODE = """
local gone = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local user, role, node, visible = string.match(member, '^(%S+) (%S+) (%S+) (%S+)$')
  if node == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    if visible == '1' then table.insert(gone, user .. ' ' .. role) end
  end
end
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2] - ARGV[3], '+inf')
local left = {}
for _, pair in ipairs(gone) do
  local held = false
  for _, member in ipairs(alive) do
    if string.sub(member, 1, #pair + 1) == pair .. ' ' then held = true end
  end
  if not held then table.insert(left, pair) end
end
return left
"""


class RedisPresence:
    def __init__(self, redis: RedisClient, node_id: str, ttl_seconds: float,
                 lifetime_seconds: float, trace_streams: int = 16) -> None:
        self._redis = redis
        self._streams = trace_streams
        self._node = node_id
        self._ttl_ms = int(ttl_seconds * 1000)
        self._lifetime_ms = int(lifetime_seconds * 1000)
        self._change = redis.register_script(_CHANGE)
        self._drop = redis.register_script(_DROP_NODE)
        self._mine: dict[tuple[str, str, Role], str] = {}

    async def enter(self, sid: str, user: str, role: Role, visible: bool) -> bool:
        member = f"{user} {role.value} {self._node} {'1' if visible else '0'}"
        self._mine[(sid, user, role)] = member
        return await self._apply(sid, member, user, role, "enter")

    async def exit(self, sid: str, user: str, role: Role) -> bool:
        member = self._mine.pop((sid, user, role), None)
        if member is None:
            return False
        return await self._apply(sid, member, user, role, "exit")

    async def _apply(self, sid: str, member: str, user: str, role: Role, op: str) -> bool:
        async with as_unavailable():
            result = await self._change(keys=[self._key(sid)], args=[
                member, _now_ms(), self._ttl_ms, f"{user} {role.value} ", self._lifetime_ms, op])
        return bool(result)

    async def observers(self, sid: str) -> set[str]:
        async with as_unavailable():
            alive = await self._redis.zrangebyscore(self._key(sid), _now_ms() - self._ttl_ms,
                                                    "+inf")
        users = set()
        for member in alive:
            user, role, _, _ = text(member).split(" ")
            if role in (Role.OBSERVER.value, Role.ADMIN.value):
                users.add(user)
        return users

    async def heartbeat(self) -> None:
        """Keep this node's members alive; a node that stops beating ages out of every session."""
        if not self._mine:
            return
        now = _now_ms()
        async with as_unavailable():
            pipe = self._redis.pipeline(transaction=False)
            for (sid, _, _), member in self._mine.items():
                pipe.zadd(self._key(sid), {member: now}, xx=True)
            await pipe.execute()

    async def drop_node(self, sid: str, node_id: str) -> list[tuple[str, Role]]:
        """Remove a dead node's members; the (user, role) pairs now gone from the session."""
        async with as_unavailable():
            left = await self._drop(keys=[self._key(sid)], args=[node_id, _now_ms(), self._ttl_ms])
        pairs = []
        for pair in left:
            user, role = text(pair).split(" ")
            pairs.append((user, Role(role)))
        return pairs


    def _key(self, sid: str) -> str:
        return session_keys(sid, self._streams).presence


def _now_ms() -> int:
    return int(time.time() * 1000)
