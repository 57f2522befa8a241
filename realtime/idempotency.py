"""Idempotency keys: a request repeated with the same key gets the first reply and does nothing
twice, for a while."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from realtime.codes import RequestError


class Replies(Protocol):
    async def once(self, user: str, key: str,
                   act: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """The first reply to `key` from `user`; `act` runs only for the first request."""
        ...


@dataclass
class _Entry:
    done: anyio.Event = field(default_factory=anyio.Event)
    data: dict[str, Any] | None = None
    error: RequestError | None = None
    at: float = field(default_factory=time.monotonic)


class ReplyCache:
    def __init__(self, ttl_seconds: float, capacity: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    async def once(self, user: str, key: str,
                   act: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        self._expire()
        slot = (user, key)
        entry = self._entries.get(slot)
        if entry is not None:
            await entry.done.wait()
            if entry.error is not None:
                raise entry.error
            return entry.data or {}
        entry = self._entries[slot] = _Entry()
        try:
            entry.data = await act()
            return entry.data
        except RequestError as err:
            entry.error = err
            raise
        except BaseException:
            # Nothing definite happened: let a retry with this key try again.
            self._entries.pop(slot, None)
            raise
        finally:
            entry.done.set()

    def _expire(self) -> None:
        now = time.monotonic()
        while self._entries:
            entry = next(iter(self._entries.values()))
            if now - entry.at < self._ttl and len(self._entries) <= self._capacity:
                break
            if not entry.done.is_set():
                break
            self._entries.popitem(last=False)
