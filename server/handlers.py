"""What each request does: check rights, ask the core, publish. One function per request type."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import uuid6

from realtime.codes import ErrorCode, RequestError
from realtime.connection import Connection
from realtime.envelope import Actor, Role
from realtime.hub import LiveSession, canonical_sid
from realtime.requests import (
    AnyRequest,
    CodeRun,
    CodeUpdate,
    HintRequest,
    JoinRole,
    Ping,
    RunCancel,
    SessionCreate,
    SessionEnd,
    SessionJoin,
    SessionLeave,
    TutorAsk,
)
from realtime.rights import Action, require
from server.node import Node
from tutor.content import Question


class Replied:
    """Returned by a handler that sent its reply itself (a join orders reply before events)."""


REPLIED = Replied()
Result = dict[str, Any] | Replied
Handler = Callable[[Node, Connection, Any], Awaitable[Result]]


async def _joined_session(node: Node, conn: Connection, sid: str, action: Action) -> LiveSession:
    live = await node.hub.get(sid)
    require(conn.identity, action, live.facts)
    if action is Action.WORK and live.state.ended:
        raise RequestError(ErrorCode.CONFLICT, "the session has ended")
    return live


def _question(node: Node, live: LiveSession) -> Question:
    question = node.bank.get(live.state.question_id)
    if question is None:
        raise RequestError(ErrorCode.NOT_FOUND, "the session's question is no longer published")
    return question


def _learner(conn: Connection) -> Actor:
    return Actor(conn.user, Role.LEARNER)


async def ping(node: Node, conn: Connection, req: Ping) -> Result:
    return {"ts": int(time.time() * 1000)}


async def session_create(node: Node, conn: Connection, req: SessionCreate) -> Result:
    require(conn.identity, Action.CREATE)
    question = node.bank.get(req.question_id)
    if question is None:
        raise RequestError(ErrorCode.NOT_FOUND, "no such question", field="question_id")
    user = await node.users.by_id(conn.user)
    if user is None:
        raise RequestError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    sid = str(uuid6.uuid7())
    if user.consent:
        await node.sessions.add(sid, conn.user, question.id, question.version)
    live = await node.hub.create(sid, conn.user, question.id, keep=user.consent)
    await node.hub.publish(sid, "code.updated", _learner(conn), {"code": question.starter})
    return {"sid": sid, "kept": live.keep}


async def session_join(node: Node, conn: Connection, req: SessionJoin) -> Result:
    live = await node.hub.get(req.sid)
    if req.role is JoinRole.LEARNER:
        require(conn.identity, Action.JOIN_LEARNER, live.facts)
        role = Role.LEARNER
    else:
        require(conn.identity, Action.OBSERVE, live.facts)
        role = Role.ADMIN if "admin" in conn.identity.roles else Role.OBSERVER
    await node.hub.join(conn, live, role, req.ref, req.since)
    return REPLIED


async def session_leave(node: Node, conn: Connection, req: SessionLeave) -> Result:
    sid = canonical_sid(req.sid)
    if sid is None or sid not in conn.joined:
        raise RequestError(ErrorCode.NOT_FOUND, "you are not in that session")
    await node.hub.leave(conn, sid)
    return {}


async def session_end(node: Node, conn: Connection, req: SessionEnd) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.END)
    who = "admin" if conn.user != live.facts.learner else "learner"
    await node.end_session(live.state.sid, f"ended by the {who}")
    return {}


async def code_update(node: Node, conn: Connection, req: CodeUpdate) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    data: dict[str, Any] = {"code": req.code}
    if req.cursor is not None:
        data["cursor"] = req.cursor
    event = await node.hub.publish(live.state.sid, "code.updated", _learner(conn), data)
    return {"seq": event.seq}


async def code_run(node: Node, conn: Connection, req: CodeRun) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    code = req.code if req.code is not None else live.state.code
    run_id = await node.runs.start(live, _learner(conn), _question(node, live), req.mode, code,
                                   req.stdin)
    return {"run_id": run_id}


async def run_cancel(node: Node, conn: Connection, req: RunCancel) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.CANCEL_RUN)
    node.runs.cancel(live.state.sid, req.run_id)
    return {}


async def tutor_ask(node: Node, conn: Connection, req: TutorAsk) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    turn_id = await node.tutor.ask(live, _learner(conn), _question(node, live), req.text)
    return {"turn_id": turn_id}


async def hint_request(node: Node, conn: Connection, req: HintRequest) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    return await node.tutor.hint(live, _learner(conn), _question(node, live))


HANDLERS: dict[type[AnyRequest], Handler] = {
    Ping: ping,
    SessionCreate: session_create,
    SessionJoin: session_join,
    SessionLeave: session_leave,
    SessionEnd: session_end,
    CodeUpdate: code_update,
    CodeRun: code_run,
    RunCancel: run_cancel,
    TutorAsk: tutor_ask,
    HintRequest: hint_request,
}
