"""The node's logs: every logger (ours, uvicorn's, libraries') through structlog's formatter, as one
JSON object per line (or readable text), with the ids bound to what is being served (request,
connection, session, user id, node). Logs carry ids, never personal data, tokens or code: values
under such keys are dropped, and secrets in URLs are blanked (server/log_redaction.py)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import Processor

from server import log_redaction
from server.settings import Settings

# Keys whose values never reach a log line, whoever binds or passes them.
_SECRET_KEYS = frozenset({"email", "name", "password", "token", "access_token", "refresh_token",
                          "code", "stdin", "text", "authorization", "cookie"})


def _redact(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SECRET_KEYS.intersection(event):
        event[key] = "[redacted]"
    for key in ("event", "exception"):
        value = event.get(key)
        if isinstance(value, str):
            event[key] = log_redaction.redact(value)
    return event


def configure(settings: Settings, level: int = logging.INFO) -> None:
    """Route every stdlib logger through one handler on stderr, formatted by structlog."""
    node = settings.node_id

    def add_node(logger: Any, method: str,
                 event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("node", node)
        return event

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_node,
    ]
    renderer: Processor = (structlog.processors.JSONRenderer() if settings.log_format == "json"
                           else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _redact, renderer])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's loggers pass their records up to this handler instead of printing their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    log_redaction.install()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)


def bind(**ids: Any) -> None:
    """Ids for every line logged from here on in this task (and tasks it starts)."""
    structlog.contextvars.bind_contextvars(**ids)


def bound(**ids: Any) -> Any:
    """Ids for the lines logged inside a `with` block."""
    return structlog.contextvars.bound_contextvars(**ids)


class RequestIds:
    """Binds a request id to everything logged while serving an HTTP request or a /ws
    connection; a caller's X-Request-ID (a load balancer's) is kept when it is a plain token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() \
            else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, with_id if scope["type"] == "http" else send)
