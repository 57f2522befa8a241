"""One contract for every rate limiter backend: the in-process one and Redis (a real server)."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from realtime import keys
from realtime.ratelimit import InProcessLimiter, Rate, RateLimiter
from realtime.ratelimit_redis import RedisLimiter
from tests.components import free_port, redis_server


@pytest.fixture(params=["in-process", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "in-process":
        yield InProcessLimiter()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisLimiter(client)
    finally:
        await client.aclose()


def fresh(limit: str = "contract") -> str:
    return keys.rate(limit, uuid.uuid4().hex)


async def test_a_burst_fits_then_the_next_request_waits(limiter: RateLimiter) -> None:
    key, rate = fresh(), Rate(2, 1.0, 3)
    assert [await limiter.hit(key, rate) for _ in range(3)] == [0, 0, 0]
    wait = await limiter.hit(key, rate)
    assert 0 < wait <= 500


async def test_after_the_wait_one_more_fits(limiter: RateLimiter) -> None:
    key, rate = fresh(), Rate(5, 1.0, 1)
    assert await limiter.hit(key, rate) == 0
    wait = await limiter.hit(key, rate)
    assert 0 < wait <= 200
    await anyio.sleep(wait / 1000)
    assert await limiter.hit(key, rate) == 0
    assert await limiter.hit(key, rate) > 0


async def test_refused_requests_do_not_push_the_wait_further(limiter: RateLimiter) -> None:
    key, rate = fresh(), Rate(1, 1.0, 1)
    await limiter.hit(key, rate)
    waits = [await limiter.hit(key, rate) for _ in range(20)]
    assert all(0 < w <= 1000 for w in waits)
    assert waits == sorted(waits, reverse=True)


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    rate = Rate(1, 60.0, 1)
    first, second = fresh(), fresh()
    assert await limiter.hit(first, rate) == 0
    assert await limiter.hit(first, rate) > 0
    assert await limiter.hit(second, rate) == 0


async def test_requests_at_the_rate_keep_being_allowed(limiter: RateLimiter) -> None:
    key, rate = fresh(), Rate(20, 1.0, 2)
    for _ in range(8):
        assert await limiter.hit(key, rate) == 0
        await anyio.sleep(0.06)


async def test_an_idle_key_gets_its_whole_burst_back(limiter: RateLimiter) -> None:
    key, rate = fresh(), Rate(10, 1.0, 3)
    for _ in range(3):
        await limiter.hit(key, rate)
    assert await limiter.hit(key, rate) > 0
    await anyio.sleep(0.35)
    assert [await limiter.hit(key, rate) for _ in range(3)] == [0, 0, 0]


async def test_redis_keys_expire_once_idle(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        key, rate = fresh(), Rate(10, 1.0, 4)
        limiter = RedisLimiter(client)
        for _ in range(4):
            assert await limiter.hit(key, rate) == 0
        ttl = await client.pttl(key)
        assert 0 < ttl <= 401
        await anyio.sleep(0.45)
        assert await client.exists(key) == 0
    finally:
        await client.aclose()


async def test_redis_down_means_allowed_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        limiter = RedisLimiter(client)
        with caplog.at_level(logging.WARNING, logger="wingman.ratelimit"):
            assert [await limiter.hit(fresh(), Rate(1, 60.0, 1)) for _ in range(3)] == [0, 0, 0]
        warnings = [r for r in caplog.records if "not enforced" in r.getMessage()]
        assert len(warnings) == 1  # said once, not once per request
    finally:
        await client.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into its backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


async def test_a_redis_that_hangs_is_not_waited_for(silent_port: int) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{silent_port}/0")
    try:
        limiter = RedisLimiter(client, timeout_seconds=0.2)
        with anyio.fail_after(2):
            assert await limiter.hit(fresh(), Rate(1, 60.0, 1)) == 0
    finally:
        await client.aclose()


async def test_limits_come_back_with_redis(tmp_path: Path) -> None:
    port = free_port()
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        limiter = RedisLimiter(client, pause_seconds=0.2)
        key, rate = fresh(), Rate(1, 60.0, 1)
        assert [await limiter.hit(key, rate) for _ in range(3)] == [0, 0, 0]
        with redis_server(tmp_path, port):
            await anyio.sleep(0.25)
            assert await limiter.hit(key, rate) == 0
            assert await limiter.hit(key, rate) > 0
    finally:
        await client.aclose()
