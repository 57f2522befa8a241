"""Sign-in with Google and LinkedIn (OpenID Connect, authorization code flow): the redirect to
the provider, and the callback that checks state, exchanges the code (with PKCE where on),
verifies the ID token (signature by the provider's keys, iss, aud, exp, nonce), then signs in,
links or creates the account (server/oauth_linking.py)."""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from joserfc.errors import JoseError
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from server.accounts import _session_answer, error
from server.node import Node
from server.oauth_linking import LocalAccount, Outcome, decide
from server.oauth_providers import clients, configured
from server.session_secret import load_session_secret
from server.settings import Settings
from storage.identities import IdentityStore
from storage.users import EmailTaken, User

log = logging.getLogger("wingman.oauth")

# The state cookie goes only to these routes, and lives as long as one sign-in may take.
STATE_COOKIE = "wingman_oauth"
STATE_PATH = "/auth/oauth"
STATE_SECONDS = 600
NAME_CHARS = 100

_REFUSED = {
    Outcome.LOCAL_UNVERIFIED: (
        "An account with this email exists but its email is not verified yet. Log in with "
        "your password and verify your email first; then you can sign in with this provider."),
    Outcome.PROVIDER_UNVERIFIED: (
        "The provider did not confirm that this email address is yours. Verify it with the "
        "provider, or register with your email and a password."),
}


def state_middleware(settings: Settings) -> Middleware:
    # Lax, not Strict: the provider's redirect back is a cross-site navigation that must carry it.
    return Middleware(SessionMiddleware, secret_key=load_session_secret(settings),
                      session_cookie=STATE_COOKIE, max_age=STATE_SECONDS, path=STATE_PATH,
                      same_site="lax", https_only=settings.cookie_secure)


class Problem(Exception):
    """A sign-in that cannot go on; shown to the browser as a page, to others as JSON."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ProviderSignIn:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients = clients(configured(settings))

    async def login(self, request: Request) -> Response:
        try:
            client = self._client(request)
            return await client.authorize_redirect(request, self._callback_url(request))  # type: ignore[no-any-return]
        except Problem as problem:
            return _shown(request, problem)
        except (httpx.HTTPError, ValueError, RuntimeError) as err:
            # Unreachable, or its discovery document is not one (not JSON, no endpoints).
            log.warning("provider %s did not answer: %s", request.path_params["provider"], err)
            return _shown(request, Problem(502, ErrorCode.UNAVAILABLE,
                                           "the sign-in provider did not answer; try again"))

    async def callback(self, request: Request) -> Response:
        try:
            client = self._client(request)
            claims = await _verified_claims(client, request)
            user = await self._account(request.app.state.node, client.name, claims)
        except Problem as problem:
            request.session.clear()
            return _shown(request, problem)
        request.session.clear()
        answer = await _session_answer(request.app.state.node, user)
        # A browser came here by redirect: keep the refresh cookie, and let the page refresh.
        back = RedirectResponse("/", status_code=303)
        for name, value in answer.raw_headers:
            if name == b"set-cookie":
                back.raw_headers.append((name, value))
        return back

    def _client(self, request: Request) -> Any:
        client = self._clients.get(request.path_params["provider"])
        if client is None:
            raise Problem(404, ErrorCode.NOT_FOUND, "sign-in with this provider is not enabled")
        return client

    def _callback_url(self, request: Request) -> str:
        path = request.url_for("oauth_callback", provider=request.path_params["provider"]).path
        base = self._settings.public_url or str(request.base_url)
        return base.rstrip("/") + path

    async def _account(self, node: Node, provider: str, claims: dict[str, Any]) -> User:
        subject = str(claims["sub"])
        identities = IdentityStore(node.pool)
        # A second pass covers a concurrent sign-in that created the account meanwhile.
        for _ in range(2):
            linked = await identities.user_of(provider, subject)
            email = claims.get("email")
            local = await node.users.by_email(email) if isinstance(email, str) else None
            outcome = decide(linked, _email_verified(claims),
                             LocalAccount(local.id, local.email_verified) if local else None)
            if outcome is Outcome.SIGN_IN:
                assert linked is not None
                user = await node.users.by_id(linked)
                if user is None:
                    break
                log.info("user %s signed in with %s", user.id, provider)
                return user
            if outcome in _REFUSED:
                log.info("%s sign-in refused: %s", provider, outcome.value)
                raise Problem(403, ErrorCode.FORBIDDEN, _REFUSED[outcome])
            if outcome is Outcome.CREATE:
                assert isinstance(email, str)
                try:
                    local = await node.users.add(email, _name(claims), None, ["learner"],
                                                 consent=False, email_verified=True)
                except EmailTaken:
                    continue
                log.info("user %s created by a %s sign-in", local.id, provider)
            assert local is not None
            owner = await identities.link(provider, subject, local.id)
            log.info("%s identity linked to user %s", provider, owner)
            user = await node.users.by_id(owner)
            if user is not None:
                return user
        raise Problem(409, ErrorCode.CONFLICT, "the account changed during sign-in; try again")


async def _verified_claims(client: Any, request: Request) -> dict[str, Any]:
    try:
        token = await client.authorize_access_token(request)
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as err:
        # State mismatch or replay, a refused code, a bad ID token, or a denied consent.
        log.info("%s callback refused: %s %s %s", client.name, type(err).__name__,
                 getattr(err, "error", ""), str(getattr(err, "description", "") or "")[:200])
        raise Problem(400, ErrorCode.BAD_REQUEST,
                      "the sign-in could not be verified; start again") from None
    except httpx.HTTPError as err:
        log.warning("provider %s did not answer: %s", client.name, err)
        raise Problem(502, ErrorCode.UNAVAILABLE,
                      "the sign-in provider did not answer; try again") from None
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise Problem(400, ErrorCode.BAD_REQUEST, "the provider sent no ID token")
    return dict(claims)


def _email_verified(claims: dict[str, Any]) -> bool:
    # Some providers send the flag as a string.
    return isinstance(claims.get("email"), str) and claims.get("email_verified") in (True, "true")


def _name(claims: dict[str, Any]) -> str:
    name = claims.get("name")
    return name.strip()[:NAME_CHARS] if isinstance(name, str) and name.strip() else "Learner"


def _shown(request: Request, problem: Problem) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return error(problem.status, problem.code, problem.message)
    page = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Sign-in</title>"
            f"<h1>Sign-in did not work</h1><p>{html.escape(problem.message)}</p>"
            "<p><a href=\"/\">Back to SocraticWingman</a></p></html>")
    return HTMLResponse(page, status_code=problem.status)


def routes(settings: Settings) -> list[Route]:
    sign_in = ProviderSignIn(settings)
    enabled = [provider.name for provider in configured(settings)]

    async def providers(request: Request) -> Response:
        """Which sign-in buttons the login page should show."""
        return JSONResponse({"providers": enabled})

    return [
        Route("/auth/oauth/providers", providers, methods=["GET"]),
        Route("/auth/oauth/{provider}/login", sign_in.login, name="oauth_login"),
        Route("/auth/oauth/{provider}/callback", sign_in.callback, name="oauth_callback"),
    ]

