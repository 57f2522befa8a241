"""HTTP routes for accounts: register and log in, answering with an access token."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from realtime.codes import ErrorCode
from server import limits
from server.node import Node
from server.passwords import DUMMY_HASH, hash_password, password_problem, verify_password
from storage.users import EmailTaken, User

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]{2,63}$")
MAX_BODY_BYTES = 16 * 1024
T = TypeVar("T")


class Registration(msgspec.Struct, frozen=True):
    email: str
    password: str
    name: str
    consent: bool = False


class Login(msgspec.Struct, frozen=True):
    email: str
    password: str


def error(status: int, code: ErrorCode, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code.value, "message": message, **extra}},
                        status_code=status)


async def read_body(request: Request, kind: type[T]) -> T | JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return error(413, ErrorCode.TOO_LARGE, "the request body is too large")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as err:
        return error(400, ErrorCode.BAD_REQUEST, f"invalid request: {err}")


def _session_answer(node: Node, user: User) -> JSONResponse:
    token, expires = node.tokens.issue(user.id, user.name, user.roles)
    return JSONResponse({"access_token": token, "expires_at": expires,
                         "user": {"id": user.id, "name": user.name, "roles": list(user.roles),
                                  "consent": user.consent}})


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
    return _session_answer(node, user)


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
    return _session_answer(node, user)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
]
