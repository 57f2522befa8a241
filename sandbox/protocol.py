"""The harness protocol: the job frame sent on stdin and the JSON lines read back on fd 3."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sandbox.api import CallResult, RunRequest

HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text()


def encode_frame(request: RunRequest) -> bytes:
    """4-byte big-endian length, then UTF-8 JSON (ASCII-escaped, so lone surrogates survive).
    Node's harness cannot hand its code a stdin of its own making: the learner's stdin follows
    the frame on fd 0 instead."""
    job = {
        "code": request.code,
        "stdin": request.stdin,
        "function": request.function,
        "calls": [{"name": call.name, "args": call.args} for call in request.calls],
    }
    body = json.dumps(job).encode()
    tail = request.stdin.encode(errors="replace") if request.language == "javascript" else b""
    return len(body).to_bytes(4, "big") + body + tail


def _clean(value: Any) -> Any:
    """Values as the server can send them on: lone surrogates become U+FFFD, NaN becomes None."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


class Report:
    """What the harness said about itself; parses its lines as they arrive."""

    def __init__(self) -> None:
        self.ready = False
        self.exit_status: int | None = None
        self.hint = ""
        self.results: list[CallResult] = []
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            try:
                self._take(_clean(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue  # only learner code writing to the fd itself produces these

    def _take(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            self.ready = True
        elif "exit" in message:
            self.exit_status, self.hint = int(message["exit"]), str(message.get("hint", ""))
        elif message.get("ok"):
            self.results.append(CallResult(str(message["name"]), True, message.get("value")))
        else:
            error = str(message.get("error"))
            self.results.append(CallResult(str(message["name"]), False, None, error))
