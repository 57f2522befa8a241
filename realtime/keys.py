"""Every Redis key name the server uses, in one place; all under one prefix, so a Redis shared
with other applications stays readable.

A session's keys carry the hash tag of the trace stream the session belongs to, derived from its
id (no lookup): on a Redis Cluster they all live in one slot, so one script can place an event,
keep it in the session's history, publish it and append it to the trace stream atomically."""

from __future__ import annotations

import zlib
from typing import NamedTuple

PREFIX = "wingman"


def rate(limit: str, subject: str) -> str:
    """A rate limit's state for one subject (a user id, an address, a hashed email)."""
    return f"{PREFIX}:rate:{limit}:{subject}"


def trace_shard(sid: str, streams: int) -> int:
    """Which of the `streams` trace streams a session belongs to: its id's random tail."""
    digits = sid.replace("-", "")[-8:]
    try:
        value = int(digits, 16)
    except ValueError:  # not a UUID: still spread evenly, still stable
        value = zlib.crc32(sid.encode())
    return value % max(streams, 1)


def trace_tag(shard: int) -> str:
    """The hash tag shared by one trace stream and every key of its sessions."""
    return f"{{t{shard}}}"


def trace_stream(shard: int) -> str:
    return f"{PREFIX}:{trace_tag(shard)}:trace"


def trace_stream_names(streams: int) -> list[str]:
    return [trace_stream(shard) for shard in range(max(streams, 1))]


class SessionKeys(NamedTuple):
    state: str  # hash: epoch, seq, dseq, meta, owners
    history: str  # stream of recent events, entry id = seq
    channel: str  # pub/sub channel of live events
    snapshot: str  # the folded state as of some seq
    presence: str  # sorted set of who is in the session
    trace: str  # the trace stream the session's kept events go to


def session_keys(sid: str, streams: int) -> SessionKeys:
    shard = trace_shard(sid, streams)
    base = f"{PREFIX}:{trace_tag(shard)}:s:{sid}"
    return SessionKeys(base, f"{base}:h", f"{base}:c", f"{base}:snap", f"{base}:p",
                       trace_stream(shard))


# Keys that are not per session, laid out for a Redis Cluster so that nothing needs a cross-slot
# operation: what all nodes read together (the list of live nodes and what each reported) shares
# one hash tag; what belongs to one node (the sessions it serves, its control channel, the lock on
# cleaning up after it) carries that node's own tag, spreading nodes over the shards; rate limits
# carry no tag, each a single-key script, so they spread over every slot.
NODES_TAG = "{nodes}"


def live_nodes() -> str:
    """Sorted set of node ids scored by their last beat."""
    return f"{PREFIX}:{NODES_TAG}:live"


def node_info(node_id: str) -> str:
    """What a node last reported (connections, sessions, runs)."""
    return f"{PREFIX}:{NODES_TAG}:info:{node_id}"


def node_tag(node_id: str) -> str:
    return f"{{node:{node_id}}}"


def node_sessions(node_id: str) -> str:
    """The sessions a node serves, for whoever cleans up after it."""
    return f"{PREFIX}:{node_tag(node_id)}:sids"


def node_reaper(node_id: str) -> str:
    """Held by the one node cleaning up after a dead one."""
    return f"{PREFIX}:{node_tag(node_id)}:reap"


def control_channel(node_id: str) -> str:
    """Messages for one node (cancel a run it owns, say); sharded on a cluster."""
    return f"{PREFIX}:{node_tag(node_id)}:ctl"


# The live monitor's keys share one hash tag of their own, so they sit in one cluster slot.
def monitor_sessions() -> str:
    """Hash: session id -> the session's latest summary (JSON)."""
    return f"{PREFIX}:{{monitor}}:sessions"


def monitor_nodes() -> str:
    """Hash: node id -> the node's latest counts (JSON)."""
    return f"{PREFIX}:{{monitor}}:nodes"


def monitor_channel() -> str:
    """Channel carrying every monitor frame, already encoded, to every node."""
    return f"{PREFIX}:{{monitor}}:frames"
def user_tag(user: str) -> str:
    return f"{{user:{user}}}"


def reply(user: str, key: str) -> str:
    """The first reply to a user's request under an idempotency key (or a mark while it runs)."""
    return f"{PREFIX}:{user_tag(user)}:reply:{key}"
