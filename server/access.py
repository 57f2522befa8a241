"""Who a request comes from: an access token checked for signature and claims, and against the
user's sign-outs (tokens issued before "sign out everywhere" no longer count)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request

from realtime.codes import ErrorCode, RequestError
from realtime.connection import Identity
from server.node import Node
from server.tokens import InvalidToken
from storage.revocations import NoSuchUser


async def identify(node: Node, token: str) -> Identity:
    try:
        claims = node.tokens.verify(token)
    except InvalidToken:
        raise RequestError(ErrorCode.UNAUTHENTICATED, "the token is invalid or expired") from None
    try:
        valid_after = await node.revocations.valid_after(claims.user)
    except NoSuchUser:
        raise RequestError(ErrorCode.UNAUTHENTICATED, "this account no longer exists") from None
    if valid_after is not None and datetime.fromtimestamp(claims.issued_at, UTC) < valid_after:
        raise RequestError(ErrorCode.UNAUTHENTICATED, "this sign-in has been revoked")
    return Identity(claims.user, claims.name, claims.roles, claims.expires_at)


async def bearer(request: Request) -> Identity | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return await identify(request.app.state.node, token.strip())
    except RequestError:
        return None


def origin_allowed(node: Node, origin: str | None, host: str | None) -> bool:
    """Browsers send Origin; other clients may not. A browser must come from an allowed site."""
    if origin is None:
        return True
    if origin in node.settings.allowed_origins:
        return True
    return bool(host) and urlsplit(origin).netloc == host
