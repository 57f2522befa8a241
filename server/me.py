"""A person's own account: what is kept about them, their consent, a copy of all of it, and
deleting it."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from realtime.connection import Identity
from server.accounts import error, read_body
from server.api import authenticated
from server.node import Node
from server.profile import profile_json
from storage.users import User


class Changes(msgspec.Struct, frozen=True):
    consent: bool | None = None


class Deletion(msgspec.Struct, frozen=True):
    confirm: bool = False


def _account(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "roles": list(user.roles),
            "consent": user.consent}


def _live_sessions_of(node: Node, user: str) -> list[str]:
    return [sid for sid, live in node.hub.live.items() if live.facts.learner == user]


@authenticated
async def me(request: Request, who: Identity, node: Node) -> Response:
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    return JSONResponse(_account(user))


@authenticated
async def change(request: Request, who: Identity, node: Node) -> Response:
    """Consent can be given or withdrawn at any time; withdrawing erases what was kept."""
    body = await read_body(request, Changes)
    if isinstance(body, JSONResponse):
        return body
    answer: dict[str, Any] = {}
    if body.consent is not None:
        await node.users.set_consent(who.user, body.consent)
        if not body.consent:
            for sid in _live_sessions_of(node, who.user):
                node.hub.live[sid].keep = False
            erased = await node.erasure.traces_of(who.user)
            await node.learning.forget(who.user)
            answer["erased"] = {"sessions": erased.sessions, "events": erased.events}
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    return JSONResponse({**_account(user), **answer})


@authenticated
async def export(request: Request, who: Identity, node: Node) -> Response:
    """Everything kept about the caller, as JSON."""
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    sessions = []
    for record in await node.sessions.of_learner(who.user, limit=10_000):
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await node.traces.events(record.sid, after=after, limit=5000)
            events.extend(page)
            if len(page) < 5000:
                break
            after = page[-1]["seq"]
        sessions.append({"sid": record.sid, "question_id": record.question_id,
                         "question_version": record.question_version,
                         "created_at": record.created_at.isoformat(),
                         "ended_at": record.ended_at.isoformat() if record.ended_at else None,
                         "end_reason": record.end_reason, "events": events})
    sign_ins = [{"created_at": s.created_at.isoformat(), "expires_at": s.expires_at.isoformat(),
                 "revoked_at": s.revoked_at.isoformat() if s.revoked_at else None}
                for s in await node.refresh.of_user(who.user)]
    profile = profile_json(user.name, await node.profiles.get(who.user))
    notices = [n.as_json() for n in await node.notifications.of_user(who.user, limit=10_000)]
    reminders = [{"local_day": day.isoformat(), "sent_at": at.isoformat(), "due": due}
                 for day, at, due in await node.profiles.reminders_of(who.user)]
    return JSONResponse({"account": _account(user), "profile": profile, "sessions": sessions,
                         "sign_ins": sign_ins, "notifications": notices,
                         "reminders": reminders,
                         "learning": await node.learning.export(who.user)},
                        headers={"Content-Disposition": 'attachment; filename="wingman.json"'})


@authenticated
async def delete(request: Request, who: Identity, node: Node) -> Response:
    """Delete the account and everything of it; every open socket of it closes, on every node."""
    body = await read_body(request, Deletion)
    if isinstance(body, JSONResponse):
        return body
    if not body.confirm:
        return error(400, ErrorCode.BAD_REQUEST, 'send {"confirm": true} to delete the account',
                     field="confirm")
    for sid in _live_sessions_of(node, who.user):
        node.hub.live[sid].keep = False
        await node.end_session(sid, "the account was deleted")
    await node.refresh.revoke_user(who.user)
    await node.revocations.revoke(who.user)
    erased = await node.erasure.account(who.user)
    return JSONResponse({"deleted": True, "sessions": erased.sessions, "events": erased.events})


routes = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/me", change, methods=["PATCH"]),
    Route("/api/me", delete, methods=["DELETE"]),
    Route("/api/me/export", export, methods=["GET"]),
]
