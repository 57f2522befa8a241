"""Email verification: the link mailed at registration (GET /auth/verify?token=...) answers with a
small page, and a signed-in user can ask for another link (POST /auth/verify/resend)."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from realtime.codes import ErrorCode
from server import letters, limits
from server.access import bearer
from server.accounts import error
from server.node import Node
from storage.email_tokens import Purpose, TokenRefused

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - SocraticWingman</title></head>
<body><h1>{title}</h1><p>{text}</p><p><a href="/">Go to SocraticWingman</a></p></body></html>
"""
_REFUSED = {
    "used": ("Link already used", "This link has been used already. If your email is not "
             "verified yet, sign in and ask for a new link."),
    "expired": ("Link expired", "This link has expired. Sign in and ask for a new link."),
    "unknown": ("Link not valid", "This link is not valid. Check that it was copied whole, or "
                "sign in and ask for a new link."),
}


def _page(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), text=escape(text)), status_code=status,
                        headers={"Cache-Control": "no-store"})


async def verify(request: Request) -> HTMLResponse:
    node: Node = request.app.state.node
    token = request.query_params.get("token", "")
    try:
        user = await node.email_tokens.use(token, Purpose.VERIFY)
    except TokenRefused as refused:
        return _page(*_REFUSED[refused.reason], status=400)
    await node.users.mark_email_verified(user)
    await node.email_tokens.spend_all(user, Purpose.VERIFY)
    return _page("Email verified", "Thank you: your email address is verified.", status=200)


async def resend(request: Request) -> JSONResponse:
    node: Node = request.app.state.node
    who = await bearer(request)
    if who is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "asking for a new link needs a login")
    wait = await limits.mail_wait(node, limits.client_address(request), who.user)
    if wait:
        return limits.too_many(wait)
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    if user.email_verified:
        return error(409, ErrorCode.CONFLICT, "this email is verified already")
    letters.send_verification(node, user)
    return JSONResponse({"ok": True}, status_code=202)


routes = [
    Route("/auth/verify", verify, methods=["GET"]),
    Route("/auth/verify/resend", resend, methods=["POST"]),
]
