"""The two tables of the wire contract: close codes and error codes."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    NORMAL = 1000  # the peer or the server ended the conversation on purpose
    POLICY = 1008  # the peer kept sending frames we cannot accept
    TOO_LARGE = 1009  # a frame over the frame limit
    SERVER_ERROR = 1011
    RESTARTING = 1012  # reconnect with jitter and resume on another node
    OVERLOADED = 1013  # too slow to keep up, or the node is full: reconnect and resume
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    RATE_LIMITED = 4429


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    HINT_LOCKED = "hint_locked"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class RequestError(Exception):
    """A request that cannot be served; becomes one error reply, the connection stays."""

    def __init__(self, code: ErrorCode, message: str, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra
