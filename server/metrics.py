"""Prometheus metrics of one node, served at /metrics.

What changes on the fan-out path (events published and delivered, fan-out latency) is kept in
plain counters the node already holds and read when scraped; requests, errors, closes, rate-limit
refusals and sandbox runs use prometheus_client's own metrics. Everything is in one registry."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import OutputSink, RunOutcome, RunRequest, Sandbox
from sandbox.docker import DockerSandbox
from sandbox.languages import LANGUAGES
from sandbox.queue import QueueFull, Ticket
from server import tracing

if TYPE_CHECKING:
    from server.node import Node

# One registry per process: a node is one process.
REGISTRY = CollectorRegistry()

# Requests and their outcomes.
WS_REQUEST_SECONDS = Histogram(
    "wingman_ws_request_seconds", "Time to serve one /ws request, by request type", ["type"],
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
HTTP_REQUEST_SECONDS = Histogram(
    "wingman_http_request_seconds", "Time to answer one HTTP request, by route and status",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ERRORS = Counter("wingman_errors", "Error replies over /ws, by error code", ["code"],
                 registry=REGISTRY)
CLOSES = Counter("wingman_ws_closes",
                 "WebSocket connections closed by the server, by close code (1013: too slow)",
                 ["code"], registry=REGISTRY)
CONNECTS = Counter("wingman_ws_connections_opened", "Authenticated /ws connections opened",
                   registry=REGISTRY)
RATE_LIMITED = Counter("wingman_rate_limited", "Requests refused by a rate limit, by limit",
                       ["limit"], registry=REGISTRY)

# Sandbox runs.
RUNS = Counter("wingman_sandbox_runs", "Sandbox runs by backend, language and the limit hit",
               ["backend", "language", "limit"], registry=REGISTRY)
RUN_SECONDS = Histogram("wingman_sandbox_run_seconds", "Wall time of one sandbox run",
                        ["backend", "language"], registry=REGISTRY,
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20))
RUN_WAIT_SECONDS = Histogram(
    "wingman_sandbox_wait_seconds",
    "Time a run waited before its code ran: a queue slot, a warm container or process start",
    ["backend", "language"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PEAK_MEMORY = Histogram("wingman_sandbox_peak_memory_bytes", "Peak memory of one sandbox run",
                        ["backend", "language"], registry=REGISTRY,
                        buckets=tuple(2**n * 1024 * 1024 for n in range(2, 10)))
BUSY = Counter("wingman_sandbox_busy", "Runs refused because the sandbox queue was full",
               ["backend"], registry=REGISTRY)
ACTIVE = Gauge("wingman_sandbox_active", "Sandbox runs holding a slot", registry=REGISTRY)
QUEUED = Gauge("wingman_sandbox_queued", "Sandbox runs waiting for a slot", registry=REGISTRY)
POOL_READY = Gauge("wingman_sandbox_pool_ready", "Started containers waiting for a run (Docker)",
                   ["language"], registry=REGISTRY)
# A gauge read from the pool's own count, which only grows (prometheus_client counters cannot be
# read from a function).
POOL_MISSES = Gauge("wingman_sandbox_pool_misses",
                    "Runs that found no started container and waited for one to start (Docker)",
                    ["language"], registry=REGISTRY)
REMINDERS = Counter("wingman_reminders", "Daily reminders of due reviews, by channel and outcome",
                    ["channel", "outcome"], registry=REGISTRY)
NOTIFICATIONS_PUSHED = Counter("wingman_notifications_pushed",
                               "In-app notifications written to users' sockets on this node",
                               registry=REGISTRY)


class LatencyHistogram:
    """Fan-out latency in milliseconds, counted without a lock: observed once per frame written,
    where prometheus_client's Histogram (a lock per call) costs about four times more CPU."""

    BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BUCKETS_MS) + 1)
        self.sum_ms = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect.bisect_left(self.BUCKETS_MS, ms)] += 1
        self.sum_ms += ms

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*self.BUCKETS_MS, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append((_le(bound), cumulative))
        return HistogramMetricFamily(name, documentation, buckets=buckets,
                                     sum_value=self.sum_ms / 1000)


def _le(bound_ms: float) -> str:
    return "+Inf" if bound_ms == float("inf") else repr(bound_ms / 1000)


# Event `ts` (set by the bus, in ms) to the moment the frame was handed to the socket.
FANOUT = LatencyHistogram()


def frame_written(ts_ms: int) -> None:
    """A frame carrying an event went out; `ts_ms` is the event's time (0: not an event)."""
    if ts_ms:
        FANOUT.observe(time.time() * 1000 - ts_ms)


class NodeCollector(Collector):
    """Read at scrape time from what the node holds: connections, sessions, members by role, send
    queues, and the hub's event counters."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        connections = GaugeMetricFamily(
            "wingman_connections", "Open authenticated /ws connections, by the account's highest "
            "role", labels=["role"])
        by_role: dict[str, int] = dict.fromkeys(("learner", "mentor", "admin"), 0)
        queued_total = queued_max = 0
        for connection in node.roster.connections():
            roles = connection.identity.roles
            role = "admin" if "admin" in roles else "mentor" if "mentor" in roles else "learner"
            by_role[role] = by_role.get(role, 0) + 1
            queued = connection.queued_bytes
            queued_total += queued
            queued_max = max(queued_max, queued)
        for role, count in sorted(by_role.items()):
            connections.add_metric([role], count)
        yield connections

        sessions = GaugeMetricFamily("wingman_sessions", "Live sessions this node serves")
        sessions.add_metric([], len(node.hub.live))
        yield sessions
        members = GaugeMetricFamily(
            "wingman_session_members", "Session members on this node, by role in the session",
            labels=["role"])
        in_role: dict[str, int] = dict.fromkeys(("learner", "observer", "admin"), 0)
        for live in node.hub.live.values():
            for member in live.members.values():
                in_role[member.role.value] = in_role.get(member.role.value, 0) + 1
        for role, count in sorted(in_role.items()):
            members.add_metric([role], count)
        yield members

        queue = GaugeMetricFamily("wingman_send_queue_bytes",
                                  "Bytes waiting in send queues: all connections, and the fullest",
                                  labels=["of"])
        queue.add_metric(["total"], queued_total)
        queue.add_metric(["max"], queued_max)
        yield queue

        counts = node.hub.counts
        published = CounterMetricFamily("wingman_events_published",
                                        "Session events this node published, by kind",
                                        labels=["kind"])
        for kind, count in sorted(counts.published.items()):
            published.add_metric([kind], count)
        yield published
        received = CounterMetricFamily("wingman_events_received",
                                       "Session events that reached this node's live sessions")
        received.add_metric([], counts.received)
        yield received
        delivered = CounterMetricFamily("wingman_events_delivered",
                                        "Event frames queued to members on this node")
        delivered.add_metric([], counts.delivered)
        yield delivered
        yield FANOUT.family("wingman_fanout_seconds",
                            "Event time (set when published) to its frame written to the socket")


def watch_node(node: Node) -> Callable[[], None]:
    """Register the node's collector; the returned function unregisters it."""
    collector = NodeCollector(node)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)

# The durable trace write path (server/trace_streams.py, storage/trace.py) and retention.
TRACE_LAG = Gauge("wingman_trace_lag_events",
                  "Trace events not yet trimmed from a Redis trace stream (or queued in process)",
                  ["stream"], registry=REGISTRY)
TRACE_BATCH = Histogram("wingman_trace_batch_events", "Events in one batch written to Postgres",
                        registry=REGISTRY, buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
TRACE_WRITTEN = Counter("wingman_trace_events_written", "Trace events written to Postgres",
                        registry=REGISTRY)
TRACE_DEAD_LETTERS = Counter("wingman_trace_dead_letters",
                             "Trace events set aside in trace_dead_letters, by error",
                             ["reason"], registry=REGISTRY)
TRACE_REFUSED = Counter("wingman_trace_refused",
                        "Events refused as unavailable because the trace backlog was at its bound",
                        registry=REGISTRY)
RETENTION_RUNS = Counter("wingman_trace_retention_runs",
                         "Retention job runs, by outcome (done, skipped: another node holds it)",
                         ["outcome"], registry=REGISTRY)
RETENTION_PARTITIONS = Counter("wingman_trace_retention_partitions_dropped",
                               "Daily trace partitions dropped by the retention job",
                               registry=REGISTRY)
RETENTION_EVENTS = Counter("wingman_trace_retention_events_removed",
                           "Trace events removed by the retention job (expired or erased)",
                           registry=REGISTRY)


def _bound(read: Callable[[str], float], language: str) -> Callable[[], float]:
    return lambda: read(language)


class MeteredSandbox:
    """A sandbox whose runs are counted: waiting, time, peak memory and limit per run."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.name = inner.name
        ACTIVE.set_function(lambda: inner.active)
        QUEUED.set_function(lambda: inner.queued)
        if isinstance(inner, DockerSandbox):
            pool = inner.pool
            for language in LANGUAGES:
                POOL_READY.labels(language).set_function(_bound(pool.ready, language))
                POOL_MISSES.labels(language).set_function(_bound(pool.misses.__getitem__,
                                                                 language))

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
        began = time.monotonic()
        with tracing.run_span({"wingman.sandbox": self.name,
                               "wingman.language": request.language}) as span:
            outcome = await self.inner.run(request, on_output, cancel, ticket)
            if span is not None:
                span.set_attribute("wingman.limit", outcome.limit.value if outcome.limit
                                   else "none")
        took = time.monotonic() - began
        limit = outcome.limit.value if outcome.limit is not None else "none"
        RUNS.labels(self.name, request.language, limit).inc()
        RUN_SECONDS.labels(self.name, request.language).observe(outcome.duration_ms / 1000)
        RUN_WAIT_SECONDS.labels(self.name, request.language).observe(
            max(0.0, took - outcome.duration_ms / 1000))
        PEAK_MEMORY.labels(self.name, request.language).observe(outcome.peak_memory_kib * 1024)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()


class HttpMetrics:
    """Times each HTTP request by its route's template (never the raw path: ids would make a
    series per session)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            HTTP_REQUEST_SECONDS.labels(scope["method"], route_of(scope), str(status)).observe(
                time.perf_counter() - began)


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/sessions/{sid}/trace`), or `other`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    return "other"


async def endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type="text/plain; version=0.0.4")
