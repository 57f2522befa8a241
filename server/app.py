"""The Starlette application: routes, the pages, headers, and the node opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import (
    accounts,
    api,
    content_api,
    learning_api,
    logs,
    me,
    metrics,
    oauth,
    password_reset,
    profile,
    tracing,
    verification,
    ws,
)
from server.node import open_node
from server.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "web"

# Pages load only their own scripts and styles; sockets go back to the same host.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings, web: Path = WEB) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop_tracing = tracing.start_tracing(settings)
        try:
            async with open_node(settings) as node:
                app.state.node = node
                yield
        finally:
            if stop_tracing is not None:
                stop_tracing()

    async def index(request: Request) -> Response:
        return FileResponse(web / "index.html")

    async def observe(request: Request) -> Response:
        """The mentor's and the admin's pages (one page, two homes)."""
        return FileResponse(web / "observe.html")

    routes = [
        Route("/", index),
        Route("/mentor", observe),
        Route("/monitor", observe),
        Route("/metrics", metrics.endpoint),
        WebSocketRoute("/ws", ws.endpoint),
        *accounts.routes,
        *verification.routes,
        *password_reset.routes,
        *api.routes,
        *content_api.routes,
        *me.routes,
        *profile.routes,
        *learning_api.routes,
        *oauth.routes(settings),
        Mount("/static", StaticFiles(directory=web), name="static"),
    ]
    # Other sites' pages may call the API only when listed in ALLOWED_ORIGINS; none by default.
    cors = Middleware(CORSMiddleware, allow_origins=settings.allowed_origins,
                      allow_credentials=True,
                      allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      allow_headers=["Authorization", "Content-Type"], max_age=600)
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(logs.RequestIds), Middleware(metrics.HttpMetrics),
                                 Middleware(tracing.HttpSpans),
                                 cors, Middleware(SecurityHeaders),
                                 oauth.state_middleware(settings)])
