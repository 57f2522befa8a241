"""Live output: incremental UTF-8 decoding, coalescing into chunks, and a shared byte cap."""

from __future__ import annotations

import codecs
import math
from collections.abc import Callable

import anyio
from anyio.abc import ByteReceiveStream

from sandbox.api import OutputSink, Stream

FLUSH_BYTES = 4096
FLUSH_SECONDS = 0.025
# After a quiet spell, wait only this long: enough to join `print`'s text and its newline.
QUIET_FLUSH_SECONDS = 0.002
READ_BYTES = 65536


class OutputCap:
    """A byte budget shared by several streams; calls on_exceeded once when it runs out."""

    def __init__(self, limit: int, on_exceeded: Callable[[], None]) -> None:
        self.remaining = limit
        self.exceeded = False
        self._on_exceeded = on_exceeded

    def admit(self, data: bytes) -> bytes:
        """Returns the part of data that still fits."""
        if len(data) <= self.remaining:
            self.remaining -= len(data)
            return data
        kept, self.remaining = data[: self.remaining], 0
        if not self.exceeded:
            self.exceeded = True
            self._on_exceeded()
        return kept


class Coalescer:
    """Buffers one stream's text; flushes at FLUSH_BYTES or FLUSH_SECONDS after the first byte.
    Bytes arriving after a quiet spell go out almost at once, so a run's first output is not
    held."""

    def __init__(self, stream: Stream, sink: OutputSink) -> None:
        self.stream = stream
        self._sink = sink
        # per stream, so a multibyte character split across reads survives
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0
        self.deadline = math.inf
        self._last_flush = -math.inf

    async def add(self, data: bytes) -> None:
        if not data:
            return
        now = anyio.current_time()
        if self._size == 0:
            quiet = now - self._last_flush >= FLUSH_SECONDS
            self.deadline = now + (QUIET_FLUSH_SECONDS if quiet else FLUSH_SECONDS)
        self._parts.append(self._decoder.decode(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        text = "".join(self._parts)
        self._parts, self._size, self.deadline = [], 0, math.inf
        if text:
            self._last_flush = anyio.current_time()
            await self._sink(self.stream, text)

    async def finish(self) -> None:
        self._parts.append(self._decoder.decode(b"", final=True))
        await self.flush()


async def pump(source: ByteReceiveStream, out: Coalescer, cap: OutputCap) -> None:
    """Copies source to out until EOF; keeps draining past the cap so the writer never blocks."""
    while True:
        data = b""
        with anyio.CancelScope(deadline=out.deadline):
            try:
                data = await source.receive(READ_BYTES)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
        if data:
            await out.add(cap.admit(data))
        else:
            await out.flush()
    await out.finish()
