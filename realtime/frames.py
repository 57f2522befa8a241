"""The one place that turns frames into requests and replies and events into frames."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from realtime.codes import ErrorCode, RequestError
from realtime.envelope import Event
from realtime.requests import (
    REQUIRED,
    AnyRequest,
    CodeRun,
    CodeUpdate,
    MentorNote,
    Ref,
    Request,
    TutorAsk,
)

_decoder = msgspec.json.Decoder(AnyRequest)
_loose = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
# Idempotency keys and cursors are small by nature; bounded so nobody parks memory in them.
MAX_KEY_CHARS = 128
MAX_CURSOR_BYTES = 1024
_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_.\[\]]+)`|field `([A-Za-z0-9_]+)`")


@dataclass(frozen=True)
class FieldLimits:
    code_bytes: int
    text_bytes: int
    stdin_bytes: int


class BadFrame(RequestError):
    """A frame that is not a valid request; carries whatever `ref` could be read."""

    def __init__(self, ref: Ref, code: ErrorCode, message: str, **extra: object) -> None:
        super().__init__(code, message, **extra)
        self.ref = ref


def decode_request(frame: str | bytes, limits: FieldLimits) -> AnyRequest:
    try:
        request: AnyRequest = _decoder.decode(frame)
    except (RecursionError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, msgspec.DecodeError):
            raise _bad_frame(frame, err) from None
        # Nesting too deep to walk, or bytes that are not UTF-8: not a request, and no ref.
        raise BadFrame(None, ErrorCode.BAD_REQUEST, "frame is not a JSON request object") \
            from None
    _check_fields(request, limits)
    return request


def _bad_frame(frame: str | bytes, err: msgspec.DecodeError) -> BadFrame:
    """The error for a frame msgspec refused, naming the field and the ref when it can."""
    ref = _readable_ref(frame)
    message = str(err)
    match = _FIELD.search(message)
    field = (match.group(1) or match.group(2)) if match else None
    if "$.type" in message or "tag" in message.lower():
        return BadFrame(ref, ErrorCode.BAD_REQUEST, "unknown or missing request type",
                        field="type")
    if field is None and ref is None:
        return BadFrame(None, ErrorCode.BAD_REQUEST, "frame is not a JSON request object")
    return BadFrame(ref, ErrorCode.BAD_REQUEST, message, field=field)


def _readable_ref(frame: str | bytes) -> Ref:
    try:
        loose = _loose.decode(frame)
    except (RecursionError, UnicodeDecodeError, ValueError):
        return None
    ref = loose.get("ref") if isinstance(loose, dict) else None
    return ref if isinstance(ref, int | str) and not isinstance(ref, bool) else None


def _check_fields(request: Request, limits: FieldLimits) -> None:
    for name in REQUIRED.get(type(request), ()):
        if getattr(request, name) in ("", None):
            raise BadFrame(request.ref, ErrorCode.BAD_REQUEST, f"missing field `{name}`",
                           field=name)
    if request.key is not None and len(request.key) > MAX_KEY_CHARS:
        raise BadFrame(request.ref, ErrorCode.TOO_LARGE,
                       f"`key` is over its limit of {MAX_KEY_CHARS} characters", field="key",
                       limit=MAX_KEY_CHARS)
    if isinstance(request, CodeUpdate) and request.cursor is not None and \
            len(_encoder.encode(request.cursor)) > MAX_CURSOR_BYTES:
        raise BadFrame(request.ref, ErrorCode.TOO_LARGE,
                       f"`cursor` is over its limit of {MAX_CURSOR_BYTES} bytes", field="cursor",
                       limit=MAX_CURSOR_BYTES)
    sized: list[tuple[str, str | None, int]] = []
    if isinstance(request, CodeUpdate | CodeRun):
        sized.append(("code", request.code, limits.code_bytes))
    if isinstance(request, CodeRun):
        sized.append(("stdin", request.stdin, limits.stdin_bytes))
    if isinstance(request, TutorAsk | MentorNote):
        sized.append(("text", request.text, limits.text_bytes))
    for name, value, limit in sized:
        if value is not None and len(value.encode("utf-8", "surrogatepass")) > limit:
            raise BadFrame(request.ref, ErrorCode.TOO_LARGE,
                           f"`{name}` is over its limit of {limit} bytes", field=name, limit=limit)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def encode_reply(ref: Ref, data: dict[str, Any] | None = None) -> bytes:
    return _encoder.encode({"type": "reply", "ref": ref, "ok": True, "data": data or {}})


def encode_error(ref: Ref, error: RequestError) -> bytes:
    body = {"code": error.code.value, "message": error.message, **error.extra}
    return _encoder.encode({"type": "reply", "ref": ref, "ok": False, "error": body})


def encode_message(message: dict[str, Any]) -> bytes:
    """Frames outside sessions (notifications, monitor updates)."""
    return _encoder.encode(message)


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)
