"""Prometheus metrics of one node, served at /metrics; the sandbox's runs are counted here."""

from __future__ import annotations

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from sandbox import OutputSink, RunOutcome, RunRequest, Sandbox
from sandbox.queue import QueueFull, Ticket

# One registry per process: a node is one process.
REGISTRY = CollectorRegistry()

RUNS = Counter("wingman_sandbox_runs", "Sandbox runs by backend, language and the limit hit",
               ["backend", "language", "limit"], registry=REGISTRY)
RUN_SECONDS = Histogram("wingman_sandbox_run_seconds", "Wall time of one sandbox run",
                        ["backend", "language"], registry=REGISTRY,
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20))
PEAK_MEMORY = Histogram("wingman_sandbox_peak_memory_bytes", "Peak memory of one sandbox run",
                        ["backend", "language"], registry=REGISTRY,
                        buckets=tuple(2**n * 1024 * 1024 for n in range(2, 10)))
BUSY = Counter("wingman_sandbox_busy", "Runs refused because the sandbox queue was full",
               ["backend"], registry=REGISTRY)
ACTIVE = Gauge("wingman_sandbox_active", "Sandbox runs holding a slot", registry=REGISTRY)
QUEUED = Gauge("wingman_sandbox_queued", "Sandbox runs waiting for a slot", registry=REGISTRY)
REMINDERS = Counter("wingman_reminders", "Daily reminders of due reviews, by channel and outcome",
                    ["channel", "outcome"], registry=REGISTRY)
NOTIFICATIONS_PUSHED = Counter("wingman_notifications_pushed",
                               "In-app notifications written to users' sockets on this node",
                               registry=REGISTRY)


class MeteredSandbox:
    """A sandbox whose runs are counted: time, peak memory and limit per run."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.name = inner.name
        ACTIVE.set_function(lambda: inner.active)
        QUEUED.set_function(lambda: inner.queued)

    @property
    def active(self) -> int:
        return self.inner.active

    @property
    def queued(self) -> int:
        return self.inner.queued

    def reserve(self, owner: str) -> Ticket:
        try:
            return self.inner.reserve(owner)
        except QueueFull:
            BUSY.labels(self.name).inc()
            raise

    async def run(self, request: RunRequest, on_output: OutputSink, cancel: anyio.Event,
                  ticket: Ticket | None = None) -> RunOutcome:
        outcome = await self.inner.run(request, on_output, cancel, ticket)
        limit = outcome.limit.value if outcome.limit is not None else "none"
        RUNS.labels(self.name, request.language, limit).inc()
        RUN_SECONDS.labels(self.name, request.language).observe(outcome.duration_ms / 1000)
        PEAK_MEMORY.labels(self.name, request.language).observe(outcome.peak_memory_kib * 1024)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()


async def endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type="text/plain; version=0.0.4")
