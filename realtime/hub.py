"""The node's live sessions: their state mirrors, their local members, and the fan-out of each
event to those members (encoded once per event, never awaiting a client).

Every event reaches a node through its bus subscription, its own included, and is folded into the
mirror in seq order; a gap is refilled from history, and what cannot be refilled makes the
session's members resume (they get a snapshot)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import msgspec
from anyio.abc import TaskGroup
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from realtime.bus import Bus, Ended, Lost, SessionMeta, Stale, Unavailable
from realtime.codes import CloseCode, ErrorCode, RequestError
from realtime.connection import Connection
from realtime.envelope import DECISIVE, SYSTEM, TUTOR, Actor, Draft, Event, Role
from realtime.frames import encode_event, encode_reply, to_builtins
from realtime.ordering import Sequencer
from realtime.presence import Presence
from realtime.requests import Ref, Since
from realtime.rights import SessionFacts
from realtime.state import SessionState
from tutor.moments import MomentDetector, MomentRules

log = logging.getLogger("wingman.hub")

# A decision retried this many times against moving state gives up with `conflict`.
DECIDE_ATTEMPTS = 5
_tracer = trace.get_tracer("wingman.hub")
_propagator = TraceContextTextMapPropagator()


@dataclass
class HubCounts:
    """Plain counters the metrics read when scraped, so fan-out pays no more than an addition."""

    published: dict[str, int] = field(default_factory=dict)  # by event kind
    received: int = 0  # events this node's subscription handed to a live session
    delivered: int = 0  # frames queued to members


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
    question_version: int = 0


class SessionSource(Protocol):
    """Sessions as storage keeps them (kept sessions only)."""

    async def load(self, sid: str) -> StoredSession | None: ...

    async def events(self, sid: str, after_seq: int) -> list[Event]:
        """Stored events with seq above `after_seq`, in seq order."""
        ...


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
    order: Sequencer
    members: dict[int, Member] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    # Set (and replaced) whenever the mirror moves on, for publishers waiting to see their event.
    moved: anyio.Event = field(default_factory=anyio.Event)
    refilling: bool = False
    # The highest seq this node published in the session, for readers of its own writes.
    published: int = 0
    quiet_since: float = field(default_factory=time.monotonic)

    def local(self, user: str, role: Role, but: int | None = None) -> bool:
        """Whether this node holds a connection of `user` in `role` (other than `but`)."""
        return any(m.connection.user == user and m.role is role and m.connection.id != but
                   for m in self.members.values())


Decision = tuple[str, Actor, dict[str, Any]]


class SessionHub:
    def __init__(self, bus: Bus, presence: Presence, trace: TraceSink, source: SessionSource,
                 questions: Callable[[str, int], Awaitable[dict[str, Any] | None]],
                 tasks: TaskGroup,
                 snapshot_every: int, max_observers: int,
                 holds: Callable[[str, bool], Awaitable[None]] | None = None,
                 traced: bool = False,
                 moment_rules: MomentRules | None = None) -> None:
        self._bus = bus
        self._presence = presence
        self._trace = trace
        self._source = source
        self._questions = questions
        self._tasks = tasks
        self._snapshot_every = snapshot_every
        self._max_observers = max_observers
        self._holds = holds
        self._live: dict[str, LiveSession] = {}
        self._arriving: dict[str, list[Event]] = {}
        self._loading: dict[str, anyio.Lock] = {}
        self._keep: dict[str, bool] = {}
        # With tracing on, events carry their cause's trace context to every node.
        self._traced = traced
        self.counts = HubCounts()
        self._moment_rules = moment_rules or MomentRules()
        # Called with each event once it is folded into this node's mirror (monitor, moments).
        self.watchers: list[Callable[[LiveSession, Event], None]] = []

    @property
    def live(self) -> dict[str, LiveSession]:
        return self._live

    @property
    def node_id(self) -> str:
        return self._bus.node_id

    # Sessions coming and going on this node

    async def create(self, sid: str, learner: str, question_id: str, keep: bool,
                     version: int = 0) -> LiveSession:
        question = await self._question(question_id, version)
        meta = SessionMeta(learner, question_id, keep, version)
        try:
            position = await self._bus.create(sid, meta)
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
        state = SessionState(sid=sid, learner=learner, question_id=question_id,
                             question_version=version,
                             epoch=position.epoch, seq=position.seq, last_activity_ms=_now_ms(),
                             detector=MomentDetector(self._moment_rules))
        live = LiveSession(state, SessionFacts(learner=learner), question, keep,
                           Sequencer(position.epoch, position.seq))
        self._arriving[sid] = []
        try:
            await self._subscribe(sid)
        finally:
            early = self._arriving.pop(sid, [])
        self._live[sid] = live
        self._receive_all(live, early)
        return live

    async def get(self, sid: str) -> LiveSession:
        """The live session, loading it when this node does not hold it yet."""
        sid = canonical_sid(sid) or ""
        live = self._live.get(sid)
        if live is not None:
            return live
        if not sid:
            raise RequestError(ErrorCode.NOT_FOUND, "no such session")
        lock = self._loading.setdefault(sid, anyio.Lock())
        try:
            async with lock:
                live = self._live.get(sid)
                if live is None:
                    live = await self._attach(sid)
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
        finally:
            if not lock.locked():
                self._loading.pop(sid, None)
        return live

    async def _attach(self, sid: str) -> LiveSession:
        """Subscribe first and hold what arrives, then build the state, then let the held in."""
        self._arriving[sid] = []
        try:
            await self._subscribe(sid)
            live = await self._build(sid)
        except BaseException:
            self._arriving.pop(sid, None)
            with anyio.CancelScope(shield=True):
                await self._unsubscribe(sid)
            raise
        early = self._arriving.pop(sid, [])
        self._live[sid] = live
        self._receive_all(live, early)
        if not self._bus.shared:
            await self._finish_orphans(live)
        return live

    async def _build(self, sid: str) -> LiveSession:
        position = await self._bus.position(sid)
        stored: StoredSession | None = None
        if position is None:
            # The bus does not know it (a restart, or Redis lost its data): storage must.
            stored = await self._source.load(sid)
            if stored is None:
                raise RequestError(ErrorCode.NOT_FOUND, "no such session")
            state = SessionState(sid=sid, learner=stored.facts.learner,
                                 question_id=stored.question_id,
                                 question_version=stored.question_version,
                                 detector=MomentDetector(self._moment_rules))
            for event in stored.events:
                state.apply(event)
            meta = SessionMeta(stored.facts.learner, stored.question_id, stored.keep,
                               stored.question_version)
            position = await self._bus.seed(sid, meta, state.seq, state.dseq)
        else:
            meta = await self._bus.meta(sid) or SessionMeta("", "", False)
            saved = await self._bus.snapshot(sid)
            state = (SessionState.from_blob(saved[1]) if saved else
                     SessionState(sid=sid, learner=meta.learner, question_id=meta.question_id,
                                  detector=MomentDetector(self._moment_rules)))
            state.question_version = state.question_version or meta.question_version
        await self._catch_up(state, meta.keep)
        facts = stored.facts if stored else SessionFacts(learner=meta.learner)
        question = await self._question(state.question_id, state.question_version)
        live = LiveSession(state, facts, question, meta.keep,
                           Sequencer(state.epoch, state.seq))
        if state.epoch != position.epoch and position.seq >= state.seq:
            # A new epoch began above what we hold; continue there.
            state.epoch = position.epoch
            live.order.restart(position.epoch, max(state.seq, position.seq))
            state.seq = live.order.seq
        live.state.last_activity_ms = _now_ms()
        return live

    async def _catch_up(self, state: SessionState, keep: bool) -> None:
        """Fold in what the bus's history (and, before it, storage) holds after the state."""
        recent = await self._bus.events_since(state.sid, state.seq)
        if keep and (not recent or recent[0].seq > state.seq + 1):
            for event in await self._source.events(state.sid, state.seq):
                _fold(state, event)
        for event in recent:
            _fold(state, event)

    async def _finish_orphans(self, live: LiveSession) -> None:
        """A run or a tutor turn that storage shows open belonged to a process that is gone:
        end them, so the session does not wait for them forever."""
        state = live.state
        if state.ended:
            return
        if state.active_run is not None:
            await self.publish(state.sid, "run.finished", SYSTEM, lost_run(state.active_run))
        if state.active_turn is not None:
            await self.publish(state.sid, "tutor.turn.end", TUTOR, {"turn_id": state.active_turn})

    async def _question(self, question_id: str, version: int) -> dict[str, Any]:
        question = await self._questions(question_id, version)
        if question is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such question")
        return question

    async def _subscribe(self, sid: str) -> None:
        await self._bus.subscribe(sid, self._receive)
        if self._holds is not None:
            await self._holds(sid, True)

    async def _unsubscribe(self, sid: str) -> None:
        try:
            await self._bus.unsubscribe(sid)
            if self._holds is not None:
                await self._holds(sid, False)
        except Unavailable as err:
            log.info("could not release %s: %s", sid, err)

    async def detach(self, sid: str) -> None:
        """Stop serving a session no member of this node is in; the bus keeps it for others."""
        live = self._live.get(sid)
        if live is None or live.members:
            return
        del self._live[sid]
        if not live.state.ended:
            await self._save_snapshot(live)
        await self._unsubscribe(sid)

    async def sweep(self, quiet_seconds: float, busy: Callable[[str], bool]) -> None:
        """Detach sessions that have had no member here for a while and nothing running here."""
        now = time.monotonic()
        for sid, live in list(self._live.items()):
            if live.members:
                live.quiet_since = now
            elif now - live.quiet_since >= quiet_seconds and not busy(sid):
                await self.detach(sid)

    # Publishing

    async def publish(self, sid: str, kind: str, by: Actor, data: dict[str, Any],
                      private_to: str | None = None, expect: int | None = None) -> Event:
        live = self._live.get(sid)
        keep = live.keep if live is not None else await self._kept(sid)
        if live is not None and live.state.ended:
            raise RequestError(ErrorCode.CONFLICT, "the session has ended")
        if keep and not self._trace.has_room():
            raise RequestError(ErrorCode.UNAVAILABLE, "the trace store is behind; retry shortly")
        if self._traced:
            with _tracer.start_as_current_span("session.publish", kind=trace.SpanKind.PRODUCER,
                                               attributes={"wingman.sid": sid,
                                                           "wingman.event": kind}) as span:
                carrier: dict[str, str] = {}
                _propagator.inject(carrier)
                event = await self._place(Draft(sid, kind, by, data, private_to,
                                                carrier.get("traceparent")), expect)
                span.set_attribute("wingman.seq", event.seq)
        else:
            event = await self._place(Draft(sid, kind, by, data, private_to), expect)
        counts = self.counts.published
        counts[kind] = counts.get(kind, 0) + 1
        if keep:
            self._trace.offer(event)
        if live is not None:
            live.published = max(live.published, event.seq)
            if kind in DECISIVE:
                # What is decided next reads this; other events need not wait for the mirror.
                await self._seen(live, event)
            if event.seq % self._snapshot_every == 0:
                await self._save_snapshot(live)
        return event

    async def _place(self, draft: Draft, expect: int | None) -> Event:
        try:
            try:
                return await self._bus.publish(draft, expect)
            except Lost:
                await self._reseed(draft.sid)
                return await self._bus.publish(draft, expect)
        except Ended:
            raise RequestError(ErrorCode.CONFLICT, "the session has ended") from None
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None

    async def settled(self, live: LiveSession) -> None:
        """Wait (briefly) until the mirror holds every event this node published."""
        if live.state.seq < live.published and live.order.epoch == live.state.epoch:
            await self._wait_for(live, live.published, 1.0)

    async def decide(self, live: LiveSession, decision: Callable[[SessionState], Decision],
                     private_to: str | None = None) -> Event:
        """Publish what the core decides from the session's state, only if no node changed that
        state meanwhile (compare-and-set on the bus); on a conflict the core decides again."""
        await self.settled(live)
        for _ in range(DECIDE_ATTEMPTS):
            kind, by, data = decision(live.state)
            try:
                return await self.publish(live.state.sid, kind, by, data, private_to,
                                          expect=live.state.dseq)
            except Stale as stale:
                await self._wait_for(live, stale.seq, 2.0)
                if live.state.seq >= stale.seq and live.state.dseq != stale.dseq:
                    # After the bus was re-seeded its version is the seeding node's; adopt it.
                    live.state.dseq = stale.dseq
        raise RequestError(ErrorCode.CONFLICT, "the session kept changing; try again")

    async def _kept(self, sid: str) -> bool:
        keep = self._keep.get(sid)
        if keep is None:
            try:
                meta = await self._bus.meta(sid)
            except Unavailable as err:
                raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
            keep = bool(meta and meta.keep)
            if len(self._keep) > 10_000:
                self._keep.clear()
            self._keep[sid] = keep
        return keep

    async def _reseed(self, sid: str) -> None:
        """The bus lost the session's counter: start it again above every seq known, under a new
        epoch, and have this node's members resume (their positions are of the old epoch)."""
        live = self._live.get(sid)
        stored = await self._source.load(sid)
        above = max(stored.events[-1].seq if stored and stored.events else 0,
                    live.state.seq if live else 0)
        if live is not None:
            meta = SessionMeta(live.state.learner, live.state.question_id, live.keep,
                               live.state.question_version)
            dseq = live.state.dseq
        elif stored is not None:
            meta = SessionMeta(stored.facts.learner, stored.question_id, stored.keep,
                               stored.question_version)
            dseq = 0
        else:
            raise RequestError(ErrorCode.UNAVAILABLE, "the session's history was lost")
        position = await self._bus.seed(sid, meta, above, dseq)
        log.warning("session %s re-seeded above seq %d, epoch %d", sid, above, position.epoch)
        if live is not None:
            self._restart(live, position.epoch, position.seq)

    async def _seen(self, live: LiveSession, event: Event) -> None:
        """Wait until the mirror holds the event just published, so the publisher reads its own
        write; a subscription that lost it is refilled from history."""
        if not await self._wait_for(live, event.seq, 1.0):
            await self._refill(live)

    async def _wait_for(self, live: LiveSession, seq: int, seconds: float) -> bool:
        with anyio.move_on_after(seconds):
            while live.state.seq < seq:
                await live.moved.wait()
            return True
        return False

    # Receiving

    def _receive(self, event: Event) -> None:
        arriving = self._arriving.get(event.sid)
        if arriving is not None:
            arriving.append(event)
            return
        live = self._live.get(event.sid)
        if live is not None:
            self._receive_all(live, (event,))

    def _receive_all(self, live: LiveSession, events: Iterable[Event]) -> None:
        for event in events:
            if event.epoch != live.order.epoch:
                if event.seq > live.order.seq:
                    # Another node re-seeded the session: continue in the new epoch.
                    self._restart(live, event.epoch, event.seq - 1)
                else:
                    continue
            for ready in live.order.offer(event):
                self._fan_out(live, ready)
        if live.order.gap and not live.refilling:
            live.refilling = True
            self._tasks.start_soon(self._refill, live)

    async def _refill(self, live: LiveSession) -> None:
        """Fetch what the subscription missed; when history cannot say, members resume."""
        live.refilling = True
        try:
            events = await self._bus.events_since(live.state.sid, live.order.seq)
            if live.keep and (not events or events[0].seq > live.order.seq + 1):
                stored = await self._source.events(live.state.sid, live.order.seq)
                events = [e for e in stored if e.epoch == live.order.epoch] + events
            self._receive_all_in_order(live, events)
            if live.order.gap:
                held = live.order.held_from or live.order.seq + 1
                log.warning("session %s: events %d..%d cannot be had; members resume",
                            live.state.sid, live.order.seq + 1, held - 1)
                self._restart(live, live.order.epoch, held - 1)
                self._receive_all_in_order(live, ())
        except (Unavailable, RequestError) as err:
            log.warning("refill of %s failed: %s", live.state.sid, err)
        except Exception:
            log.exception("refill of %s failed", live.state.sid)
        finally:
            live.refilling = False

    def _receive_all_in_order(self, live: LiveSession, events: Iterable[Event]) -> None:
        for event in events:
            if event.epoch == live.order.epoch:
                for ready in live.order.offer(event):
                    self._fan_out(live, ready)

    def _restart(self, live: LiveSession, epoch: int, seq: int) -> None:
        """Continue the mirror at a new place; members' positions are void, so they resume."""
        live.order.restart(epoch, seq)
        live.state.epoch, live.state.seq = epoch, seq
        for member in tuple(live.members.values()):
            member.connection.close(CloseCode.RESTARTING, "the session's history moved on; resume")

    async def resync(self) -> None:
        """After the bus reconnected: refill every session; members of one whose history was
        lost resume under its new epoch."""
        for sid, live in list(self._live.items()):
            try:
                position = await self._bus.position(sid)
                if position is None:
                    await self._reseed(sid)
                elif position.epoch != live.order.epoch:
                    self._restart(live, position.epoch, position.seq)
                elif position.seq > live.order.seq:
                    await self._refill(live)
            except RequestError as err:
                log.warning("resync of %s failed: %s", sid, err.message)
                if err.code is ErrorCode.UNAVAILABLE:
                    raise Unavailable(err.message) from None

    def _fan_out(self, live: LiveSession, event: Event) -> None:
        if self._traced and event.trace is not None:
            parent = _propagator.extract({"traceparent": event.trace})
            with _tracer.start_as_current_span(
                    "session.deliver", context=parent, kind=trace.SpanKind.CONSUMER,
                    attributes={"wingman.sid": event.sid, "wingman.seq": event.seq,
                                "wingman.event": event.kind, "wingman.node": self.node_id,
                                "wingman.members": len(live.members)}):
                self._deliver(live, event)
        else:
            self._deliver(live, event)

    def _deliver(self, live: LiveSession, event: Event) -> None:
        if not _fold(live.state, event):
            return
        live.moved.set()
        live.moved = anyio.Event()
        for watcher in self.watchers:
            try:
                watcher(live, event)
            except Exception:
                log.exception("a watcher of %s failed on seq %d", event.sid, event.seq)
        try:
            frame = encode_event(event)
        except (TypeError, ValueError, msgspec.EncodeError):
            # Sources clean what they publish; should one slip, the publisher must not fail.
            log.exception("event %s/%s cannot be encoded", event.sid, event.seq)
            return
        hidden: bytes | None = None
        sent = 0
        for member in tuple(live.members.values()):
            if member.pending is not None:
                member.pending.append(event)
                continue
            if event.readable_by(member.connection.user):
                member.connection.send(frame, event.ts)
            else:
                hidden = hidden or encode_event(event.redacted())
                member.connection.send(hidden, event.ts)
            sent += 1
        counts = self.counts
        counts.received += 1
        counts.delivered += sent

    async def _save_snapshot(self, live: LiveSession) -> None:
        try:
            await self._bus.save_snapshot(live.state.sid, live.state.seq, live.state.to_blob())
        except Unavailable as err:
            log.info("snapshot of %s not saved: %s", live.state.sid, err)

    # Members

    async def join(self, connection: Connection, live: LiveSession, role: Role, ref: Ref,
                   since: Since | None, invisible: bool = False) -> None:
        """Reply first, then every missed event, then live ones: no gap, no duplicate."""
        sid = live.state.sid
        previous = live.members.get(connection.id)
        here_already = live.local(connection.user, role, but=connection.id)
        if role is Role.OBSERVER and previous is None and not here_already:
            watching = await self._observers(sid)
            if connection.user not in watching and len(watching) >= self._max_observers:
                raise RequestError(ErrorCode.BUSY, "this session has as many observers as it "
                                   "may have", limit=self._max_observers)
        member = Member(connection, role, invisible=invisible, pending=[])
        live.members[connection.id] = member
        connection.joined.add(sid)
        try:
            missed = await self._missed(live, since) if since is not None else None
            first = False
            if previous is None and not here_already:
                first = await self._presence.enter(sid, connection.user, role, not invisible)
        except BaseException as err:
            live.members.pop(connection.id, None)
            if previous is not None:
                live.members[connection.id] = previous
            else:
                connection.joined.discard(sid)
            if isinstance(err, Unavailable):
                raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None
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
        if first and not invisible and not state.ended:
            await self.publish(sid, "presence.join", Actor(connection.user, role),
                               {"user": connection.user, "role": role.value,
                                "name": connection.identity.name})

    async def _observers(self, sid: str) -> set[str]:
        try:
            return await self._presence.observers(sid)
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None

    async def _missed(self, live: LiveSession, since: Since) -> list[Event] | None:
        """Events after `since` up to the mirror, from the bus's history or storage before it;
        None when neither reaches back (or `since` is of another epoch). Later ones reach the
        member through its pending buffer."""
        sid, until = live.state.sid, live.state.seq
        missed = await self._bus.history(sid, since.epoch, since.seq)
        if missed is not None or not live.keep or since.epoch != live.state.epoch:
            return missed
        stored = [e for e in await self._source.events(sid, since.seq)
                  if e.epoch == since.epoch]
        last = stored[-1].seq if stored else since.seq
        tail = [e for e in await self._bus.events_since(sid, last) if e.epoch == since.epoch]
        events = stored + [e for e in tail if e.seq > last]
        contiguous = [e.seq for e in events] == list(range(since.seq + 1,
                                                           since.seq + 1 + len(events)))
        reaches = (events[-1].seq if events else since.seq) >= until
        return events if contiguous and reaches else None

    def _send_to(self, member: Member, event: Event) -> None:
        shown = event if event.readable_by(member.connection.user) else event.redacted()
        member.connection.send(encode_event(shown))
        self.counts.delivered += 1

    async def leave(self, connection: Connection, sid: str) -> bool:
        """Take the connection out of the session; True when that was the learner's last
        connection to it on any node (the learner has left)."""
        live = self._live.get(sid)
        connection.joined.discard(sid)
        if live is None:
            return False
        member = live.members.pop(connection.id, None)
        if member is None or live.local(connection.user, member.role):
            return False
        try:
            last = await self._presence.exit(sid, connection.user, member.role)
        except Unavailable as err:
            log.info("presence of %s in %s not cleared: %s", connection.user, sid, err)
            return False
        if live.state.ended:
            if not live.members:
                await self.detach(sid)
            return False
        if last and not member.invisible:
            try:
                await self.publish(sid, "presence.leave", Actor(connection.user, member.role),
                                   {"user": connection.user, "role": member.role.value})
            except RequestError as err:
                log.info("presence.leave not published for %s: %s", sid, err.message)
        return last and member.role is Role.LEARNER

    async def disconnect(self, connection: Connection) -> list[str]:
        """Leave every session; the ones the learner has now left altogether."""
        return [sid for sid in tuple(connection.joined) if await self.leave(connection, sid)]

    async def forsake(self, sid: str, node_id: str,
                      drop: Callable[[str, str], Awaitable[list[tuple[str, Role]]]]) -> None:
        """Clean up after a dead node: end its run and tutor turn in `sid`, and say that the
        people it held there left (unless they are still present through another node)."""
        owners = await self._bus.owners(sid)
        try:
            if owners.run and owners.run_node == node_id:
                await self.publish(sid, "run.finished", SYSTEM, lost_run(owners.run))
            if owners.turn and owners.turn_node == node_id:
                await self.publish(sid, "tutor.turn.end", TUTOR, {"turn_id": owners.turn})
            for user, role in await drop(sid, node_id):
                await self.publish(sid, "presence.leave", Actor(user, role),
                                   {"user": user, "role": role.value})
        except RequestError as err:
            if err.code is not ErrorCode.CONFLICT:  # an ended session needs nothing more
                raise

    def idle(self, now_ms: int, idle_ms: int) -> list[str]:
        return [sid for sid, live in self._live.items()
                if not live.state.ended and live.state.active_run is None
                and now_ms - live.state.last_activity_ms >= idle_ms]


def lost_run(run_id: str) -> dict[str, Any]:
    """A run whose node is gone: it finished, nobody knows how."""
    return {"run_id": run_id, "exit_code": None, "duration_ms": 0, "peak_memory_kib": 0,
            "limit": "lost", "tests": []}


def _fold(state: SessionState, event: Event) -> bool:
    try:
        return state.apply(event)
    except Exception:
        log.exception("event %s/%s could not be folded into the state", event.sid, event.seq)
        state.epoch, state.seq = event.epoch, event.seq
        return True


def canonical_sid(sid: str) -> str | None:
    """The one spelling of a session id (ids arrive from clients in any case and form)."""
    try:
        return str(uuid.UUID(sid))
    except ValueError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)
