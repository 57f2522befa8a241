"""The event bus: gives each session event its place (epoch, seq) and time, keeps recent history,
and hands events to the node's subscribers. One small interface; backends behind it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from realtime.envelope import Draft, Event

Deliver = Callable[[Event], None]


class Unavailable(Exception):
    """A backing service cannot take the event now; nothing was published."""


class Bus(Protocol):
    async def publish(self, draft: Draft) -> Event:
        """Place the event in its session's order and deliver it; returns it placed."""
        ...

    async def history(self, sid: str, epoch: int, after_seq: int) -> list[Event] | None:
        """Events after `after_seq` in `epoch`, or None when history does not reach back."""
        ...

    async def position(self, sid: str) -> tuple[int, int]:
        """The session's current (epoch, last seq)."""
        ...

    async def seed(self, sid: str, above_seq: int) -> None:
        """Start a session's counter above seqs that exist elsewhere (after history was lost)."""
        ...

    def subscribe(self, sid: str, deliver: Deliver) -> None: ...

    def unsubscribe(self, sid: str, deliver: Deliver) -> None: ...

    def forget(self, sid: str) -> None:
        """Drop an ended session's counter and history."""
        ...


class InProcessBus:
    """One node: ordering under the event loop (no await between counting and delivering)."""

    def __init__(self, history_events: int, epoch: int | None = None) -> None:
        # A new epoch per process: counters and history die with it, so seqs may not be reused.
        self.epoch = epoch if epoch is not None else int(time.time() * 1000)
        self._history_events = history_events
        self._seqs: dict[str, int] = {}
        self._history: dict[str, deque[Event]] = {}
        self._subscribers: dict[str, list[Deliver]] = {}

    async def publish(self, draft: Draft) -> Event:
        seq = self._seqs.get(draft.sid, 0) + 1
        self._seqs[draft.sid] = seq
        event = Event(
            sid=draft.sid, epoch=self.epoch, seq=seq, ts=int(time.time() * 1000),
            kind=draft.kind, by=draft.by, data=draft.data, private_to=draft.private_to,
        )
        history = self._history.get(draft.sid)
        if history is None:
            history = self._history[draft.sid] = deque(maxlen=self._history_events)
        history.append(event)
        for deliver in tuple(self._subscribers.get(draft.sid, ())):
            deliver(event)
        return event

    async def history(self, sid: str, epoch: int, after_seq: int) -> list[Event] | None:
        if epoch != self.epoch:
            return None
        events = self._history.get(sid)
        last = self._seqs.get(sid, 0)
        if after_seq >= last:
            return []
        if not events or events[0].seq > after_seq + 1:
            return None
        return [e for e in events if e.seq > after_seq]

    async def position(self, sid: str) -> tuple[int, int]:
        return self.epoch, self._seqs.get(sid, 0)

    async def seed(self, sid: str, above_seq: int) -> None:
        self._seqs[sid] = max(self._seqs.get(sid, 0), above_seq)

    def subscribe(self, sid: str, deliver: Deliver) -> None:
        self._subscribers.setdefault(sid, []).append(deliver)

    def unsubscribe(self, sid: str, deliver: Deliver) -> None:
        listeners = self._subscribers.get(sid, [])
        if deliver in listeners:
            listeners.remove(deliver)
        if not listeners:
            self._subscribers.pop(sid, None)

    def forget(self, sid: str) -> None:
        self._history.pop(sid, None)
        self._seqs.pop(sid, None)
