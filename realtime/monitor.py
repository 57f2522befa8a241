"""The admin monitor's board: the latest summary of every live session and the latest counts of
every node, and the frames announcing each change to every node. In-process here; Redis in
realtime/monitor_redis.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from realtime.frames import encode_message


class MonitorBoard(Protocol):
    # Called with every monitor frame any node puts on the board (already encoded).
    on_frame: Callable[[bytes], None]

    async def put_session(self, summary: dict[str, Any]) -> None: ...

    async def remove_session(self, sid: str) -> None:
        """Take a session off; announced once, by whichever node took it off."""
        ...

    async def put_node(self, info: dict[str, Any]) -> None: ...

    async def sessions(self) -> list[dict[str, Any]]: ...

    async def some_sessions(self, sids: list[str]) -> dict[str, dict[str, Any]]:
        """The summaries of these sessions that are on the board."""
        ...

    async def nodes(self, alive_ms: int) -> list[dict[str, Any]]:
        """Nodes that reported within the last `alive_ms`."""
        ...

    async def run(self) -> None:
        """Receive other nodes' frames until cancelled."""
        ...


def upsert_frame(summary: dict[str, Any]) -> bytes:
    return encode_message({"type": "monitor", "op": "upsert", "session": summary})


def remove_frame(sid: str) -> bytes:
    return encode_message({"type": "monitor", "op": "remove", "session": {"sid": sid}})


def node_frame(info: dict[str, Any]) -> bytes:
    return encode_message({"type": "monitor", "op": "node", "node": info})


def now_ms() -> int:
    return int(time.time() * 1000)


class LocalBoard:
    """One node without Redis: the board is this node's memory."""

    def __init__(self) -> None:
        self._sessions: dict[str, dict[str, Any]] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self.on_frame: Callable[[bytes], None] = lambda frame: None

    async def put_session(self, summary: dict[str, Any]) -> None:
        self._sessions[summary["sid"]] = summary
        self.on_frame(upsert_frame(summary))

    async def remove_session(self, sid: str) -> None:
        if self._sessions.pop(sid, None) is not None:
            self.on_frame(remove_frame(sid))

    async def put_node(self, info: dict[str, Any]) -> None:
        self._nodes[info["id"]] = info
        self.on_frame(node_frame(info))

    async def sessions(self) -> list[dict[str, Any]]:
        return list(self._sessions.values())

    async def some_sessions(self, sids: list[str]) -> dict[str, dict[str, Any]]:
        return {sid: self._sessions[sid] for sid in sids if sid in self._sessions}

    async def nodes(self, alive_ms: int) -> list[dict[str, Any]]:
        since = now_ms() - alive_ms
        return [n for n in self._nodes.values() if n.get("seen_ms", 0) >= since]

    async def run(self) -> None:
        """Nothing to receive: every frame is this node's own."""
