"""Runs untrusted learner code; the process backend lives in sandbox.process."""

from sandbox.api import (
    Call,
    CallResult,
    Limit,
    Limits,
    OutputSink,
    RunOutcome,
    RunRequest,
    Sandbox,
    Stream,
)
from sandbox.judge import judge
from sandbox.process import ProcessSandbox, open_process_sandbox

__all__ = [
    "Call",
    "CallResult",
    "Limit",
    "Limits",
    "OutputSink",
    "ProcessSandbox",
    "RunOutcome",
    "RunRequest",
    "Sandbox",
    "Stream",
    "judge",
    "open_process_sandbox",
]
