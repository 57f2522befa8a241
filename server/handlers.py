"""What each request does: check rights, ask the core, publish. One function per request type."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import uuid6

from realtime.codes import ErrorCode, RequestError
from realtime.connection import Connection
from realtime.envelope import Actor, Role
from realtime.frames import encode_message
from realtime.hub import LiveSession, canonical_sid
from realtime.requests import (
    AnyRequest,
    CodeRun,
    CodeUpdate,
    HintRequest,
    JoinRole,
    MentorInvite,
    MentorInviteAccept,
    MentorInviteRevoke,
    MentorInvites,
    MentorNote,
    MonitorSubscribe,
    Ping,
    RunCancel,
    SessionCreate,
    SessionEnd,
    SessionJoin,
    SessionLeave,
    TutorAsk,
)
from realtime.rights import Action, SessionFacts, allowed, require
from server import letters
from server.node import Node
from server.notices import MENTOR_INVITED, notify_quietly
from storage.invites import AlreadyInvited, Invite, TooManyInvites
from tutor.content import Question

log = logging.getLogger("wingman.handlers")


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


async def _question(node: Node, live: LiveSession) -> Question:
    """The version the session started on, even when a newer one is published since."""
    question = await node.bank.pinned(live.state.question_id, live.state.question_version)
    if question is None:
        raise RequestError(ErrorCode.NOT_FOUND, "the session's question is gone")
    return question


def _learner(conn: Connection) -> Actor:
    return Actor(conn.user, Role.LEARNER)


async def _audit(node: Node, conn: Connection, live: LiveSession, action: str,
                 **detail: Any) -> None:
    """What an admin does to a session, told to everyone in it and kept in its trace (the
    name is for the page; the trace keeps the user id only)."""
    await node.hub.publish(live.state.sid, "audit", Actor(conn.user, Role.ADMIN),
                           {"action": action, "by": conn.user, "name": conn.identity.name,
                            **detail})


def _as_admin(conn: Connection, live: LiveSession) -> bool:
    """Whether the caller acts on someone else's session by an admin's right."""
    return conn.user != live.facts.learner and bool({"admin", "system"} & conn.identity.roles)


async def ping(node: Node, conn: Connection, req: Ping) -> Result:
    return {"ts": int(time.time() * 1000)}


async def session_create(node: Node, conn: Connection, req: SessionCreate) -> Result:
    require(conn.identity, Action.CREATE)
    await node.bank.refresh()
    question = node.bank.get(req.question_id)
    if question is None:
        raise RequestError(ErrorCode.NOT_FOUND, "no such question", field="question_id")
    user = await node.users.by_id(conn.user)
    if user is None:
        raise RequestError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    sid = str(uuid6.uuid7())
    review = False
    if user.consent:
        await node.sessions.add(sid, conn.user, question.id, question.version)
        # Review mode counts only for a question the learner has a review item for.
        if req.review and await node.learning.store.review(conn.user, question.id):
            await node.learning.store.mark_review(sid)
            review = True
    live = await node.hub.create(sid, conn.user, question.id, keep=user.consent,
                                 version=question.version)
    await node.hub.publish(sid, "code.updated", _learner(conn), {"code": question.starter})
    return {"sid": sid, "kept": live.keep, "review": review}


async def _with_invite(node: Node, conn: Connection, live: LiveSession,
                       action: Action) -> tuple[SessionFacts, Invite | None]:
    """The session's facts with the caller as a mentor when their invitation is accepted, read
    from storage so that an invitation accepted or revoked through any node counts here."""
    if allowed(conn.identity, action, live.facts):
        return live.facts, None
    invite = await node.invites.accepted(live.state.sid, conn.user)
    if invite is None:
        return live.facts, None
    return dataclasses.replace(live.facts, mentors=live.facts.mentors | {conn.user}), invite


async def session_join(node: Node, conn: Connection, req: SessionJoin) -> Result:
    live = await node.hub.get(req.sid)
    invisible = False
    if req.role is JoinRole.LEARNER:
        require(conn.identity, Action.JOIN_LEARNER, live.facts)
        role = Role.LEARNER
    else:
        facts, invite = await _with_invite(node, conn, live, Action.OBSERVE)
        require(conn.identity, Action.OBSERVE, facts)
        role = Role.ADMIN if "admin" in conn.identity.roles else Role.OBSERVER
        invisible = invite is not None and invite.invisible
    await node.hub.join(conn, live, role, req.ref, req.since, invisible=invisible)
    if role is Role.ADMIN and req.since is None and not live.state.ended:
        # The reply is out already: a failure here is logged, never a second reply.
        try:
            await _audit(node, conn, live, "observe")
        except RequestError as err:
            log.info("audit of an admin observing %s not published: %s", req.sid, err.message)
    return REPLIED


async def session_leave(node: Node, conn: Connection, req: SessionLeave) -> Result:
    sid = canonical_sid(req.sid)
    if sid is None or sid not in conn.joined:
        raise RequestError(ErrorCode.NOT_FOUND, "you are not in that session")
    if await node.hub.leave(conn, sid):
        await node.runs.abandon(sid)
    return {}


async def session_end(node: Node, conn: Connection, req: SessionEnd) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.END)
    who = "admin" if conn.user != live.facts.learner else "learner"
    if _as_admin(conn, live) and not live.state.ended:
        await _audit(node, conn, live, "end")
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
    await node.hub.settled(live)  # the code to run includes the learner's last update
    code = req.code if req.code is not None else live.state.code
    question = await _question(node, live)
    run_id = await node.runs.start(live, _learner(conn), question, req.mode, code, req.stdin)
    return {"run_id": run_id}


async def run_cancel(node: Node, conn: Connection, req: RunCancel) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.CANCEL_RUN)
    await node.runs.cancel(live.state.sid, req.run_id)
    if _as_admin(conn, live):
        await _audit(node, conn, live, "cancel_run", run_id=req.run_id)
    return {}


async def tutor_ask(node: Node, conn: Connection, req: TutorAsk) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    turn_id = await node.tutor.ask(live, _learner(conn), await _question(node, live), req.text)
    return {"turn_id": turn_id}


async def hint_request(node: Node, conn: Connection, req: HintRequest) -> Result:
    live = await _joined_session(node, conn, req.sid, Action.WORK)
    return await node.tutor.hint(live, _learner(conn), await _question(node, live))


async def mentor_invite(node: Node, conn: Connection, req: MentorInvite) -> Result:
    live = await node.hub.get(req.sid)
    require(conn.identity, Action.INVITE, live.facts)
    if live.state.ended:
        raise RequestError(ErrorCode.CONFLICT, "the session has ended")
    mentor = await node.users.by_email(req.mentor)
    # One answer for "no account" and "not a mentor": the learner must know the invitation went
    # nowhere, while whether an address has a (learner's) account stays undiscoverable.
    if mentor is None or "mentor" not in mentor.roles:
        raise RequestError(ErrorCode.NOT_FOUND, "no mentor has that email address",
                           field="mentor")
    if mentor.id == conn.user:
        raise RequestError(ErrorCode.BAD_REQUEST, "you cannot invite yourself", field="mentor")
    most = node.settings.max_observers
    try:
        invite = await node.invites.add(live.state.sid, live.state.question_id, conn.user,
                                        mentor.id, req.invisible, most)
    except TooManyInvites:
        raise RequestError(ErrorCode.CONFLICT, f"a session may have at most {most} mentors "
                           "invited; revoke one first", limit=most) from None
    except AlreadyInvited:
        raise RequestError(ErrorCode.CONFLICT, "that mentor is already invited to this session",
                           field="mentor") from None
    title = node.bank.title(live.state.question_id)
    letters.send_invitation(node, mentor, conn.identity.name, title, invite.invisible)
    node.tasks.start_soon(notify_quietly, node.notifier, mentor.id, MENTOR_INVITED, {
        "invite": invite.id, "sid": live.state.sid, "title": title,
        "learner": conn.identity.name})
    return {"invite": invite.id}


async def _is_live(node: Node, sid: str) -> bool:
    """Whether the session is still going, as far as this node and storage know: a session
    whose learner did not consent is known only to the node that holds it."""
    live = node.hub.live.get(sid)
    if live is not None:
        return not live.state.ended
    record = await node.sessions.get(sid)
    return record is not None and record.ended_at is None


async def mentor_invites(node: Node, conn: Connection, req: MentorInvites) -> Result:
    names: dict[str, str] = {}

    async def name(user: str) -> str:
        if user not in names:
            found = await node.users.by_id(user)
            names[user] = found.name if found else ""
        return names[user]

    if req.sid:
        # The learner's view of one session: whom they invited, and who accepted.
        live = await node.hub.get(req.sid)
        require(conn.identity, Action.INVITE, live.facts)
        sent = await node.invites.of_session(live.state.sid, conn.user)
        return {"invites": [{
            "invite": i.id, "sid": i.sid, "mentor": {"id": i.mentor, "name": await name(i.mentor)},
            "invisible": i.invisible, "accepted": i.accepted,
            "created_at": _ms(i.created_at)} for i in sent]}
    listed: list[dict[str, Any]] = []
    for i in await node.invites.of_mentor(conn.user):
        listed.append({
            "invite": i.id, "sid": i.sid,
            "question": {"id": i.question_id, "title": node.bank.title(i.question_id)},
            "learner": {"id": i.learner, "name": await name(i.learner)},
            "invisible": i.invisible, "accepted": i.accepted, "created_at": _ms(i.created_at),
            "live": await _is_live(node, i.sid)})
    # How each session is going (question, hint level, moments), from the monitor's board.
    summaries = await node.monitor.summaries([entry["sid"] for entry in listed if entry["live"]])
    for entry in listed:
        summary = summaries.get(entry["sid"])
        entry["session"] = None if summary is None else {
            key: summary[key] for key in ("started_ms", "last_activity_ms", "runs", "running",
                                          "hint_level", "moments", "observers", "node")}
    # Live sessions first, then the newest.
    listed.sort(key=lambda entry: not entry["live"])
    return {"invites": listed}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _invite(node: Node, conn: Connection, invite_id: str, action: Action) -> Invite:
    invite = await node.invites.get(invite_id)
    if invite is None:
        raise RequestError(ErrorCode.NOT_FOUND, "no such invitation", field="invite")
    # An invitation's facts: its learner, and its one mentor.
    require(conn.identity, action, SessionFacts(invite.learner, frozenset({invite.mentor})))
    return invite


async def mentor_invite_accept(node: Node, conn: Connection, req: MentorInviteAccept) -> Result:
    invite = await _invite(node, conn, req.invite, Action.ACCEPT_INVITE)
    if await node.invites.accept(invite.id) is None:
        raise RequestError(ErrorCode.CONFLICT, "this invitation was revoked", field="invite")
    return {"invite": invite.id, "sid": invite.sid}


async def mentor_invite_revoke(node: Node, conn: Connection, req: MentorInviteRevoke) -> Result:
    invite = await _invite(node, conn, req.invite, Action.REVOKE_INVITE)
    await node.invites.revoke(invite.id)
    # The mentor stops watching here; other nodes refuse their next join or note.
    live = node.hub.live.get(invite.sid)
    members = tuple(live.members.values()) if live is not None else ()
    watching = [m.connection for m in members
                if m.connection.user == invite.mentor and m.role is Role.OBSERVER]
    notice = encode_message({"type": "notification", "data": {
        "kind": "mentor.invite.revoked", "invite": invite.id, "sid": invite.sid}})
    for watcher in watching:
        await node.hub.leave(watcher, invite.sid)
        watcher.send(notice)
    return {}


async def mentor_note(node: Node, conn: Connection, req: MentorNote) -> Result:
    live = await node.hub.get(req.sid)
    sid = live.state.sid
    if sid not in conn.joined:
        raise RequestError(ErrorCode.FORBIDDEN, "join the session as an observer to write notes")
    facts, _ = await _with_invite(node, conn, live, Action.NOTE)
    require(conn.identity, Action.NOTE, facts)
    event = await node.hub.publish(sid, "mentor.note", Actor(conn.user, Role.OBSERVER),
                                   {"text": req.text, "private": req.private},
                                   private_to=live.facts.learner if req.private else None)
    return {"seq": event.seq}


async def monitor_subscribe(node: Node, conn: Connection, req: MonitorSubscribe) -> Result:
    require(conn.identity, Action.MONITOR)
    await node.monitor.subscribe(conn, req.ref)
    return REPLIED


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
    MentorInvite: mentor_invite,
    MentorInvites: mentor_invites,
    MentorInviteAccept: mentor_invite_accept,
    MentorInviteRevoke: mentor_invite_revoke,
    MentorNote: mentor_note,
    MonitorSubscribe: monitor_subscribe,
}
