"""Public types of the sandbox: what a run asks for and what it reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import anyio

from sandbox.queue import Ticket


class Limit(StrEnum):
    TIME = "time"
    MEMORY = "memory"
    PROCESSES = "processes"
    OUTPUT = "output"
    DISK = "disk"
    CANCELLED = "cancelled"
    LOST = "lost"


class Stream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    memory_bytes: int = 256 * 1024 * 1024
    processes: int = 64
    output_bytes: int = 1024 * 1024
    file_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class Call:
    """One test case: call the learner's function with these JSON args."""

    name: str
    args: list[Any]


@dataclass(frozen=True)
class RunRequest:
    """No calls: run the code as __main__. With calls: exec it, then call `function` per call."""

    language: str
    code: str
    stdin: str = ""
    function: str | None = None
    calls: tuple[Call, ...] = ()


@dataclass(frozen=True)
class CallResult:
    name: str
    ok: bool
    value: Any = None
    error: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int | None
    duration_ms: int
    peak_memory_kib: int
    limit: Limit | None
    results: tuple[CallResult, ...]


OutputSink = Callable[[Stream, str], Awaitable[None]]


class Sandbox(Protocol):
    name: str

    @property
    def active(self) -> int: ...

    @property
    def queued(self) -> int: ...

    def reserve(self, owner: str) -> Ticket:
        """A place for one run of owner's (raises QueueFull); run() takes its turns with it."""
        ...

    async def run(
        self,
        request: RunRequest,
        on_output: OutputSink,
        cancel: anyio.Event,
        ticket: Ticket | None = None,
    ) -> RunOutcome: ...

    async def aclose(self) -> None: ...
