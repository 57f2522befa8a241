"""OpenTelemetry tracing of a node, exported over OTLP (HTTP) when OTEL_EXPORTER_OTLP_ENDPOINT is
set and off otherwise: then no provider is installed, nothing is instrumented, and the code paths
below only test one flag.

Spans: each HTTP request, each /ws request, each Redis command and Postgres query made while
serving one (the libraries' instrumentations), each sandbox run, and each event's publication and
its delivery on every node: the event carries its trace context (the envelope's `trace` field),
so one learner action is one trace across nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.settings import Settings

_tracer = trace.get_tracer("wingman.server")
_enabled = False


def enabled() -> bool:
    return _enabled


class _NoBackgroundClients(Sampler):
    """Roots are sampled by ratio, except Redis and Postgres calls made outside any request
    (heartbeats, the trace writer's batches): each would be a trace of one span, every second."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: Any = None) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                         trace_state)

    def get_description(self) -> str:
        return f"NoBackgroundClients({self._ratio.get_description()})"


def start_tracing(settings: Settings) -> Callable[[], None] | None:
    """Install the exporting provider when an endpoint is configured; returns its shutdown."""
    global _enabled
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    resource = Resource.create({"service.name": settings.otel_service_name,
                                "service.instance.id": settings.node_id})
    provider = TracerProvider(resource=resource, sampler=ParentBased(
        root=_NoBackgroundClients(settings.otel_traces_sampler_arg)))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    # Statements are recorded without their parameters; Redis arguments as `?`.
    RedisInstrumentor().instrument(tracer_provider=provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _enabled = True

    def stop() -> None:
        global _enabled
        _enabled = False
        provider.shutdown()

    return stop


@contextmanager
def _span(name: str, kind: SpanKind, attributes: dict[str, Any],
          context: Context | None = None) -> Iterator[trace.Span]:
    with _tracer.start_as_current_span(name, context=context, kind=kind,
                                       attributes=attributes) as span:
        yield span


def request_span(kind: str, attributes: dict[str, Any]) -> Any:
    """A span for one /ws request (a no-op context when tracing is off)."""
    if not _enabled:
        return nullcontext()
    return _span(f"ws {kind}", SpanKind.SERVER, attributes)


def run_span(attributes: dict[str, Any]) -> Any:
    if not _enabled:
        return nullcontext()
    return _span("sandbox.run", SpanKind.INTERNAL, attributes)


def failed(span: Any, code: str) -> None:
    """Mark a request's span as answered with an error (`span` may be the no-op's None)."""
    if span is not None:
        span.set_attribute("wingman.error", code)
        span.set_status(Status(StatusCode.ERROR, code))


class HttpSpans:
    """A server span per HTTP request, named by its route template, continuing a caller's trace
    (W3C traceparent header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _enabled:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with _span(method, SpanKind.SERVER, {"http.request.method": method},
                   context=extract(headers)) as span:

            async def noting(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, noting)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
