"""Rate limits shared by all nodes: the GCRA decision of `realtime.ratelimit` as one Lua script,
atomic in Redis and timed by the Redis server's clock, so nodes' clocks do not matter."""

from __future__ import annotations

import logging
import math
import time

import anyio
from redis.exceptions import RedisError

from realtime.ratelimit import Rate
from realtime.redis_client import RedisClient

log = logging.getLogger("wingman.ratelimit")

# KEYS[1]  the limit's key: its theoretical arrival time, µs since the epoch on Redis's clock
# ARGV[1]  the interval one request uses up, µs
# ARGV[2]  the burst: how many requests may come at once
# returns  0 when allowed (and counted), else the µs to wait; the key expires once idle
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local over = tat - now - (burst - 1) * interval
if over > 0 then return over end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 0
"""


class RedisLimiter:
    """Fails open: while Redis does not answer, requests are allowed (and that is logged), and
    Redis is left alone for `pause_seconds` so each request does not wait out a timeout."""

    def __init__(self, client: RedisClient, timeout_seconds: float = 0.25,
                 pause_seconds: float = 1.0, complain_every_seconds: float = 10.0) -> None:
        self._script = client.register_script(_GCRA)
        self._timeout = timeout_seconds
        self._pause = pause_seconds
        self._complain_every = complain_every_seconds
        self._paused_until = -math.inf
        self._complained_at = -math.inf

    async def hit(self, key: str, rate: Rate) -> int:
        if time.monotonic() < self._paused_until:
            return 0
        try:
            with anyio.fail_after(self._timeout):
                over_us = await self._script(keys=[key], args=[rate.interval_us, rate.burst])
        except (RedisError, OSError, TimeoutError) as err:
            # Fail open: a Redis outage must not take the service down, so limits pause meanwhile.
            self._paused_until = time.monotonic() + self._pause
            self._complain(err)
            return 0
        return math.ceil(int(over_us) / 1000)

    def _complain(self, err: Exception) -> None:
        now = time.monotonic()
        if now - self._complained_at >= self._complain_every:
            self._complained_at = now
            log.warning("rate limits are not enforced: Redis did not answer (%s: %s)",
                        type(err).__name__, err)
