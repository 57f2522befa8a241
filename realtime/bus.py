"""The event bus: gives each session event its place (epoch, seq) and time, keeps recent history,
and hands events to the node's subscribers. One small interface; backends behind it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from realtime.envelope import DECISIVE, Draft, Event

Deliver = Callable[[Event], None]



class Unavailable(Exception):
    """A backing service cannot take the event now; nothing was published."""


class Lost(Exception):
    """The bus no longer knows the session's counter (it lost its data): re-seed, then retry."""


class Ended(Exception):
    """The session has ended; nothing more is published in it."""


class Stale(Exception):
    """Compare-and-set refused: the session's decisions moved on since the caller read them."""

    def __init__(self, seq: int, dseq: int) -> None:
        super().__init__(f"decision version is {dseq}")
        self.seq = seq
        self.dseq = dseq


@dataclass(frozen=True)
class Position:
    epoch: int
    seq: int
    # The seq of the last decisive event: the version a guarded publish compares.
    dseq: int = 0


@dataclass(frozen=True)
class SessionMeta:
    learner: str
    question_id: str
    keep: bool
    # The version of the question the session started on (0: whichever is offered).
    question_version: int = 0


@dataclass(frozen=True)
class Owners:
    """Which node runs the session's active run and streams its tutor turn ('' for none)."""

    run: str = ""
    run_node: str = ""
    turn: str = ""
    turn_node: str = ""


def claims(draft: Draft, node_id: str) -> dict[str, str]:
    """What an event changes in the session's ownership record, published with it atomically."""
    data = draft.data
    match draft.kind:
        case "run.started":
            return {"run": str(data["run_id"]), "run_node": node_id}
        case "run.finished":
            return {"run": "", "run_node": ""}
        case "tutor.turn.start":
            return {"turn": str(data["turn_id"]), "turn_node": node_id}
        case "tutor.turn.end":
            return {"turn": "", "turn_node": ""}
        case "session.ended":
            return {"ended": "1", "run": "", "run_node": "", "turn": "", "turn_node": ""}
    return {}


class Bus(Protocol):
    node_id: str
    # True when other nodes publish into the same sessions (their runs are not ours to end).
    shared: bool

    async def create(self, sid: str, meta: SessionMeta) -> Position:
        """Start a new session's counter under a fresh epoch."""
        ...

    async def seed(self, sid: str, meta: SessionMeta, above_seq: int, dseq: int) -> Position:
        """Restart a session whose counter was lost, above seqs that exist elsewhere, under a new
        epoch; a no-op returning the current position when another node did it first."""
        ...

    async def publish(self, draft: Draft, expect: int | None = None) -> Event:
        """Place the event in its session's order and deliver it; returns it placed. With
        `expect`, only if the session's decision version is still `expect` (else Stale)."""
        ...

    async def history(self, sid: str, epoch: int, after_seq: int) -> list[Event] | None:
        """Events after `after_seq` in `epoch`, or None when history does not reach back."""
        ...

    async def events_since(self, sid: str, after_seq: int) -> list[Event]:
        """What the history still holds after `after_seq`, across epochs, in seq order."""
        ...

    async def position(self, sid: str) -> Position | None:
        """The session's current position, or None when the bus does not know it."""
        ...

    async def meta(self, sid: str) -> SessionMeta | None: ...

    async def owners(self, sid: str) -> Owners: ...

    async def save_snapshot(self, sid: str, seq: int, blob: bytes) -> None:
        """Keep the session's folded state as of `seq`, so any node can start from it."""
        ...

    async def snapshot(self, sid: str) -> tuple[int, bytes] | None: ...

    async def subscribe(self, sid: str, deliver: Deliver) -> None:
        """Deliver the session's events from now on; returns once none can be missed."""
        ...

    async def unsubscribe(self, sid: str) -> None: ...

    async def send_control(self, node_id: str, message: bytes) -> None:
        """A message for one node's `on_control` (cancel a run it owns, say)."""
        ...


@dataclass
class _Record:
    meta: SessionMeta
    position: Position
    owners: Owners = field(default_factory=Owners)
    ended: bool = False
    history: deque[Event] = field(default_factory=deque)
    snapshot: tuple[int, bytes] | None = None


class InProcessBus:
    """One node: ordering under the event loop (no await between counting and delivering)."""

    shared = False

    def __init__(self, history_events: int, node_id: str = "node-1") -> None:
        self.node_id = node_id
        self._history_events = history_events
        self._sessions: dict[str, _Record] = {}
        self._subscribers: dict[str, Deliver] = {}
        self.on_control: Callable[[bytes], None] = lambda message: None

    async def create(self, sid: str, meta: SessionMeta) -> Position:
        record = _Record(meta, Position(_new_epoch(), 0),
                         history=deque(maxlen=self._history_events))
        self._sessions[sid] = record
        return record.position

    async def seed(self, sid: str, meta: SessionMeta, above_seq: int, dseq: int) -> Position:
        record = self._sessions.get(sid)
        if record is None:
            # Counters died with the old process: continue above what storage holds, new epoch.
            record = _Record(meta, Position(_new_epoch(), above_seq, dseq),
                             history=deque(maxlen=self._history_events))
            self._sessions[sid] = record
        return record.position

    async def publish(self, draft: Draft, expect: int | None = None) -> Event:
        record = self._sessions.get(draft.sid)
        if record is None:
            raise Lost(draft.sid)
        if record.ended:
            raise Ended(draft.sid)
        old = record.position
        if expect is not None and expect != old.dseq:
            raise Stale(old.seq, old.dseq)
        seq = old.seq + 1
        record.position = Position(old.epoch, seq, seq if draft.kind in DECISIVE else old.dseq)
        changes = claims(draft, self.node_id)
        if changes:
            record.ended = record.ended or changes.pop("ended", "") == "1"
            record.owners = Owners(**{**record.owners.__dict__, **changes})
        event = draft.placed(old.epoch, seq, int(time.time() * 1000))
        record.history.append(event)
        deliver = self._subscribers.get(draft.sid)
        if deliver is not None:
            deliver(event)
        return event

    async def history(self, sid: str, epoch: int, after_seq: int) -> list[Event] | None:
        record = self._sessions.get(sid)
        if record is None or epoch != record.position.epoch:
            return None
        return events_after(list(record.history), record.position, after_seq)

    async def events_since(self, sid: str, after_seq: int) -> list[Event]:
        record = self._sessions.get(sid)
        return [e for e in record.history if e.seq > after_seq] if record else []

    async def position(self, sid: str) -> Position | None:
        record = self._sessions.get(sid)
        return record.position if record else None

    async def meta(self, sid: str) -> SessionMeta | None:
        record = self._sessions.get(sid)
        return record.meta if record else None

    async def owners(self, sid: str) -> Owners:
        record = self._sessions.get(sid)
        return record.owners if record else Owners()

    async def save_snapshot(self, sid: str, seq: int, blob: bytes) -> None:
        record = self._sessions.get(sid)
        if record is not None:
            record.snapshot = (seq, blob)

    async def snapshot(self, sid: str) -> tuple[int, bytes] | None:
        record = self._sessions.get(sid)
        return record.snapshot if record else None

    async def subscribe(self, sid: str, deliver: Deliver) -> None:
        self._subscribers[sid] = deliver

    async def unsubscribe(self, sid: str) -> None:
        self._subscribers.pop(sid, None)
        record = self._sessions.get(sid)
        if record is not None and record.ended:
            # An ended session lives on in storage; its counter and history are done with.
            del self._sessions[sid]

    async def send_control(self, node_id: str, message: bytes) -> None:
        self.on_control(message)


def events_after(events: list[Event], position: Position, after_seq: int) -> list[Event] | None:
    """The events after `after_seq` out of a history tail, or None when the tail starts later."""
    if after_seq >= position.seq:
        return []
    if not events or events[0].seq > after_seq + 1:
        return None
    return [e for e in events if e.seq > after_seq]


def _new_epoch() -> int:
    return int(time.time() * 1000)
