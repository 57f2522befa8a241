"""One client connection as the session layer sees it: who it is and a send queue bounded in
bytes. Putting a frame never waits; a peer that cannot keep up is marked to close with 1013."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import anyio

from realtime.codes import CloseCode

_ids = itertools.count(1)


@dataclass
class Identity:
    user: str
    name: str
    roles: frozenset[str]
    expires_at: int


# Compared and hashed by identity: each is one socket.
@dataclass(eq=False)
class Connection:
    identity: Identity
    queue_bytes: int
    id: int = field(default_factory=lambda: next(_ids))
    joined: set[str] = field(default_factory=set)
    close_code: CloseCode | None = None
    close_reason: str = ""
    # Each frame with the `ts` of the event it carries (0 for replies), for fan-out latency.
    _frames: deque[tuple[bytes, int]] = field(default_factory=deque)
    _size: int = 0
    _wakeup: anyio.Event = field(default_factory=anyio.Event)

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def queued_bytes(self) -> int:
        return self._size

    def send(self, frame: bytes, ts: int = 0) -> bool:
        """Queue a frame; False (and the connection marked to close) when over its budget."""
        if self.close_code is not None:
            return False
        if self._size + len(frame) > self.queue_bytes:
            self.close(CloseCode.OVERLOADED, "too slow to keep up; resume from your last seq")
            return False
        self._frames.append((frame, ts))
        self._size += len(frame)
        self._wakeup.set()
        return True

    def close(self, code: CloseCode, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._frames.clear()
            self._size = 0
        self._wakeup.set()

    async def next_frame(self) -> bytes | None:
        """The next frame to write, or None once the connection is to be closed."""
        queued = await self.next_queued()
        return queued[0] if queued is not None else None

    async def next_queued(self) -> tuple[bytes, int] | None:
        """The next frame to write with the `ts` it was queued with, or None once closing."""
        while True:
            if self.close_code is not None:
                return None
            if self._frames:
                queued = self._frames.popleft()
                self._size -= len(queued[0])
                return queued
            self._wakeup = anyio.Event()
            await self._wakeup.wait()
