"""Forgotten passwords: a reset link by mail (POST /auth/password/forgot), answered the same way
whether or not the account exists, and the new password set with its token
(POST /auth/password/reset), which signs the account out everywhere."""

from __future__ import annotations

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from realtime.codes import ErrorCode
from server import letters, limits
from server.accounts import error, read_body
from server.node import Node
from server.passwords import hash_password, password_problem
from storage.email_tokens import Purpose, TokenRefused
from storage.pii import normalised_email


class Forgot(msgspec.Struct, frozen=True):
    email: str


class Reset(msgspec.Struct, frozen=True):
    token: str
    password: str


_REFUSED = {
    "used": "this reset link has been used already: ask for a new one",
    "expired": "this reset link has expired: ask for a new one",
    "unknown": "this reset link is not valid: ask for a new one",
}


async def forgot(request: Request) -> JSONResponse:
    node: Node = request.app.state.node
    body = await read_body(request, Forgot)
    if isinstance(body, JSONResponse):
        return body
    email = normalised_email(body.email)[:320]
    wait = await limits.mail_wait(node, limits.client_address(request), limits.account_key(email))
    if wait:
        return limits.too_many(wait)
    # The account is looked up after answering, so neither the answer nor its timing tells.
    letters.send_reset(node, email)
    return JSONResponse({"ok": True, "message": "if an account has this email, a reset link "
                         "is on its way"}, status_code=202)


async def reset(request: Request) -> JSONResponse:
    node: Node = request.app.state.node
    body = await read_body(request, Reset)
    if isinstance(body, JSONResponse):
        return body
    problem = password_problem(body.password)
    if problem:
        return error(400, ErrorCode.BAD_REQUEST, problem, field="password")
    try:
        user = await node.email_tokens.use(body.token, Purpose.RESET)
    except TokenRefused as refused:
        return error(400, ErrorCode.BAD_REQUEST, _REFUSED[refused.reason], field="token")
    hashed = await anyio.to_thread.run_sync(hash_password, body.password)
    await node.users.set_password(user, hashed)
    # The mail reached its owner, so the address is theirs.
    await node.users.mark_email_verified(user)
    await node.email_tokens.spend_all(user, Purpose.RESET)
    # Whoever knew the old password is out: every refresh token, every access token, every socket.
    await node.refresh.revoke_user(user)
    await node.revocations.revoke(user)
    return JSONResponse({"ok": True})


routes = [
    Route("/auth/password/forgot", forgot, methods=["POST"]),
    Route("/auth/password/reset", reset, methods=["POST"]),
]
