"""HTTP routes for accounts: register and log in, answering with an access token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from realtime.codes import ErrorCode
from server import letters, limits
from server.access import bearer, origin_allowed
from server.node import Node
from server.passwords import DUMMY_HASH, hash_password, password_problem, verify_password
from storage.refresh import RefreshRefused, Rotation
from storage.users import EmailTaken, User

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]{2,63}$")
MAX_BODY_BYTES = 16 * 1024
T = TypeVar("T")


class Registration(msgspec.Struct, frozen=True):
    email: str
    password: str
    name: str
    consent: bool = False


class Logout(msgspec.Struct, frozen=True):
    everywhere: bool = False


class Login(msgspec.Struct, frozen=True):
    email: str
    password: str


def error(status: int, code: ErrorCode, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code.value, "message": message, **extra}},
                        status_code=status)


async def read_body(request: Request, kind: type[T], empty: T | None = None) -> T | JSONResponse:
    """The JSON body as `kind`, read no further than its limit; `empty` stands for no body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return error(413, ErrorCode.TOO_LARGE, "the request body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return error(413, ErrorCode.TOO_LARGE, "the request body is too large")
    if not body and empty is not None:
        return empty
    try:
        return msgspec.json.decode(bytes(body), type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = str(err) if isinstance(err, msgspec.DecodeError) else "not UTF-8 JSON"
        return error(400, ErrorCode.BAD_REQUEST, f"invalid request: {reason}")


REFRESH_COOKIE = "wingman_refresh"
# The refresh cookie goes only to the /auth routes, never to pages, the API or the socket.
REFRESH_PATH = "/auth"


async def _session_answer(node: Node, user: User, rotation: Rotation | None = None) -> JSONResponse:
    """An access token in the body, and the refresh token in an httpOnly cookie."""
    token, expires = node.tokens.issue(user.id, user.name, user.roles)
    answer = JSONResponse({"access_token": token, "expires_at": expires,
                           "user": {"id": user.id, "name": user.name, "roles": list(user.roles),
                                    "consent": user.consent,
                                    "email_verified": user.email_verified}})
    rotation = rotation or await node.refresh.issue(user.id)
    answer.set_cookie(REFRESH_COOKIE, rotation.token, path=REFRESH_PATH, httponly=True,
                      secure=node.settings.cookie_secure, samesite="strict",
                      max_age=int((rotation.expires_at - datetime.now(UTC)).total_seconds()))
    return answer


def _signed_out(status: int, code: ErrorCode, message: str) -> JSONResponse:
    answer = error(status, code, message)
    answer.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH)
    return answer


def _same_site(request: Request) -> bool:
    """Cookie-carrying requests from another site's page are refused (SameSite's second line)."""
    return origin_allowed(request.app.state.node, request.headers.get("origin"),
                          request.headers.get("host"))


async def refresh(request: Request) -> JSONResponse:
    """A new access token from the refresh cookie, which rotates; only the cookie counts."""
    node: Node = request.app.state.node
    if not _same_site(request):
        return error(403, ErrorCode.FORBIDDEN, "refresh is only for this site's pages")
    presented = request.cookies.get(REFRESH_COOKIE)
    if not presented:
        return error(401, ErrorCode.UNAUTHENTICATED, "no refresh cookie: log in")
    try:
        rotation = await node.refresh.rotate(presented)
    except RefreshRefused as refused:
        return _signed_out(401, ErrorCode.UNAUTHENTICATED, str(refused))
    user = await node.users.by_id(rotation.user)
    if user is None:
        return _signed_out(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    return await _session_answer(node, user, rotation)


async def logout(request: Request) -> JSONResponse:
    """Sign this browser out; with {"everywhere": true} and a valid access token, every
    session of the account, its open sockets on every node included."""
    node: Node = request.app.state.node
    if not _same_site(request):
        return error(403, ErrorCode.FORBIDDEN, "logout is only for this site's pages")
    body = await read_body(request, Logout, empty=Logout())
    if isinstance(body, JSONResponse):
        return body
    who = await bearer(request) if body.everywhere else None
    if body.everywhere and who is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "signing out everywhere needs a login")
    presented = request.cookies.get(REFRESH_COOKIE)
    if presented:
        await node.refresh.revoke_family(presented)
    if who is not None:
        await node.refresh.revoke_user(who.user)
        await node.revocations.revoke(who.user)
    answer = JSONResponse({"ok": True})
    answer.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH)
    return answer


async def register(request: Request) -> JSONResponse:
    node: Node = request.app.state.node
    wait = await limits.register_wait(node, limits.client_address(request))
    if wait:
        return limits.too_many(wait)
    body = await read_body(request, Registration)
    if isinstance(body, JSONResponse):
        return body
    email, name = body.email.strip().lower(), body.name.strip()
    if not _EMAIL.match(email):
        return error(400, ErrorCode.BAD_REQUEST, "that is not an email address", field="email")
    if not 1 <= len(name) <= 100:
        return error(400, ErrorCode.BAD_REQUEST, "a name needs 1 to 100 characters",
                     field="name")
    problem = password_problem(body.password)
    if problem:
        return error(400, ErrorCode.BAD_REQUEST, problem, field="password")
    hashed = await anyio.to_thread.run_sync(hash_password, body.password)
    try:
        user = await node.users.add(email, name, hashed, ["learner"], body.consent)
    except EmailTaken:
        return error(409, ErrorCode.CONFLICT, "an account with this email exists already")
    letters.send_verification(node, user)
    return await _session_answer(node, user)


async def login(request: Request) -> JSONResponse:
    node: Node = request.app.state.node
    body = await read_body(request, Login)
    if isinstance(body, JSONResponse):
        return body
    wait = await limits.login_wait(node, limits.client_address(request), body.email)
    if wait:
        return limits.too_many(wait)
    user = await node.users.by_email(body.email)
    stored = user.password_hash if user else DUMMY_HASH
    ok = await anyio.to_thread.run_sync(verify_password, stored, body.password[:1024])
    if user is None or not ok:
        return error(401, ErrorCode.UNAUTHENTICATED, "wrong email or password")
    return await _session_answer(node, user)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
