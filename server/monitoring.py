"""The admin live monitor: this node's sessions summarised onto the shared board (at most one
upsert per session per interval, however busy it is), this node's counts, and every board frame
passed on to the admins subscribed here. Admins never poll: the reply to `monitor.subscribe`
carries the board, then frames follow."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio

from realtime.bus import Unavailable
from realtime.codes import ErrorCode, RequestError
from realtime.connection import Connection
from realtime.envelope import Event, Role
from realtime.frames import encode_reply
from realtime.hub import LiveSession, SessionHub
from realtime.monitor import MonitorBoard, now_ms
from realtime.requests import Ref

log = logging.getLogger("wingman.monitor")

# A session's summary shows its latest moments, not all of them.
SUMMARY_MOMENTS = 10


def started_ms(sid: str) -> int:
    """When a session started, read from its id (UUIDv7 leads with milliseconds)."""
    try:
        return uuid.UUID(sid).int >> 80
    except ValueError:
        return 0


def summarise(live: LiveSession, node_id: str, title: str) -> dict[str, Any]:
    state = live.state
    learner = state.present.get(f"{state.learner} {Role.LEARNER.value}")
    last = next((r.finished for r in reversed(state.runs.values()) if r.finished), None)
    return {
        "sid": state.sid,
        "learner": {"id": state.learner, "name": learner["name"] if learner else "",
                    "present": learner is not None},
        "question": {"id": state.question_id, "title": title},
        "node": node_id,
        "started_ms": started_ms(state.sid),
        "last_activity_ms": state.last_activity_ms,
        "runs": state.run_count,
        "running": state.active_run is not None,
        "last_run": None if last is None else {
            "passed": _passed(last), "limit": last.get("limit"),
            "exit_code": last.get("exit_code")},
        "hint_level": state.ladder.level,
        "observers": [p for p in state.present.values() if p["role"] != Role.LEARNER.value],
        "moments": state.moments[-SUMMARY_MOMENTS:],
        "ended": state.ended,
    }


def _passed(finished: dict[str, Any]) -> bool:
    tests = finished.get("tests") or []
    return (finished.get("limit") is None and finished.get("exit_code") == 0
            and all(t.get("passed") for t in tests))


class _Watcher:
    """An admin connection; frames arriving while its reply is prepared wait in `pending`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.pending: list[bytes] | None = []


class SessionMonitor:
    def __init__(self, hub: SessionHub, board: MonitorBoard, titles: Callable[[str], str],
                 connections: Callable[[], int], interval_seconds: float,
                 node_seconds: float, refresh_seconds: float) -> None:
        self._hub = hub
        self._board = board
        self._titles = titles
        self._connections = connections
        self._interval = interval_seconds
        self._node_seconds = node_seconds
        self._refresh_seconds = refresh_seconds
        self._dirty: set[str] = set()
        self._ended: set[str] = set()
        # Sessions whose summary this node writes, with the summary it last wrote.
        self._owned: dict[str, dict[str, Any]] = {}
        self._watchers: dict[int, _Watcher] = {}
        self._events = 0
        hub.watchers.append(self._watch)
        board.on_frame = self._deliver

    @property
    def node_id(self) -> str:
        return self._hub.node_id

    # Admins

    async def subscribe(self, connection: Connection, ref: Ref) -> None:
        """Reply with the board, then pass on every frame after it (none lost in between:
        frames are whole summaries, so one seen twice does no harm)."""
        watcher = self._watchers.get(connection.id) or _Watcher(connection)
        self._watchers[connection.id] = watcher
        try:
            sessions = await self._board.sessions()
            nodes = await self._board.nodes(int(self._node_seconds * 3000))
        except Unavailable as err:
            self._watchers.pop(connection.id, None)
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
        alive = {n["id"] for n in nodes}
        # A session whose node stopped reporting is gone with it (until another node takes it).
        sessions = [s for s in sessions if s.get("node") in alive and not s.get("ended")]
        sessions.sort(key=lambda s: s.get("started_ms", 0))
        connection.send(encode_reply(ref, {"sessions": sessions, "nodes": nodes}))
        pending, watcher.pending = watcher.pending or [], None
        for frame in pending:
            connection.send(frame)

    async def summaries(self, sids: list[str]) -> dict[str, dict[str, Any]]:
        """The board's summaries of these sessions (for a mentor's list of their sessions)."""
        try:
            return await self._board.some_sessions(sids)
        except Unavailable as err:
            log.info("session summaries not read: %s", err)
            return {}

    def unsubscribe(self, connection: Connection) -> None:
        self._watchers.pop(connection.id, None)

    def _deliver(self, frame: bytes) -> None:
        for key, watcher in list(self._watchers.items()):
            if watcher.connection.close_code is not None:
                del self._watchers[key]
            elif watcher.pending is not None:
                watcher.pending.append(frame)
            else:
                watcher.connection.send(frame)

    # Sessions

    def _watch(self, live: LiveSession, event: Event) -> None:
        self._events += 1
        self._dirty.add(live.state.sid)
        if event.kind == "session.ended":
            # The session may be let go of before the next flush; take it off the board then.
            self._ended.add(live.state.sid)

    def _writes(self, live: LiveSession) -> bool:
        """Whether this node writes the session's summary: the node holding the learner does;
        after the learner left every node, the node that last wrote it goes on."""
        if live.local(live.state.learner, Role.LEARNER):
            return True
        learner_present = f"{live.state.learner} {Role.LEARNER.value}" in live.state.present
        return live.state.sid in self._owned and not learner_present

    async def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        ended, self._ended = self._ended, set()
        for sid in ended:
            self._owned.pop(sid, None)
            await self._board.remove_session(sid)
        for sid in dirty - ended:
            live = self._hub.live.get(sid)
            if live is None:
                continue
            if live.state.ended:
                self._owned.pop(sid, None)
                await self._board.remove_session(sid)
            elif self._writes(live):
                await self._put(live)
            else:
                self._owned.pop(sid, None)

    async def _put(self, live: LiveSession, force: bool = False) -> None:
        summary = summarise(live, self.node_id, self._titles(live.state.question_id))
        if not force and self._owned.get(live.state.sid) == summary:
            return
        self._owned[live.state.sid] = summary
        await self._board.put_session({**summary, "seen_ms": now_ms()})

    async def _refresh(self) -> None:
        """Re-put what this node writes (so readers know it is current) and take off the
        sessions it no longer holds."""
        for sid in list(self._owned):
            live = self._hub.live.get(sid)
            if live is None:
                del self._owned[sid]
                await self._board.remove_session(sid)
            elif not live.state.ended:
                await self._put(live, force=True)

    async def _put_node(self, events_per_second: float) -> None:
        await self._board.put_node({
            "id": self.node_id, "connections": self._connections(),
            "sessions": len(self._hub.live), "events_per_second": round(events_per_second, 1),
            "seen_ms": now_ms()})

    async def run(self) -> None:
        counted_at, counted = time.monotonic(), 0
        last_node = last_refresh = 0.0
        while True:
            try:
                await self._flush()
                now = time.monotonic()
                if now - last_node >= self._node_seconds:
                    rate = (self._events - counted) / max(now - counted_at, 1e-3)
                    counted_at, counted, last_node = now, self._events, now
                    await self._put_node(rate)
                if now - last_refresh >= self._refresh_seconds:
                    last_refresh = now
                    await self._refresh()
            except Unavailable as err:
                log.info("monitor board not updated: %s", err)
            except Exception:
                log.exception("monitor board not updated")
            await anyio.sleep(self._interval)
