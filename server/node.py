"""One node: every resource opened at start, wired together, closed at the end."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from realtime.bus import Bus, InProcessBus, Unavailable
from realtime.bus_redis import RedisBus
from realtime.envelope import SYSTEM, Event
from realtime.hub import SessionHub, StoredSession
from realtime.idempotency import Replies, ReplyCache
from realtime.idempotency_redis import RedisReplyCache
from realtime.keys import trace_stream_names
from realtime.monitor import LocalBoard, MonitorBoard
from realtime.monitor_redis import RedisBoard
from realtime.presence import LocalPresence, Presence
from realtime.presence_redis import RedisPresence
from realtime.ratelimit import InProcessLimiter, RateLimiter
from realtime.ratelimit_redis import RedisLimiter
from realtime.redis_client import RedisClient, connect_redis
from realtime.registry import NodeRegistry
from realtime.rights import SessionFacts
from realtime.roster import Roster
from realtime.state import SessionState
from sandbox import Limits, Sandbox, open_process_sandbox
from sandbox.docker import EngineUnavailable, open_docker_sandbox
from server import metrics, tracing
from server.bank import QuestionBank, shipped_questions
from server.clock import clock_for
from server.embedders import open_embedder
from server.learning import LearningService
from server.mail import MailSender, open_mail
from server.metrics import MeteredSandbox, watch_node
from server.moments import MomentReporter
from server.monitoring import SessionMonitor
from server.notices import Notifier
from server.pii_keys import load_sealer
from server.reminders import ReminderJob, StoredDueReviews
from server.runs import RunService
from server.settings import SandboxBackend, Settings
from server.tokens import TokenIssuer, load_signing_keys
from server.trace_process import TraceWriterProcesses
from server.trace_streams import StreamTraceWriter, WriterObserver, event_row
from server.tutoring import TutorService
from storage.db import Pool, open_pool, resolve_url
from storage.email_tokens import EmailTokenStore
from storage.erasure import Erasure
from storage.invites import InviteStore
from storage.keycheck import check_keys
from storage.migrate import migrate
from storage.notifications import NotificationStore
from storage.pii import PiiSealer
from storage.profiles import ProfileStore
from storage.questions import QuestionStore
from storage.refresh import RefreshTokenStore
from storage.resealing import seal_plaintext
from storage.retention import TraceRetention
from storage.revocations import Revocations
from storage.sessions import SessionStore
from storage.trace import TraceReader, TraceStore, TraceWriter, Written
from storage.users import UserStore
from tutor.moments import MomentRules
from tutor.scheduling import scheduler_named

log = logging.getLogger("wingman.node")


class EventTrace:
    """The hub's trace sink without Redis: session events as rows for the in-process writer."""

    def __init__(self, writer: TraceWriter) -> None:
        self._writer = writer

    def has_room(self) -> bool:
        if self._writer.has_room():
            return True
        metrics.TRACE_REFUSED.inc()
        _log_backlog(f"{self._writer.lag} events queued for Postgres")
        return False

    def offer(self, event: Event) -> bool:
        return self._writer.add(event_row(event))


class StreamedTrace:
    """The hub's trace sink with Redis: the bus's publish script appends kept events to their
    trace stream itself, and refuses them (unavailable) when the stream is at its bound."""

    def has_room(self) -> bool:
        return True

    def offer(self, event: Event) -> bool:
        return True


_backlog_logged = 0.0


def _log_backlog(what: str) -> None:
    """A full trace backlog refuses events by the thousand; say so every few seconds only."""
    global _backlog_logged
    now = time.monotonic()
    if now - _backlog_logged >= 5.0:
        _backlog_logged = now
        log.error("trace backlog at its bound (%s): events are refused as unavailable until "
                  "the writers catch up with Postgres", what)


class StoredSessions:
    """The hub's view of storage: kept sessions and their traces."""

    def __init__(self, sessions: SessionStore, traces: TraceReader) -> None:
        self._sessions = sessions
        self._traces = traces

    async def load(self, sid: str) -> StoredSession | None:
        record = await self._sessions.get(sid)
        if record is None:
            return None
        return StoredSession(SessionFacts(learner=record.learner), record.question_id,
                             keep=True, ended=record.ended_at is not None,
                             events=await self.events(sid, 0),
                             question_version=record.question_version)

    async def events(self, sid: str, after_seq: int) -> list[Event]:
        events: list[Event] = []
        while True:
            page = await self._traces.events(sid, after=after_seq, limit=5000)
            events.extend(msgspec.convert(e, Event) for e in page)
            if len(page) < 5000:
                return events
            after_seq = page[-1]["seq"]


@dataclass
class Node:
    settings: Settings
    pool: Pool
    users: UserStore
    sessions: SessionStore
    traces: TraceReader
    trace_writer: TraceWriter
    bank: QuestionBank
    question_store: QuestionStore
    tokens: TokenIssuer
    refresh: RefreshTokenStore
    revocations: Revocations
    erasure: Erasure
    roster: Roster
    hub: SessionHub
    runs: RunService
    tutor: TutorService
    replies: Replies
    limiter: RateLimiter
    sandbox: Sandbox
    tasks: TaskGroup
    mail: MailSender
    email_tokens: EmailTokenStore
    bus: Bus
    registry: NodeRegistry | None
    invites: InviteStore
    profiles: ProfileStore
    notifications: NotificationStore
    notifier: Notifier
    learning: LearningService
    monitor: SessionMonitor
    moments: MomentReporter
    redis: RedisClient | None = None
    # Set on SIGTERM: /readyz answers 503 while the node still serves what it holds.
    draining: bool = False

    async def end_session(self, sid: str, reason: str) -> None:
        live = await self.hub.get(sid)
        sid = live.state.sid
        if live.state.ended:
            return
        await self.runs.stop(sid)
        await self.hub.publish(sid, "session.ended", SYSTEM, {"reason": reason})
        if live.keep:
            await self.sessions.end(sid, reason)
            await self._grade(sid, live.facts.learner, live.state)
        await self.hub.detach(sid)

    async def _grade(self, sid: str, learner: str, state: SessionState) -> None:
        """The session's review item and mastery, from what happened (consent permitting)."""
        question = await self.bank.pinned(state.question_id, state.question_version)
        record = await self.sessions.get(sid)
        if question is None or record is None:
            return
        try:
            await self.learning.session_ended(sid, learner, state, question, record.created_at)
        except Exception:
            log.exception("could not grade session %s", sid)


async def prepare_database(settings: Settings, sealer: PiiSealer) -> Pool:
    url = await resolve_url(settings.database_url, settings.data_dir)
    pool = await open_pool(url)
    try:
        await migrate(pool)
        await check_keys(pool, sealer)
        sealed = await seal_plaintext(pool, sealer)
    except BaseException:
        await pool.close()
        raise
    if sealed:
        log.info("sealed the email and name of %d users", sealed)
    added = await QuestionStore(pool).load([msgspec.to_builtins(q) for q in shipped_questions()])
    if added:
        log.info("loaded %d questions into the bank", added)
    return pool


async def open_sandbox(settings: Settings) -> Sandbox:
    """The backend SANDBOX_BACKEND names, refusing to start when it cannot enforce its limits;
    `auto` (the laptop default) takes Docker when an engine answers, else the process one."""
    limits = Limits(wall_seconds=settings.run_wall_seconds, memory_bytes=settings.run_memory_bytes,
                    processes=settings.run_processes, output_bytes=settings.run_output_bytes)
    backend = settings.sandbox_backend
    if backend is not SandboxBackend.PROCESS:
        try:
            docker = await open_docker_sandbox(
                limits, settings.sandbox_image, settings.node_id, slots=settings.sandbox_slots,
                waiting=settings.sandbox_queue, per_owner=settings.sandbox_runs_per_user,
                pool_size=settings.sandbox_pool, cpus=settings.sandbox_cpus,
                url=settings.docker_host)
        except EngineUnavailable as exc:
            if backend is SandboxBackend.DOCKER:
                raise RuntimeError(f"SANDBOX_BACKEND=docker, but {exc}") from exc
            log.info("docker sandbox unavailable (%s); using the process sandbox", exc)
        else:
            return MeteredSandbox(docker)
    return MeteredSandbox(open_process_sandbox(
        limits, slots=settings.sandbox_slots, strict=backend is SandboxBackend.PROCESS,
        first_uid=settings.sandbox_first_uid, waiting=settings.sandbox_queue,
        per_owner=settings.sandbox_runs_per_user))


@asynccontextmanager
async def open_node(settings: Settings) -> AsyncIterator[Node]:
    # Resolved once: the trace writer processes use the same database.
    settings = settings.model_copy(update={
        "database_url": await resolve_url(settings.database_url, settings.data_dir)})
    sealer = load_sealer(settings)
    pool = await prepare_database(settings, sealer)
    sandbox = await open_sandbox(settings)
    users, sessions = UserStore(pool, sealer), SessionStore(pool)
    questions = QuestionStore(pool)
    bank = await QuestionBank.open(questions)
    traces = TraceReader(pool)
    learning = LearningService(
        pool, users, bank.questions, open_embedder(settings.embedder),
        scheduler_named(settings.review_scheduler), settings.diagnostic_length,
        settings.retrieval_lesson_similarity, settings.retrieval_mistake_similarity)
    store = TraceStore(pool)
    store.on_set_aside = lambda reason: metrics.TRACE_DEAD_LETTERS.labels(reason).inc()
    writer = TraceWriter(store, settings.trace_batch, settings.trace_flush_seconds,
                         settings.trace_queue_events)
    writer.on_batch = _count_batch

    tokens = TokenIssuer(load_signing_keys(settings.jwt_keys, settings.data_path("jwt-keys.json")),
                         settings.jwt_issuer, settings.jwt_audience, settings.access_token_seconds)
    refresh = RefreshTokenStore(pool, timedelta(days=settings.refresh_token_days),
                                timedelta(seconds=settings.refresh_grace_seconds))
    revocations = Revocations(pool)
    roster = Roster()
    profiles, notifications = ProfileStore(pool, sealer), NotificationStore(pool)
    # Limits are shared by all nodes through Redis; without it, each node counts alone.
    redis = connect_redis(settings.redis_url, settings.redis_cluster,
                          settings.redis_connections) if settings.redis_url else None
    limiter: RateLimiter = RedisLimiter(redis) if redis is not None else InProcessLimiter()
    bus: Bus
    presence: Presence
    registry: NodeRegistry | None = None
    board: MonitorBoard = RedisBoard(redis) if redis is not None else LocalBoard()
    stream_writer: StreamTraceWriter | TraceWriterProcesses | None = None
    writer_observer = WriterObserver(_count_batch,
                                     lambda stream, n: metrics.TRACE_LAG.labels(stream).set(n))
    if redis is not None:
        bus = RedisBus(redis, settings.node_id, settings.history_events,
                       settings.history_lifetime_seconds, settings.trace_streams,
                       settings.trace_stream_bound)
        bus.on_trace_full = _trace_stream_full
        if settings.trace_writer and settings.trace_writer_processes > 0:
            assert settings.database_url is not None
            stream_writer = TraceWriterProcesses(settings, settings.database_url,
                                                 writer_observer, store.on_set_aside)
        elif settings.trace_writer:
            stream_writer = StreamTraceWriter(
                redis, store, settings.node_id, trace_stream_names(settings.trace_streams),
                settings.trace_batch, settings.trace_flush_seconds,
                settings.trace_claim_idle_seconds, settings.trace_writer_tasks,
                settings.trace_read_chunk, writer_observer)
        presence = RedisPresence(redis, settings.node_id, settings.node_ttl_seconds,
                                 settings.history_lifetime_seconds, settings.trace_streams)
        registry = NodeRegistry(redis, settings.node_id, settings.node_ttl_seconds)
    else:
        bus, presence = InProcessBus(settings.history_events, settings.node_id), LocalPresence()
    try:
        async with open_mail(settings) as mail, anyio.create_task_group() as tasks:
            sink = StreamedTrace() if redis is not None else EventTrace(writer)
            hub = SessionHub(bus, presence, sink, StoredSessions(sessions, traces),
                             bank.pinned_for_learner, tasks, settings.snapshot_every,
                             settings.max_observers, holds=_holder(registry),
                             traced=tracing.enabled(),
                             moment_rules=_moment_rules(settings))
            node = Node(
                settings=settings, pool=pool, users=users, sessions=sessions, traces=traces,
                trace_writer=writer, bank=bank, question_store=questions, tokens=tokens,
                refresh=refresh, revocations=revocations, erasure=Erasure(pool), roster=roster,
                hub=hub,
                runs=RunService(hub, bus, sandbox, tasks, settings.sandbox_queue,
                                settings.run_wall_seconds),
                tutor=TutorService(hub, tasks, settings.tutor_delta_seconds, learning.retrieve),
                replies=RedisReplyCache(redis, settings.idempotency_seconds)
                if redis is not None else ReplyCache(settings.idempotency_seconds),
                limiter=limiter,
                sandbox=sandbox, tasks=tasks, mail=mail, email_tokens=EmailTokenStore(pool),
                invites=InviteStore(pool), bus=bus, registry=registry,
                profiles=profiles, notifications=notifications,
                notifier=Notifier(notifications, profiles, roster), learning=learning, redis=redis,
                monitor=SessionMonitor(hub, board, bank.title, lambda: len(roster),
                                       settings.monitor_interval_seconds,
                                       settings.monitor_node_seconds,
                                       settings.monitor_refresh_seconds),
                moments=MomentReporter(hub, tasks, settings.moment_tick_seconds))
            unwatch = watch_node(node)
            tasks.start_soon(board.run)
            tasks.start_soon(node.monitor.run)
            tasks.start_soon(node.moments.run)
            if isinstance(bus, RedisBus):
                bus.on_control = node.runs.on_control
                bus.on_resubscribed = hub.resync
                tasks.start_soon(bus.run)
                tasks.start_soon(_cluster_duties, node, presence)
            else:
                bus.on_control = node.runs.on_control
            if redis is None:
                metrics.TRACE_LAG.labels("queue").set_function(lambda: writer.lag)
                tasks.start_soon(writer.run)
            elif stream_writer is not None:
                tasks.start_soon(stream_writer.run)
            if settings.trace_retention_interval_seconds > 0:
                tasks.start_soon(_retention_schedule, settings, pool)
            tasks.start_soon(index_content, learning)
            tasks.start_soon(_end_idle_sessions, node)
            tasks.start_soon(revocations.listen, lambda user: roster.sign_out(
                user, "signed out everywhere"))
            tasks.start_soon(node.notifier.listen)
            tasks.start_soon(ReminderJob(
                pool, profiles, users, StoredDueReviews(pool, bank.title), node.notifier, mail,
                clock_for(settings.reminder_clock_file),
                timedelta(minutes=settings.reminder_window_minutes),
                settings.public_base()).run, settings.reminder_check_seconds)
            try:
                yield node
            finally:
                unwatch()
                with anyio.CancelScope(shield=True):
                    await node.runs.stop_all()
                    if registry is not None:
                        with contextlib.suppress(Unavailable):
                            await registry.leave()
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if not await writer.flush():
                log.error("trace writer could not flush %d events before stopping", writer.lag)
            await sandbox.aclose()
            await pool.close()
            if redis is not None:
                await redis.aclose()


def _moment_rules(settings: Settings) -> MomentRules:
    return MomentRules(same_error_runs=settings.moment_same_error_runs,
                       idle_seconds=settings.moment_idle_seconds,
                       hint_burst=settings.moment_hint_burst,
                       hint_window_seconds=settings.moment_hint_window_seconds)


def _count_batch(written: Written) -> None:
    metrics.TRACE_BATCH.observe(written.rows + written.set_aside)
    metrics.TRACE_WRITTEN.inc(written.rows)


def _trace_stream_full(sid: str) -> None:
    metrics.TRACE_REFUSED.inc()
    _log_backlog(f"the trace stream of session {sid}")


def open_retention(settings: Settings, pool: Pool) -> TraceRetention:
    return TraceRetention(pool, settings.trace_retention_days,
                          settings.trace_partitions_ahead_days,
                          settings.trace_retention_lock_timeout_seconds, settings.node_id)


async def run_retention(retention: TraceRetention, now: datetime) -> dict[str, Any]:
    """One run of the retention job, counted; what it did (or that another node was at it)."""
    report = await retention.run(now)
    metrics.RETENTION_RUNS.labels("done" if report.ran else "skipped").inc()
    metrics.RETENTION_PARTITIONS.inc(len(report.dropped))
    metrics.RETENTION_EVENTS.inc(report.events_removed)
    if report.ran:
        log.info("trace retention as of %s: %s", report.as_of, report.to_dict())
    return report.to_dict()


async def _retention_schedule(settings: Settings, pool: Pool) -> None:
    """The retention job inside the server: soon after start (so the week ahead has its
    partitions), then every interval; the advisory lock lets one node at a time do it."""
    retention = open_retention(settings, pool)
    await anyio.sleep(min(5.0, settings.trace_retention_interval_seconds))
    while True:
        try:
            await run_retention(retention, datetime.now(UTC))
        except Exception:
            metrics.RETENTION_RUNS.labels("failed").inc()
            log.exception("trace retention run failed; trying again next time")
        await anyio.sleep(settings.trace_retention_interval_seconds)


def _holder(registry: NodeRegistry | None) -> Callable[[str, bool], Awaitable[None]] | None:
    """Tell the registry which sessions this node serves, for whoever cleans up after it."""
    if registry is None:
        return None
    reg = registry

    async def holds(sid: str, held: bool) -> None:
        await (reg.holds(sid) if held else reg.releases(sid))

    return holds


async def _cluster_duties(node: Node, presence: Presence) -> None:
    """Beat (registry and presence), and clean up after nodes whose beat stopped."""
    registry = node.registry
    assert registry is not None and isinstance(presence, RedisPresence)
    while True:
        await anyio.sleep(node.settings.node_heartbeat_seconds)
        try:
            await registry.beat({"connections": len(node.roster), "sessions": len(node.hub.live),
                                 "runs": node.runs.active})
            await presence.heartbeat()
            for dead in await registry.dead():
                sids = await registry.claim(dead)
                if sids is None:
                    continue
                log.warning("node %s is gone; ending its runs and presence in %d sessions",
                            dead, len(sids))
                for sid in sids:
                    try:
                        await node.hub.forsake(sid, dead, presence.drop_node)
                    except Exception:
                        log.exception("could not clean up %s after node %s", sid, dead)
                await registry.forget(dead)
        except Unavailable as err:
            log.warning("cluster duties skipped: %s", err)


async def index_content(learning: LearningService) -> None:
    try:
        changed = await learning.index()
    except Exception:
        log.exception("could not index the questions and lessons for search")
    else:
        if changed:
            log.info("embedded %d questions and lessons (%s)", changed, learning.embedder.name)


async def _end_idle_sessions(node: Node) -> None:
    idle_ms = int(node.settings.session_idle_seconds * 1000)
    period = max(1.0, min(30.0, node.settings.session_idle_seconds / 4))
    while True:
        await anyio.sleep(period)
        for sid in node.hub.idle(int(time.time() * 1000), idle_ms):
            try:
                await node.end_session(sid, "idle")
            except Exception:
                log.exception("could not end idle session %s", sid)
        try:
            await node.hub.sweep(node.settings.detach_after_seconds, node.runs.busy)
        except Exception:
            log.exception("could not sweep sessions")
