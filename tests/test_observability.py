"""What operators see of a real node: /metrics moved by a scripted session, JSON log lines carrying
ids and no personal data, /readyz and the SIGTERM drain, and one learner action as one trace
across two nodes on one Redis, collected by an OTLP receiver in the test."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tests.client import Client, http_get, open_client, register
from tests.components import RunningNode, free_port, redis_server, running_node
from tests.test_cluster import admin_on, learner_on, start_nodes

# Distinctive, so the test can tell whether it reached a log line.
SECRET_CODE = "def two_sum(nums, target):\n    return ['zanzibar-quokka']\n"
NAME = "Ottoline Quillfeather"


@pytest.fixture(scope="module")
def observed(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("observed"),
                      RATE_TUTOR_TURNS="1/min burst 1", SEND_QUEUE_BYTES="16384",
                      NODE_ID="observed-1") as node:
        yield node


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a /metrics page (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def metrics(node: RunningNode) -> str:
    answer = await http_get(node, "/metrics")
    assert answer.status_code == 200
    return answer.text


async def quiet(*clients: Client, seconds: float = 0.5) -> None:
    """Read until no frame arrives for a while."""
    for client in clients:
        while True:
            try:
                await client.receive(seconds)
            except TimeoutError:
                break


async def test_metrics_move_by_what_a_session_did(observed: RunningNode) -> None:
    before = await metrics(observed)
    learner = await register(observed, name=NAME)
    tab = await open_client(observed, learner.token)
    sid = (await tab.ok("session.create", question_id="two-sum"))["sid"]
    await tab.ok("session.join", sid=sid, role="learner")
    watcher, _ = await admin_on(observed, sid)
    await tab.until("presence.join", role="admin")
    await quiet(tab, watcher)
    tab.events.clear()
    watcher.events.clear()

    page = await metrics(observed)
    assert sample(page, "wingman_connections", role="learner") >= 1
    assert sample(page, "wingman_connections", role="admin") >= 1
    assert sample(page, "wingman_session_members", role="learner") >= 1
    assert sample(page, "wingman_session_members", role="admin") >= 1
    assert sample(page, "wingman_sessions") >= 1
    mid = page

    for n in range(3):
        await tab.ok("code.update", sid=sid, code=f"# attempt {n}\n")
    await watcher.until("code.updated", code="# attempt 2\n")
    await tab.until("code.updated", code="# attempt 2\n")
    missing = await tab.request("code.update", sid="0190a4f2-0000-7000-8000-000000000000",
                                code="x")
    assert missing["error"]["code"] == "not_found"
    assert (await tab.request("tutor.ask", sid=sid, text="where do I start?"))["ok"]
    limited = await tab.request("tutor.ask", sid=sid, text="and then?")
    assert limited["error"]["code"] == "rate_limited"
    assert (await http_get(observed, "/api/questions", learner.token)).status_code == 200
    await quiet(tab, watcher)

    after = await metrics(observed)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(mid, name, **labels)

    assert moved("wingman_events_published_total", kind="code.updated") == 3
    assert moved("wingman_ws_request_seconds_count", type="code.update") == 4
    assert moved("wingman_ws_request_seconds_count", type="tutor.ask") == 1
    assert moved("wingman_errors_total", code="not_found") == 1
    assert moved("wingman_errors_total", code="rate_limited") == 1
    assert moved("wingman_rate_limited_total", limit="tutor") == 1
    # Every event frame the two clients got was counted as delivered, and timed once written.
    received = len(tab.events) + len(watcher.events)
    assert received >= 6
    assert moved("wingman_events_delivered_total") == received
    assert moved("wingman_events_received_total") >= 3
    assert moved("wingman_fanout_seconds_count") == received
    assert moved("wingman_http_request_seconds_count", method="GET", route="/api/questions",
                 status="200") == 1
    assert sample(before, "wingman_ws_connections_opened_total") + 2 <= sample(
        after, "wingman_ws_connections_opened_total")

    # A peer whose send queue cannot take a frame is closed with 1013, and counted.
    big = "#" * 20_000
    await tab.send({"type": "code.update", "ref": 1, "sid": sid, "code": big})
    assert await watcher.close_code() == 1013
    assert await tab.close_code() == 1013
    await anyio.sleep(0.5)
    closed = await metrics(observed)
    assert sample(closed, "wingman_ws_closes_total", code="1013") - sample(
        after, "wingman_ws_closes_total", code="1013") == 2


async def test_a_sandbox_run_is_counted_and_timed(observed: RunningNode) -> None:
    _, client, sid = await learner_on(observed)
    before = await metrics(observed)
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print('hi')"))["run_id"]
    await client.until("run.finished", within=60, run_id=run_id)
    after = await metrics(observed)
    runs = [f for f in text_string_to_metric_families(after) if f.name == "wingman_sandbox_runs"]
    total = sum(s.value for f in runs for s in f.samples if s.name.endswith("_total"))
    runs_before = [f for f in text_string_to_metric_families(before)
                   if f.name == "wingman_sandbox_runs"]
    total_before = sum(s.value for f in runs_before for s in f.samples
                       if s.name.endswith("_total"))
    assert total - total_before == 1

    def waits(page: str) -> float:
        return sum(s.value for f in text_string_to_metric_families(page)
                   if f.name == "wingman_sandbox_wait_seconds" for s in f.samples
                   if s.name.endswith("_count"))

    assert waits(after) - waits(before) == 1
    backends = {s.labels["backend"] for f in runs for s in f.samples}
    if backends == {"docker"}:
        assert any(f.name == "wingman_sandbox_pool_ready" and
                   {s.labels["language"] for s in f.samples} == {"python", "javascript"}
                   for f in text_string_to_metric_families(after))


async def test_log_lines_are_json_with_ids_and_no_personal_data(observed: RunningNode) -> None:
    learner = await register(observed, name=NAME)
    tab = await open_client(observed, learner.token)
    sid = (await tab.ok("session.create", question_id="two-sum"))["sid"]
    await tab.ok("session.join", sid=sid, role="learner")
    await tab.ok("code.update", sid=sid, code=SECRET_CODE)
    await tab.request("tutor.ask", sid=sid, text="is zanzibar-quokka right?")
    await tab.close()
    await anyio.sleep(1.0)

    text = observed.log.read_text(errors="replace")
    lines = []
    for raw in text.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    assert lines and all("level" in line and "timestamp" in line for line in lines)
    assert all(line.get("node") == "observed-1" for line in lines)
    created = [line for line in lines if line.get("event") == "session.create answered"
               and line.get("sid") == sid]
    assert created and created[0]["user"] == learner.user
    assert isinstance(created[0]["conn"], int) and created[0]["request_id"]
    joined = [line for line in lines if line.get("event") == "session.join answered"
              and line.get("sid") == sid]
    assert joined and joined[0]["conn"] == created[0]["conn"]
    access = [line for line in lines if line.get("logger") == "uvicorn.access"
              and "/auth/register" in line.get("event", "")]
    assert access and all(line.get("request_id") for line in access)
    for secret in (learner.email, learner.token, learner.password, NAME, "zanzibar-quokka"):
        assert secret not in text


async def test_http_answers_carry_the_request_id_of_their_log_lines(
        observed: RunningNode) -> None:
    async with httpx.AsyncClient(base_url=observed.url) as http:
        mine = await http.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c"})
        assert mine.headers["x-request-id"] == "lb-7f3a9c"
        hostile = await http.get("/healthz", headers={"X-Request-ID": 'x" injected=1'})
        made = hostile.headers["x-request-id"]
        assert made != 'x" injected=1' and len(made) == 32
    await anyio.sleep(0.5)
    lines = [json.loads(raw) for raw in observed.log.read_text().splitlines()
             if raw.startswith("{")]
    assert any(line.get("request_id") == "lb-7f3a9c" and "/healthz" in line["event"]
               for line in lines)


async def test_readyz_and_the_drain_on_sigterm(database_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        node = stack.enter_context(running_node(database_url, tmp_path / "n", REDIS_URL=redis_url,
                                                DRAIN_SECONDS="3"))
        ready = await http_get(node, "/readyz")
        assert ready.status_code == 200
        assert ready.json()["postgres"] is True and ready.json()["redis"] is True
        _, client, sid = await learner_on(node)

        node.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            while True:
                answer = await http_get(node, "/readyz")
                if answer.status_code != 200:
                    break
                await anyio.sleep(0.1)
        assert answer.status_code == 503 and answer.json()["draining"] is True
        assert (await http_get(node, "/healthz")).status_code == 200
        # Still serving what it holds while the load balancer takes it out.
        await client.ok("code.update", sid=sid, code="# still here\n")
        assert await client.close_code(within=15) == 1012
        node.process.wait(20)


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps every span it is sent, with its node."""

    spans: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append({
                        "node": attributes.get("service.instance.id"),
                        "service": attributes.get("service.name"),
                        "trace": span.trace_id.hex(), "span": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(), "name": span.name,
                        "attributes": {a.key: _value(a.value) for a in span.attributes}})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    spans: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"spans": spans})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


async def test_one_learner_action_is_one_trace_across_two_nodes(
        database_url: str, tmp_path: Path,
        otlp_receiver: tuple[str, list[dict[str, Any]]]) -> None:
    endpoint, spans = otlp_receiver
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        nodes = start_nodes(stack, database_url, redis_url, tmp_path, ("a", "b"),
                            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
        _, learner, sid = await learner_on(nodes["a"])
        watcher, _ = await admin_on(nodes["b"], sid)
        update = await learner.ok("code.update", sid=sid, code="# traced\n")
        seen = await watcher.until("code.updated", code="# traced\n")
        assert seen["seq"] == update["seq"]

        def delivered_on_b() -> dict[str, Any] | None:
            for span in list(spans):
                if span["name"] == "session.deliver" and span["node"] == "b" and \
                        span["attributes"].get("wingman.sid") == sid and \
                        span["attributes"].get("wingman.seq") == update["seq"]:
                    return span
            return None

        with anyio.fail_after(20):
            while True:
                delivery = delivered_on_b()
                if delivery is not None:
                    break
                await anyio.sleep(0.2)
        trace_id = delivery["trace"]
        with anyio.fail_after(20):
            while True:
                in_trace = [s for s in list(spans) if s["trace"] == trace_id]
                names = {(s["node"], s["name"]) for s in in_trace}
                if {("a", "ws code.update"), ("a", "session.publish"),
                        ("a", "session.deliver")} <= names:
                    break
                await anyio.sleep(0.2)
        request = next(s for s in in_trace if s["name"] == "ws code.update")
        assert request["parent"] == "" and request["attributes"]["wingman.sid"] == sid
        publish = next(s for s in in_trace if s["name"] == "session.publish")
        assert publish["parent"] == request["span"]
        assert delivery["parent"] == publish["span"]
        # The Redis script that placed the event is a span of the same trace.
        assert any(s["node"] == "a" and s["parent"] == publish["span"] and
                   s["name"].upper().startswith("EVALSHA") for s in in_trace), names
        assert {s["service"] for s in in_trace} == {"socraticwingman"}
        # The watcher's client got the trace context in the event, as an optional field.
        assert seen.get("trace", "").split("-")[1] == trace_id
        # HTTP requests are traced too (registration went through Postgres).
        registered = [s for s in list(spans) if s["name"] == "POST /auth/register"]
        assert registered
        assert any(s["parent"] and "postgresql" in (s["attributes"].get("db.system"),
                                                    s["attributes"].get("db.system.name"))
                   for s in spans if s["trace"] == registered[0]["trace"])
