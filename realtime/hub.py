"""The node's live sessions: their state mirrors, their local members, and the fan-out of each
event to those members (encoded once per event, never awaiting a client)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import msgspec

from realtime.bus import Bus, Unavailable
from realtime.codes import ErrorCode, RequestError
from realtime.connection import Connection
from realtime.envelope import SYSTEM, TUTOR, Actor, Draft, Event, Role
from realtime.frames import encode_event, encode_reply, to_builtins
from realtime.requests import Ref, Since
from realtime.rights import SessionFacts
from realtime.state import SessionState

log = logging.getLogger("wingman.hub")


class TraceSink(Protocol):
    def offer(self, event: Event) -> bool:
        """Take an event for durable storage; False when full (the publish must not happen)."""
        ...

    def has_room(self) -> bool: ...


@dataclass(frozen=True)
class StoredSession:
    facts: SessionFacts
    question_id: str
    keep: bool
    ended: bool
    events: list[Event]


Loader = Callable[[str], Awaitable[StoredSession | None]]


@dataclass
class Member:
    connection: Connection
    role: Role
    invisible: bool = False
    # Events that arrive while the join reply and missed events are being prepared.
    pending: list[Event] | None = None


@dataclass
class LiveSession:
    state: SessionState
    facts: SessionFacts
    question: dict[str, Any]
    keep: bool
    members: dict[int, Member] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def present(self, user: str, role: Role) -> bool:
        return any(m.connection.user == user and m.role is role and not m.invisible
                   for m in self.members.values() if m.pending is None)


class SessionHub:
    def __init__(self, bus: Bus, trace: TraceSink, loader: Loader,
                 questions: Callable[[str], dict[str, Any] | None]) -> None:
        self._bus = bus
        self._trace = trace
        self._load = loader
        self._questions = questions
        self._live: dict[str, LiveSession] = {}

    @property
    def live(self) -> dict[str, LiveSession]:
        return self._live

    async def create(self, sid: str, learner: str, question_id: str, keep: bool) -> LiveSession:
        question = self._question(question_id)
        epoch, seq = await self._bus.position(sid)
        state = SessionState(sid=sid, learner=learner, question_id=question_id, epoch=epoch,
                             seq=seq, last_activity_ms=_now_ms())
        live = LiveSession(state, SessionFacts(learner=learner), question, keep)
        self._attach(sid, live)
        return live

    async def get(self, sid: str) -> LiveSession:
        """The live session, loading it from storage when this node does not hold it."""
        sid = canonical_sid(sid) or ""
        live = self._live.get(sid)
        if live is not None:
            return live
        stored = await self._load(sid) if sid else None
        if stored is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such session")
        live = self._live.get(sid)
        if live is not None:  # another request loaded it while we awaited
            return live
        state = SessionState(sid=sid, learner=stored.facts.learner, question_id=stored.question_id)
        for event in stored.events:
            state.apply(event)
        last = stored.events[-1].seq if stored.events else 0
        # Counters died with the old process: continue above what storage holds, new epoch.
        await self._bus.seed(sid, last)
        state.epoch, state.seq = await self._bus.position(sid)
        live = LiveSession(state, stored.facts, self._question(stored.question_id), stored.keep)
        live.state.last_activity_ms = _now_ms()
        self._attach(sid, live)
        await self._finish_orphans(live)
        return live

    async def _finish_orphans(self, live: LiveSession) -> None:
        """A run or a tutor turn that storage shows open belonged to a process that is gone:
        end them, so the session does not wait for them forever."""
        state = live.state
        if state.ended:
            return
        if state.active_run is not None:
            await self.publish(state.sid, "run.finished", SYSTEM, {
                "run_id": state.active_run, "exit_code": None, "duration_ms": 0,
                "peak_memory_kib": 0, "limit": "lost", "tests": []})
        if state.active_turn is not None:
            await self.publish(state.sid, "tutor.turn.end", TUTOR, {"turn_id": state.active_turn})

    def _question(self, question_id: str) -> dict[str, Any]:
        question = self._questions(question_id)
        if question is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such question")
        return question

    def _attach(self, sid: str, live: LiveSession) -> None:
        self._live[sid] = live
        self._bus.subscribe(sid, self._deliver)

    def _detach(self, sid: str) -> None:
        self._live.pop(sid, None)
        self._bus.unsubscribe(sid, self._deliver)
        self._bus.forget(sid)

    async def publish(self, sid: str, kind: str, by: Actor, data: dict[str, Any],
                      private_to: str | None = None) -> Event:
        live = self._live.get(sid)
        if live is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such session")
        if live.state.ended:
            raise RequestError(ErrorCode.CONFLICT, "the session has ended")
        if live.keep and not self._trace.has_room():
            raise RequestError(ErrorCode.UNAVAILABLE, "the trace store is behind; retry shortly")
        try:
            event = await self._bus.publish(Draft(sid, kind, by, data, private_to))
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
        if live.keep:
            self._trace.offer(event)
        return event

    def _deliver(self, event: Event) -> None:
        live = self._live.get(event.sid)
        if live is None:
            return
        if not live.state.apply(event):
            return
        try:
            frame = encode_event(event)
        except (TypeError, ValueError, msgspec.EncodeError):
            # Sources clean what they publish; should one slip, the publisher must not fail.
            log.exception("event %s/%s cannot be encoded", event.sid, event.seq)
            return
        hidden: bytes | None = None
        for member in tuple(live.members.values()):
            if member.pending is not None:
                member.pending.append(event)
            elif event.readable_by(member.connection.user):
                member.connection.send(frame)
            else:
                hidden = hidden or encode_event(event.redacted())
                member.connection.send(hidden)

    async def join(self, connection: Connection, live: LiveSession, role: Role, ref: Ref,
                   since: Since | None, invisible: bool = False) -> None:
        """Reply first, then every missed event, then live ones: no gap, no duplicate."""
        sid = live.state.sid
        was_present = live.present(connection.user, role)
        member = Member(connection, role, invisible=invisible, pending=[])
        previous = live.members.get(connection.id)
        live.members[connection.id] = member
        connection.joined.add(sid)
        try:
            missed = None
            if since is not None:
                missed = await self._bus.history(sid, since.epoch, since.seq)
        except BaseException:
            live.members.pop(connection.id, None)
            if previous is not None:
                live.members[connection.id] = previous
            raise
        state = live.state
        reply: dict[str, Any] = {"sid": sid, "epoch": state.epoch, "seq": state.seq,
                                 "recovered": missed is not None}
        sent = since.seq if since is not None and missed is not None else state.seq
        if missed is None:
            reply["snapshot"] = to_builtins(state.snapshot(live.question))
        connection.send(encode_reply(ref, reply))
        for event in missed or []:
            if event.seq <= state.seq:
                self._send_to(member, event)
                sent = max(sent, event.seq)
        pending, member.pending = member.pending or [], None
        for event in pending:
            if event.seq > sent:
                self._send_to(member, event)
        if not (was_present or previous is not None or invisible) and not live.state.ended:
            await self.publish(sid, "presence.join", Actor(connection.user, role),
                               {"user": connection.user, "role": role.value,
                                "name": connection.identity.name})

    def _send_to(self, member: Member, event: Event) -> None:
        shown = event if event.readable_by(member.connection.user) else event.redacted()
        member.connection.send(encode_event(shown))

    async def leave(self, connection: Connection, sid: str) -> None:
        live = self._live.get(sid)
        connection.joined.discard(sid)
        if live is None:
            return
        member = live.members.pop(connection.id, None)
        if live.state.ended:
            self.unload(sid)
            return
        if member is None or member.invisible:
            return
        if not live.present(connection.user, member.role):
            try:
                await self.publish(sid, "presence.leave", Actor(connection.user, member.role),
                                   {"user": connection.user, "role": member.role.value})
            except RequestError as err:
                log.info("presence.leave not published for %s: %s", sid, err.message)

    async def disconnect(self, connection: Connection) -> None:
        for sid in tuple(connection.joined):
            await self.leave(connection, sid)

    def unload(self, sid: str) -> None:
        """Forget an ended session once no member is left; storage keeps the trace."""
        live = self._live.get(sid)
        if live is not None and live.state.ended and not live.members:
            self._detach(sid)

    def idle(self, now_ms: int, idle_ms: int) -> list[str]:
        return [sid for sid, live in self._live.items()
                if not live.state.ended and live.state.active_run is None
                and now_ms - live.state.last_activity_ms >= idle_ms]


def canonical_sid(sid: str) -> str | None:
    """The one spelling of a session id (ids arrive from clients in any case and form)."""
    try:
        return str(uuid.UUID(sid))
    except ValueError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)
