"""The fan-out latency histogram and the log redaction, without I/O."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.logs import _redact
from server.metrics import LatencyHistogram


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200))
def test_buckets_are_cumulative_and_count_every_observation(values: list[float]) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.observe(value)
    family = histogram.family("x", "x")
    buckets = [s for s in family.samples if s.name == "x_bucket"]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts)
    assert buckets[-1].labels["le"] == "+Inf" and counts[-1] == len(values)
    for sample in buckets[:-1]:
        bound_ms = float(sample.labels["le"]) * 1000
        assert sample.value == sum(1 for v in values if v <= bound_ms + 1e-9)
    total = next(s.value for s in family.samples if s.name == "x_sum")
    assert abs(total - sum(values) / 1000) < 1e-6 * max(1.0, sum(values))


def test_secret_keys_and_url_tokens_are_redacted() -> None:
    event: dict[str, Any] = {
        "event": 'GET /auth/verify?token=abc123&x=1 HTTP/1.1', "email": "ada@example.com",
        "token": "eyJhbGciOi", "code": "print(1)", "sid": "s-1", "user": "u-1"}
    out = _redact(None, "info", event)
    assert "abc123" not in out["event"] and "x=1" in out["event"]
    assert out["email"] == out["token"] == out["code"] == "[redacted]"
    assert out["sid"] == "s-1" and out["user"] == "u-1"
