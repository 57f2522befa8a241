"""Coalescing and capping of live output, without processes."""

from __future__ import annotations

import anyio
from anyio.abc import ByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream

from sandbox import Stream
from sandbox.output import (
    FLUSH_BYTES,
    FLUSH_SECONDS,
    QUIET_FLUSH_SECONDS,
    Coalescer,
    OutputCap,
    pump,
)
from tests.sandbox.support import Output


class Chunks(ByteReceiveStream):
    """A byte stream fed from a memory channel, one chunk per receive."""

    def __init__(self, source: MemoryObjectReceiveStream[bytes]) -> None:
        self.source = source

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.source.receive()

    async def aclose(self) -> None:
        await self.source.aclose()


async def test_multibyte_character_split_across_reads_survives() -> None:
    output = Output()
    coalescer = Coalescer(Stream.STDOUT, output)
    for piece in (b"caf", b"\xc3", b"\xa9 \xe2\x82", b"\xac", b"\xff"):
        await coalescer.add(piece)
    await coalescer.finish()
    assert output.text() == "café €\ufffd"


async def test_flushes_when_the_buffer_is_full() -> None:
    output = Output()
    coalescer = Coalescer(Stream.STDERR, output)
    await coalescer.add(b"x" * (FLUSH_BYTES - 1))
    assert output.chunks == []
    await coalescer.add(b"y")
    assert [(stream, len(text)) for _, stream, text in output.chunks] == [
        (Stream.STDERR, FLUSH_BYTES)
    ]


async def test_pump_sends_the_first_bytes_at_once_and_coalesces_the_rest() -> None:
    flushed: list[tuple[float, str]] = []
    arrived = anyio.Event()

    async def sink(stream: Stream, text: str) -> None:
        flushed.append((anyio.current_time(), text))
        if len(flushed) == 2:
            arrived.set()

    send, receive = anyio.create_memory_object_stream[bytes](10)
    async with send, receive, anyio.create_task_group() as group:
        group.start_soon(
            pump, Chunks(receive), Coalescer(Stream.STDOUT, sink), OutputCap(100, lambda: None)
        )
        started = anyio.current_time()
        await send.send(b"a")
        await send.send(b"b")
        await anyio.sleep(0.01)
        await send.send(b"c")
        await send.send(b"d")
        await arrived.wait()
        assert flushed[0][1] == "ab"
        assert QUIET_FLUSH_SECONDS <= flushed[0][0] - started < FLUSH_SECONDS
        assert flushed[1][1] == "cd"
        assert FLUSH_SECONDS <= flushed[1][0] - started < FLUSH_SECONDS + 0.05
        await send.aclose()


async def test_pump_keeps_draining_past_the_cap() -> None:
    output, exceeded = Output(), []
    send, receive = anyio.create_memory_object_stream[bytes](100)
    cap = OutputCap(10, lambda: exceeded.append(True))
    for _ in range(50):
        send.send_nowait(b"0123456")
    send.close()
    with receive:
        await pump(Chunks(receive), Coalescer(Stream.STDOUT, output), cap)
    assert output.text() == "0123456012"
    assert exceeded == [True]
    assert cap.remaining == 0
