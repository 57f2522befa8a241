"""Complex moments reported as `moment.detected` events, each exactly once across all nodes.

Every node folds the same events into the same detector (realtime/state.py), so every node that
holds a session sees the same moment fall due; each tries to report it through the hub's
compare-and-set, and the first to win makes it no longer due for the others. Silence after a
failure has no event to trigger it: a tick on each node asks whether time alone made it due."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from anyio.abc import TaskGroup

from realtime.codes import RequestError
from realtime.envelope import TUTOR, Event
from realtime.hub import Decision, LiveSession, SessionHub
from realtime.state import SessionState

log = logging.getLogger("wingman.moments")


class _NothingDue(Exception):
    """Another node reported the moment first (or time un-made it): nothing to publish."""


class MomentReporter:
    def __init__(self, hub: SessionHub, tasks: TaskGroup, tick_seconds: float) -> None:
        self._hub = hub
        self._tasks = tasks
        self._tick_seconds = tick_seconds
        self._reporting: set[str] = set()
        hub.watchers.append(self._watch)

    def _watch(self, live: LiveSession, event: Event) -> None:
        sid = live.state.sid
        if live.state.due and not live.state.ended and sid not in self._reporting:
            self._reporting.add(sid)
            self._tasks.start_soon(self._report_due, live)

    async def _report_due(self, live: LiveSession) -> None:
        def due(state: SessionState) -> Decision:
            if not state.due or state.ended:
                raise _NothingDue
            moment = state.due[0]
            return "moment.detected", TUTOR, dict(moment)

        try:
            while live.state.due and not live.state.ended:
                await self._publish(live, due)
        finally:
            self._reporting.discard(live.state.sid)

    async def _publish(self, live: LiveSession, decision: Any) -> bool:
        try:
            await self._hub.decide(live, decision)
            return True
        except _NothingDue:
            return False
        except RequestError as err:
            log.info("moment in %s not reported: %s", live.state.sid, err.message)
        except Exception:
            log.exception("moment in %s not reported", live.state.sid)
        # Give up on this one rather than spin; the next event or tick tries again.
        live.state.due.clear()
        return False

    async def run(self) -> None:
        """Notice silences: on every node, for the sessions it holds (the first report wins)."""
        while True:
            await anyio.sleep(self._tick_seconds)
            now = int(time.time() * 1000)
            for live in list(self._hub.live.values()):
                if live.state.idle_moment(now) is None:
                    continue

                def idle(state: SessionState) -> Decision:
                    moment = state.idle_moment(int(time.time() * 1000))
                    if moment is None:
                        raise _NothingDue
                    return "moment.detected", TUTOR, moment

                await self._publish(live, idle)
