"""Helpers for real sandbox runs: prerequisites, output capture, leftover processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from sandbox import Limits, ProcessSandbox, RunOutcome, RunRequest, Stream
from tests.components import UID_BASE, missing

TEST_LIMITS = Limits(
    wall_seconds=2.0,
    memory_bytes=128 * 1024 * 1024,
    processes=32,
    output_bytes=1024 * 1024,
    file_bytes=8 * 1024 * 1024,
)
# Clear of the default 61000 (a dev server on this host may hold it), and of the nodes the other
# tests start; moves with WINGMAN_TEST_UID_BASE so concurrent test runs keep apart.
FIRST_UID = UID_BASE - 900
SLOTS = 4


def require(present: bool, what: str) -> None:
    """Missing prerequisites fail the tests on CI and skip them elsewhere."""
    if present:
        return
    missing(f"{what} for the process sandbox tests")


@dataclass
class Output:
    chunks: list[tuple[float, Stream, str]] = field(default_factory=list)

    async def __call__(self, stream: Stream, text: str) -> None:
        self.chunks.append((time.monotonic(), stream, text))

    def text(self, stream: Stream = Stream.STDOUT) -> str:
        return "".join(text for _, kind, text in self.chunks if kind == stream)


SandboxFactory = Callable[..., ProcessSandbox]


async def run(
    sandbox: ProcessSandbox, code: str, cancel: anyio.Event | None = None, **request: Any
) -> tuple[RunOutcome, Output]:
    output = Output()
    outcome = await sandbox.run(
        RunRequest("python", code, **request), output, cancel or anyio.Event()
    )
    return outcome, output


def slot_processes() -> list[int]:
    """Pids of live processes owned by any slot uid."""
    uids = {str(FIRST_UID + index) for index in range(SLOTS + 1)}  # + the one extra
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if fields["Uid"].split()[0] in uids and not fields["State"].strip().startswith("Z"):
            found.append(int(status.parent.name))
    return found
