"""The relay's frames split right however the attach stream cuts them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sandbox.container_run import RelayFrames


def frame(kind: bytes, data: bytes) -> bytes:
    return kind + len(data).to_bytes(4, "big") + data


@given(st.lists(st.tuples(st.sampled_from([b"1", b"2", b"3", b"x"]), st.binary(max_size=300))),
       st.lists(st.integers(min_value=1, max_value=64), min_size=1))
def test_frames_survive_any_cut(frames: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
    stream = b"".join(frame(kind, data) for kind, data in frames)
    parser, found, at, index = RelayFrames(), [], 0, 0
    while at < len(stream):
        size = cuts[index % len(cuts)]
        found += parser.feed(stream[at : at + size])
        at, index = at + size, index + 1
    assert found == frames
