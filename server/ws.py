"""The /ws endpoint: handshake checks, the auth frame, then one task group per connection
(reader, writer, token expiry); the first to end cancels the others."""

from __future__ import annotations

import contextlib
import logging
import time
from contextlib import nullcontext
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from realtime.codes import CloseCode, ErrorCode, RequestError
from realtime.connection import Connection, Identity
from realtime.frames import BadFrame, FieldLimits, decode_request, encode_error, encode_reply
from realtime.hub import canonical_sid
from realtime.requests import AnyRequest, Auth, SessionJoin
from server import logs, metrics, tracing
from server.access import identify, origin_allowed
from server.handlers import HANDLERS, Replied
from server.limits import frame_wait, rate_limited
from server.node import Node

log = logging.getLogger("wingman.ws")
SUBPROTOCOL = "wingman.v1"
# Requests worth a log line each (a session's course); code updates and the like are too many.
_LOGGED = frozenset({"session.create", "session.join", "session.leave", "session.end",
                     "code.run", "run.cancel", "tutor.ask", "hint.request", "mentor.invite",
                     "mentor.invite.accept", "mentor.invite.revoke"})


async def endpoint(websocket: WebSocket) -> None:
    node: Node = websocket.app.state.node
    if not origin_allowed(node, websocket.headers.get("origin"), websocket.headers.get("host")):
        await websocket.close(code=CloseCode.FORBIDDEN)
        return
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=CloseCode.POLICY)
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    try:
        await _converse(node, websocket)
    except WebSocketDisconnect:
        pass
    except Exception:
        # A fault of ours ends this connection with 1011; the node and other sessions go on.
        log.exception("connection failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=CloseCode.SERVER_ERROR)


async def _converse(node: Node, websocket: WebSocket) -> None:
    identity = await _authenticate(node, websocket)
    if identity is None:
        return
    conn = Connection(identity, node.settings.send_queue_bytes)
    logs.bind(conn=conn.id, user=conn.user)
    node.roster.add(conn)
    metrics.CONNECTS.inc()
    log.info("connection opened")
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_write, websocket, conn, tasks.cancel_scope)
            tasks.start_soon(_expire, conn)
            await _read(node, websocket, conn)
            tasks.cancel_scope.cancel()
    finally:
        node.roster.remove(conn)
        if conn.close_code is not None:
            metrics.CLOSES.labels(str(conn.close_code.value)).inc()
        log.info("connection closed (%s)", conn.close_code.value if conn.close_code else "by peer")
        node.monitor.unsubscribe(conn)
        with anyio.CancelScope(shield=True):
            for sid in await node.hub.disconnect(conn):
                await node.runs.abandon(sid)


async def _authenticate(node: Node, websocket: WebSocket) -> Identity | None:
    limits = _limits(node)
    with anyio.move_on_after(node.settings.auth_frame_timeout_seconds):
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return None
        if message["type"] == "websocket.disconnect":
            return None
        frame = message.get("text")
        if frame is None:
            await _refuse(websocket, None, "frames must be text (JSON)")
            return None
        try:
            request = decode_request(frame, limits)
        except BadFrame as err:
            await _refuse(websocket, err.ref, "the first frame must be a valid `auth` request")
            return None
        if not isinstance(request, Auth):
            await _refuse(websocket, request.ref, "the first frame must be `auth`")
            return None
        try:
            identity = await identify(node, request.token)
        except RequestError as err:
            await _refuse(websocket, request.ref, err.message, err)
            return None
        await websocket.send_text(encode_reply(request.ref, _auth_data(identity)).decode())
        return identity
    await _refuse(websocket, None, "no `auth` frame within the time allowed")
    return None


async def _refuse(websocket: WebSocket, ref: Any, message: str,
                  error: RequestError | None = None) -> None:
    error = error or RequestError(ErrorCode.UNAUTHENTICATED, message)
    metrics.ERRORS.labels(error.code.value).inc()
    metrics.CLOSES.labels(str(CloseCode.UNAUTHENTICATED.value)).inc()
    await websocket.send_text(encode_error(ref, error).decode())
    await websocket.close(code=CloseCode.UNAUTHENTICATED)


def _auth_data(identity: Identity) -> dict[str, Any]:
    return {"user": identity.user, "name": identity.name, "roles": sorted(identity.roles),
            "expires_at": identity.expires_at}


def _limits(node: Node) -> FieldLimits:
    s = node.settings
    return FieldLimits(code_bytes=s.max_code_bytes, text_bytes=s.max_text_bytes,
                       stdin_bytes=s.max_stdin_bytes)


async def _read(node: Node, websocket: WebSocket, conn: Connection) -> None:
    limits = _limits(node)
    bad_in_a_row = limited_in_a_row = 0
    while conn.close_code is None:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        request = _decode(message.get("text"), limits)
        wait = await frame_wait(node, conn.user, None if isinstance(request, BadFrame) else request)
        if wait:
            # A refused frame does nothing; it counts towards 4429, never towards 1008.
            _send_error(conn, request.ref, rate_limited(wait))
            limited_in_a_row += 1
            if limited_in_a_row >= node.settings.rate_limited_before_close:
                conn.close(CloseCode.RATE_LIMITED, "too many requests; slow down")
            continue
        limited_in_a_row = 0
        if isinstance(request, BadFrame):
            _send_error(conn, request.ref, request)
            bad_in_a_row += 1
        else:
            bad_in_a_row = 0
            await _serve(node, conn, request)
        if bad_in_a_row >= node.settings.bad_frames_before_close:
            conn.close(CloseCode.POLICY, "too many malformed frames")


def _decode(frame: str | None, limits: FieldLimits) -> AnyRequest | BadFrame:
    if frame is None:
        return BadFrame(None, ErrorCode.BAD_REQUEST, "frames must be text (JSON)")
    try:
        return decode_request(frame, limits)
    except BadFrame as err:
        return err


def _send_error(conn: Connection, ref: Any, error: RequestError) -> None:
    metrics.ERRORS.labels(error.code.value).inc()
    conn.send(encode_error(ref, error))


async def _serve(node: Node, conn: Connection, request: AnyRequest) -> None:
    kind = str(type(request).__struct_config__.tag)
    given = getattr(request, "sid", None)
    # Only a well-formed id reaches logs and spans, never whatever a client put there.
    sid = canonical_sid(given) if isinstance(given, str) else None
    span: Any = nullcontext()
    if tracing.enabled():
        attributes: dict[str, Any] = {"wingman.request": kind, "wingman.conn": conn.id,
                                      "wingman.node": node.settings.node_id}
        if sid:
            attributes["wingman.sid"] = sid
        span = tracing.request_span(kind, attributes)
    began = time.perf_counter()
    with logs.bound(sid=sid) if sid else nullcontext(), span as current:
        code, result = await _answer(node, conn, request)
        if code is not None:
            tracing.failed(current, code.value)
        if kind in _LOGGED:
            created = result.get("sid") if isinstance(result, dict) else None
            with logs.bound(sid=created) if created else nullcontext():
                log.info("%s answered%s", kind, f" with {code.value}" if code else "")
    metrics.WS_REQUEST_SECONDS.labels(kind).observe(time.perf_counter() - began)


async def _answer(node: Node, conn: Connection,
                  request: AnyRequest) -> tuple[ErrorCode | None, dict[str, Any] | Replied | None]:
    """Serve one request and send its reply; the error code it was answered with, if any."""
    try:
        if isinstance(request, Auth):
            result: dict[str, Any] | Replied = await _renew(node, conn, request)
        else:
            handler = HANDLERS[type(request)]
            # A join is harmless to repeat and replies itself, so keys do not apply to it.
            if request.key and not isinstance(request, SessionJoin):
                key = f"{type(request).__name__}:{request.key}"
                result = await node.replies.once(conn.user, key, lambda: _as_data(
                    handler(node, conn, request)))
            else:
                result = await handler(node, conn, request)
    except RequestError as err:
        _send_error(conn, request.ref, err)
        return err.code, None
    except Exception:
        log.exception("request %s failed", type(request).__name__)
        _send_error(conn, request.ref, RequestError(ErrorCode.INTERNAL,
                                                    "something went wrong on our side"))
        return ErrorCode.INTERNAL, None
    if not isinstance(result, Replied):
        conn.send(encode_reply(request.ref, result))
    return None, result


async def _as_data(pending: Any) -> dict[str, Any]:
    result = await pending
    return result if isinstance(result, dict) else {}


async def _renew(node: Node, conn: Connection, request: Auth) -> dict[str, Any]:
    identity = await identify(node, request.token)
    if identity.user != conn.user:
        raise RequestError(ErrorCode.FORBIDDEN, "a renewal must be for the same user")
    conn.identity = identity
    return _auth_data(identity)


async def _write(websocket: WebSocket, conn: Connection, scope: anyio.CancelScope) -> None:
    try:
        while True:
            queued = await conn.next_queued()
            if queued is None:
                break
            await websocket.send_text(queued[0].decode())
            metrics.frame_written(queued[1])
        code = conn.close_code or CloseCode.NORMAL
        await websocket.close(code=code, reason=conn.close_reason[:120])
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        scope.cancel()


async def _expire(conn: Connection) -> None:
    while True:
        left = conn.identity.expires_at - time.time()
        if left <= 0:
            conn.close(CloseCode.UNAUTHENTICATED, "the token expired")
            return
        await anyio.sleep(min(left, 60.0))
