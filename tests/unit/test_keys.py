"""Session keys and trace streams: one hash tag per session, derived from its id alone."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from realtime.keys import session_keys, trace_shard, trace_stream, trace_stream_names

_TAG = re.compile(r"\{([^}]*)\}")


def tag(key: str) -> str:
    match = _TAG.search(key)
    assert match is not None and match.group(1)
    return match.group(1)


@given(st.uuids(), st.integers(min_value=1, max_value=1024))
def test_every_key_of_a_session_shares_its_trace_streams_tag(sid: uuid.UUID, streams: int) -> None:
    keys = session_keys(str(sid), streams)
    assert len({tag(k) for k in keys}) == 1
    assert keys.trace == trace_stream(trace_shard(str(sid), streams))
    assert keys.trace in trace_stream_names(streams)
    assert len(set(keys)) == len(keys)


@given(st.uuids(), st.integers(min_value=1, max_value=1024))
def test_the_shard_depends_on_the_id_only(sid: uuid.UUID, streams: int) -> None:
    shard = trace_shard(str(sid), streams)
    assert 0 <= shard < streams
    assert trace_shard(str(sid).upper(), streams) == shard
    assert trace_shard(sid.hex, streams) == shard


def test_sessions_spread_over_the_streams() -> None:
    counts = [0] * 16
    for _ in range(4000):
        counts[trace_shard(str(uuid.uuid4()), 16)] += 1
    assert min(counts) > 150


def test_a_malformed_id_still_gets_a_stable_shard() -> None:
    assert trace_shard("not-a-uuid!", 16) == trace_shard("not-a-uuid!", 16)
