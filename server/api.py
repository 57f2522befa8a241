"""HTTP routes beside the socket: questions, one's sessions, a session's trace, health."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from realtime.connection import Identity
from realtime.rights import Action, SessionFacts, allowed
from server.access import bearer
from server.accounts import error
from server.node import Node
from storage.questions import State

Authenticated = Callable[[Request, Identity, Node], Awaitable[Response]]


def authenticated(handler: Authenticated) -> Callable[[Request], Awaitable[Response]]:
    """A route for people with a valid Bearer access token; 401 for everyone else."""

    async def route(request: Request) -> Response:
        who = await bearer(request)
        if who is None:
            return error(401, ErrorCode.UNAUTHENTICATED, "log in first (a Bearer access token)")
        return await handler(request, who, request.app.state.node)

    return route


@authenticated
async def questions(request: Request, who: Identity, node: Node) -> Response:
    await node.bank.refresh()
    return JSONResponse(node.bank.summaries())


@authenticated
async def question(request: Request, who: Identity, node: Node) -> Response:
    """The offered version; `?version=N` names one (a replay of a session pinned to it): any
    published or retired version, drafts for admins only."""
    qid, asked = request.path_params["qid"], request.query_params.get("version")
    if asked is None:
        await node.bank.refresh()
        found = node.bank.for_learner(qid)
    else:
        if not asked.isdigit():
            return error(400, ErrorCode.BAD_REQUEST, "the version is a whole number",
                         field="version")
        rows = {r.version: r for r in await node.question_store.versions(qid)}
        row = rows.get(int(asked))
        draft = row is not None and row.state is State.DRAFT
        visible = row is not None and (not draft or allowed(who, Action.MANAGE_CONTENT))
        found = await node.bank.pinned_for_learner(qid, int(asked)) if visible else None
    if found is None:
        return error(404, ErrorCode.NOT_FOUND, "no such question")
    return JSONResponse(found)


@authenticated
async def my_sessions(request: Request, who: Identity, node: Node) -> Response:
    listed = []
    for record in await node.sessions.of_learner(who.user):
        q = await node.bank.pinned(record.question_id, record.question_version)
        listed.append({"sid": record.sid, "question_id": record.question_id,
                       "question_version": record.question_version,
                       "title": q.title if q else record.question_id,
                       "created_at": record.created_at.isoformat(),
                       "ended_at": record.ended_at.isoformat() if record.ended_at else None})
    return JSONResponse(listed)


@authenticated
async def trace(request: Request, who: Identity, node: Node) -> Response:
    sid = request.path_params["sid"]
    record = await node.sessions.get(sid)
    if record is None:
        return error(404, ErrorCode.NOT_FOUND, "no stored trace for this session")
    facts = SessionFacts(record.learner)
    if not allowed(who, Action.READ_TRACE, facts) and await node.invites.accepted(
            record.sid, who.user) is not None:
        # A mentor the learner invited (and who accepted) may play the session back.
        facts = SessionFacts(record.learner, frozenset({who.user}))
    if not allowed(who, Action.READ_TRACE, facts):
        return error(403, ErrorCode.FORBIDDEN, "you may not read this session")
    try:
        after = min(max(int(request.query_params.get("after", "0")), 0), 2**62)
        limit = min(max(int(request.query_params.get("limit", "1000")), 1), 5000)
    except ValueError:
        return error(400, ErrorCode.BAD_REQUEST, "after and limit are whole numbers")
    events = await node.traces.events(sid, after=after, limit=limit)
    for event in events:
        if event.get("private_to") not in (None, who.user) and event["by"]["user"] != who.user:
            event["data"] = {"redacted": True}
    following = events[-1]["seq"] if len(events) == limit else None
    question = node.bank.get(record.question_id)
    return JSONResponse({"sid": sid, "question_id": record.question_id,
                         "title": question.title if question else record.question_id,
                         "started_at": record.created_at.isoformat(),
                         "ended_at": record.ended_at.isoformat() if record.ended_at else None,
                         "events": events, "next_after": following})


async def healthz(request: Request) -> Response:
    """The process lives and answers; says nothing of what it depends on."""
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Whether this node should be sent new connections: Postgres and Redis (when configured)
    answer, and it is not draining."""
    node: Node = request.app.state.node
    checks: dict[str, Any] = {"postgres": True, "draining": node.draining}
    try:
        with anyio.fail_after(2):
            await node.pool.fetchval("SELECT 1")
    except Exception:
        checks["postgres"] = False
    if node.redis is not None:
        try:
            with anyio.fail_after(2):
                await node.redis.ping()
            checks["redis"] = True
        except Exception:
            checks["redis"] = False
    ready = checks["postgres"] and checks.get("redis", True) and not node.draining
    return JSONResponse({"ok": ready, **checks, "trace_lag": node.trace_writer.lag},
                        status_code=200 if ready else 503)


routes = [
    Route("/api/questions", questions),
    Route("/api/questions/{qid}", question),
    Route("/api/me/sessions", my_sessions),
    Route("/api/sessions/{sid}/trace", trace),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
]
