"""A connection's send queue is bounded in bytes: a slow peer is marked for 1013, never buffered."""

from __future__ import annotations

from realtime.codes import CloseCode
from realtime.connection import Connection, Identity


def test_queue_overflow_marks_the_connection_to_close_with_1013() -> None:
    conn = Connection(Identity("u", "U", frozenset({"learner"}), 0), queue_bytes=100)
    assert conn.send(b"x" * 60)
    assert conn.send(b"y" * 40)
    assert conn.queued_bytes == 100
    assert not conn.send(b"z")
    assert conn.close_code is CloseCode.OVERLOADED
    assert conn.queued_bytes == 0
    assert not conn.send(b"more")


async def test_frames_come_out_in_order_then_none_after_close() -> None:
    conn = Connection(Identity("u", "U", frozenset(), 0), queue_bytes=1000)
    for n in range(3):
        conn.send(str(n).encode())
    assert [await conn.next_frame() for _ in range(3)] == [b"0", b"1", b"2"]
    conn.close(CloseCode.NORMAL)
    assert await conn.next_frame() is None
