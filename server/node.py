"""One node: every resource opened at start, wired together, closed at the end."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import anyio
import msgspec
from anyio.abc import TaskGroup
from redis.asyncio import Redis

from realtime.bus import InProcessBus
from realtime.envelope import SYSTEM, Event
from realtime.hub import SessionHub, StoredSession
from realtime.idempotency import ReplyCache
from realtime.ratelimit import InProcessLimiter, RateLimiter
from realtime.ratelimit_redis import RedisLimiter
from realtime.rights import SessionFacts
from realtime.roster import Roster
from sandbox import Limits, Sandbox, open_process_sandbox
from server.bank import QuestionBank, shipped_questions
from server.mail import MailSender, open_mail
from server.pii_keys import load_sealer
from server.runs import RunService
from server.settings import SandboxBackend, Settings
from server.tokens import TokenIssuer, load_signing_keys
from server.tutoring import TutorService
from storage.db import Pool, open_pool, resolve_url
from storage.email_tokens import EmailTokenStore
from storage.erasure import Erasure
from storage.invites import InviteStore
from storage.keycheck import check_keys
from storage.migrate import migrate
from storage.pii import PiiSealer
from storage.questions import QuestionStore
from storage.refresh import RefreshTokenStore
from storage.resealing import seal_plaintext
from storage.revocations import Revocations
from storage.sessions import SessionStore
from storage.trace import TraceReader, TraceRow, TraceWriter
from storage.users import UserStore

log = logging.getLogger("wingman.node")


class EventTrace:
    """The hub's trace sink: session events as rows for the batched writer."""

    def __init__(self, writer: TraceWriter) -> None:
        self._writer = writer

    def has_room(self) -> bool:
        return self._writer.has_room()

    def offer(self, event: Event) -> bool:
        data = event.data
        if "name" in data:
            # Names are personal data kept sealed in `users`; the trace keeps the user id only.
            data = {k: v for k, v in data.items() if k != "name"}
        return self._writer.add(TraceRow(event.sid, event.seq, event.epoch, event.ts, event.kind,
                                         event.by.user, event.by.role.value, data,
                                         event.private_to))


@dataclass
class Node:
    settings: Settings
    pool: Pool
    users: UserStore
    sessions: SessionStore
    traces: TraceReader
    trace_writer: TraceWriter
    bank: QuestionBank
    tokens: TokenIssuer
    refresh: RefreshTokenStore
    revocations: Revocations
    erasure: Erasure
    roster: Roster
    hub: SessionHub
    runs: RunService
    tutor: TutorService
    replies: ReplyCache
    limiter: RateLimiter
    sandbox: Sandbox
    tasks: TaskGroup
    mail: MailSender
    email_tokens: EmailTokenStore
    invites: InviteStore

    async def end_session(self, sid: str, reason: str) -> None:
        live = await self.hub.get(sid)
        sid = live.state.sid
        if live.state.ended:
            return
        await self.runs.stop(sid)
        await self.hub.publish(sid, "session.ended", SYSTEM, {"reason": reason})
        if live.keep:
            await self.sessions.end(sid, reason)
        self.hub.unload(sid)


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
    limits = Limits(wall_seconds=settings.run_wall_seconds, memory_bytes=settings.run_memory_bytes,
                    processes=settings.run_processes, output_bytes=settings.run_output_bytes)
    strict = settings.sandbox_backend is SandboxBackend.PROCESS
    if settings.sandbox_backend is SandboxBackend.DOCKER:
        raise RuntimeError("the docker sandbox backend is not available in this build")
    return open_process_sandbox(limits, slots=settings.sandbox_slots, strict=strict,
                                first_uid=settings.sandbox_first_uid)


@asynccontextmanager
async def open_node(settings: Settings) -> AsyncIterator[Node]:
    sealer = load_sealer(settings)
    pool = await prepare_database(settings, sealer)
    sandbox = await open_sandbox(settings)
    users, sessions = UserStore(pool, sealer), SessionStore(pool)
    bank = QuestionBank.from_bodies(await QuestionStore(pool).published())
    traces = TraceReader(pool)
    writer = TraceWriter(pool, settings.trace_batch, settings.trace_flush_seconds,
                         settings.trace_queue_events)

    async def load(sid: str) -> StoredSession | None:
        record = await sessions.get(sid)
        if record is None:
            return None
        events: list[Event] = []
        after = 0
        while True:
            page = await traces.events(sid, after=after, limit=5000)
            events.extend(msgspec.convert(e, Event) for e in page)
            if len(page) < 5000:
                break
            after = page[-1]["seq"]
        return StoredSession(SessionFacts(learner=record.learner), record.question_id,
                             keep=True, ended=record.ended_at is not None, events=events)

    hub = SessionHub(InProcessBus(settings.history_events), EventTrace(writer), load,
                     bank.for_learner)
    tokens = TokenIssuer(load_signing_keys(settings.jwt_keys, settings.data_path("jwt-keys.json")),
                         settings.jwt_issuer, settings.jwt_audience, settings.access_token_seconds)
    refresh = RefreshTokenStore(pool, timedelta(days=settings.refresh_token_days),
                                timedelta(seconds=settings.refresh_grace_seconds))
    revocations = Revocations(pool)
    roster = Roster()
    # Limits are shared by all nodes through Redis; without it, each node counts alone.
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    limiter: RateLimiter = RedisLimiter(redis) if redis else InProcessLimiter()
    try:
        async with open_mail(settings) as mail, anyio.create_task_group() as tasks:
            node = Node(
                settings=settings, pool=pool, users=users, sessions=sessions, traces=traces,
                trace_writer=writer, bank=bank, tokens=tokens, refresh=refresh,
                revocations=revocations, erasure=Erasure(pool), roster=roster, hub=hub,
                runs=RunService(hub, sandbox, tasks, settings.sandbox_queue,
                                settings.run_wall_seconds),
                tutor=TutorService(hub, tasks, settings.tutor_delta_seconds),
                replies=ReplyCache(settings.idempotency_seconds), limiter=limiter,
                sandbox=sandbox, tasks=tasks, mail=mail, email_tokens=EmailTokenStore(pool),
                invites=InviteStore(pool))
            tasks.start_soon(writer.run)
            tasks.start_soon(_end_idle_sessions, node)
            tasks.start_soon(revocations.listen, lambda user: roster.sign_out(
                user, "signed out everywhere"))
            try:
                yield node
            finally:
                for sid in list(hub.live):
                    await node.runs.stop(sid)
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if not await writer.flush():
                log.error("trace writer could not flush %d events before stopping", writer.lag)
            await sandbox.aclose()
            await pool.close()
            if redis is not None:
                await redis.aclose()


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
