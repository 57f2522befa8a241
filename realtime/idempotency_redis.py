"""Idempotency keys shared by all nodes: a request repeated with the same key reaches any node
after a reconnect, so the first reply is kept in Redis, under the user's own hash tag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import anyio
import orjson
from redis.exceptions import RedisError

from realtime import keys
from realtime.codes import ErrorCode, RequestError
from realtime.redis_client import RedisClient

_RUNNING = b"running"


class RedisReplyCache:
    def __init__(self, redis: RedisClient, ttl_seconds: float, claim_seconds: float = 60.0,
                 poll_seconds: float = 0.05) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl_seconds * 1000)
        # How long a claim holds while its request runs; a node that died holding one frees it.
        self._claim_ms = int(claim_seconds * 1000)
        self._poll = poll_seconds

    async def once(self, user: str, key: str,
                   act: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        name = keys.reply(user, key)
        while True:
            try:
                claimed = await self._redis.set(name, _RUNNING, nx=True, px=self._claim_ms)
                stored = None if claimed else await self._redis.get(name)
            except (RedisError, OSError) as err:
                raise RequestError(ErrorCode.UNAVAILABLE,
                                   "cannot check the idempotency key now; retry shortly") from err
            if claimed:
                return await self._first(name, act)
            if stored is not None and stored != _RUNNING:
                return _replay(stored)
            # Running elsewhere (or gone after a failure, then claim it): look again shortly.
            await anyio.sleep(self._poll)

    async def _first(self, name: str,
                     act: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        try:
            data = await act()
        except RequestError as err:
            await self._keep(name, {"error": {"code": err.code.value, "message": err.message,
                                              **err.extra}})
            raise
        except BaseException:
            # Nothing definite happened: let a retry with this key try again.
            with anyio.CancelScope(shield=True), suppress(RedisError, OSError):
                await self._redis.delete(name)  # else the claim expires by itself
            raise
        await self._keep(name, {"data": data})
        return data

    async def _keep(self, name: str, outcome: dict[str, Any]) -> None:
        try:
            await self._redis.set(name, orjson.dumps(outcome), px=self._ttl_ms)
        except (RedisError, OSError):
            # The request took effect; a repeat now may do it again: the best left to do.
            with anyio.CancelScope(shield=True), suppress(RedisError, OSError):
                await self._redis.delete(name)


def _replay(stored: bytes | str) -> dict[str, Any]:
    outcome = orjson.loads(stored)
    if "error" in outcome:
        error = dict(outcome["error"])
        code, message = ErrorCode(error.pop("code")), str(error.pop("message"))
        raise RequestError(code, message, **error)
    data: dict[str, Any] = outcome["data"]
    return data
