"""What each request costs in rate limits, and how a refusal is answered: 429 with Retry-After
over HTTP, the `rate_limited` error over /ws. Every function returns the milliseconds to wait,
0 when the request may go ahead (and has been counted)."""

from __future__ import annotations

import hashlib
import math

from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime import keys
from realtime.codes import ErrorCode, RequestError
from realtime.ratelimit import Rate
from realtime.requests import AnyRequest, CodeRun, TutorAsk
from server.metrics import RATE_LIMITED
from server.node import Node


async def _hit(node: Node, limit: str, subject: str, rate: Rate) -> int:
    wait = await node.limiter.hit(keys.rate(limit, subject), rate)
    if wait:
        RATE_LIMITED.labels(limit).inc()
    return wait


def account_key(email: str) -> str:
    """Limits by account never see the email itself: a hash of its normalised form."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def client_address(request: Request) -> str:
    # Behind a proxy this is the forwarded address only when uvicorn trusts it
    # (FORWARDED_ALLOW_IPS); otherwise the proxy's own.
    return request.client.host if request.client else "unknown"


async def login_wait(node: Node, address: str, email: str) -> int:
    # The address first: a refused address spends none of the account's budget.
    s = node.settings
    wait = await _hit(node, "login.address", address, s.rate_login_address)
    if wait:
        return wait
    return await _hit(node, "login.account", account_key(email), s.rate_login_account)


async def register_wait(node: Node, address: str) -> int:
    return await _hit(node, "register.address", address, node.settings.rate_register_address)


async def mail_wait(node: Node, address: str, account: str) -> int:
    """A mail asked for from `address` for `account` (a user id, or account_key of an email):
    counted the same whether or not the account exists, so a refusal reveals nothing."""
    wait = await _hit(node, "mail.address", address, node.settings.rate_login_address)
    if wait:
        return wait
    return await _hit(node, "mail.account", account, node.settings.rate_mail_account)


async def frame_wait(node: Node, user: str, request: AnyRequest | None) -> int:
    """Every frame after auth costs a frame (`request` is None for one that did not decode);
    runs and tutor turns cost one of their own as well."""
    s = node.settings
    wait = await _hit(node, "frames", user, s.rate_frames)
    if wait:
        return wait
    if isinstance(request, CodeRun):
        return await _hit(node, "runs", user, s.rate_runs)
    if isinstance(request, TutorAsk):
        return await _hit(node, "tutor", user, s.rate_tutor_turns)
    return 0


def too_many(wait_ms: int) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": ErrorCode.RATE_LIMITED.value, "retry_after_ms": wait_ms,
                   "message": "too many attempts; try again later"}},
        status_code=429, headers={"Retry-After": str(math.ceil(wait_ms / 1000))})


def rate_limited(wait_ms: int) -> RequestError:
    return RequestError(ErrorCode.RATE_LIMITED, "too many requests; wait and try again",
                        retry_after_ms=wait_ms)
