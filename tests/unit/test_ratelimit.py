"""The GCRA decision: bursts, steady rates, waits; and the in-process limiter's bounded memory."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.ratelimit import Decision, InProcessLimiter, Rate, decide

rates = st.builds(Rate, count=st.integers(1, 100),
                  seconds=st.sampled_from([0.001, 0.5, 1.0, 3.0, 60.0, 3600.0]),
                  burst=st.integers(1, 20))
# Gaps between requests in µs: many at the same instant, some long pauses.
gaps = st.lists(st.one_of(st.just(0), st.integers(0, 2_000), st.integers(0, 5_000_000)),
                max_size=200)


def replay(rate: Rate, times: list[int]) -> list[Decision]:
    tat: int | None = None
    decisions = []
    for now in times:
        decision = decide(tat, now, rate)
        tat = decision.tat_us
        decisions.append(decision)
    return decisions


def instants(start: int, steps: list[int]) -> list[int]:
    times, now = [], start
    for step in steps:
        now += step
        times.append(now)
    return times


@given(rates, st.integers(0, 10**15), gaps)
def test_never_more_than_burst_plus_rate_times_window(rate: Rate, start: int,
                                                      steps: list[int]) -> None:
    times = instants(start, steps)
    allowed = [t for t, d in zip(times, replay(rate, times), strict=True) if d.allowed]
    per_us = Fraction(rate.count) / (Fraction(rate.seconds) * 1_000_000)
    for i in range(len(allowed)):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= rate.burst + (allowed[j] - allowed[i]) * per_us


@given(rates, st.integers(0, 10**15), gaps)
def test_retry_after_is_positive_exactly_when_refused(rate: Rate, start: int,
                                                      steps: list[int]) -> None:
    for decision in replay(rate, instants(start, steps)):
        assert decision.allowed == (decision.retry_after_ms == 0)
        assert decision.retry_after_ms >= 0


@given(rates, st.integers(0, 10**15), gaps)
def test_after_waiting_retry_after_the_next_request_is_allowed(rate: Rate, start: int,
                                                               steps: list[int]) -> None:
    times = instants(start, steps)
    tat: int | None = None
    for now in times:
        decision = decide(tat, now, rate)
        if not decision.allowed:
            later = now + decision.retry_after_ms * 1000
            assert decide(decision.tat_us, later, rate).allowed
            # Not much sooner either: the wait is at most a millisecond longer than needed.
            if decision.retry_after_ms > 1:
                sooner = later - 1000 - 1
                assert not decide(decision.tat_us, sooner, rate).allowed
        tat = decision.tat_us


@given(rates, st.integers(0, 10**15))
def test_a_full_burst_fits_at_once_then_the_next_waits(rate: Rate, now: int) -> None:
    decisions = replay(rate, [now] * (rate.burst + 1))
    assert all(d.allowed for d in decisions[:-1])
    assert 0 < decisions[-1].retry_after_ms <= -(-rate.interval_us // 1000)


@given(rates, st.integers(0, 10**15), st.integers(1, 300))
def test_requests_at_the_rate_are_always_allowed(rate: Rate, start: int, n: int) -> None:
    times = [start + k * rate.interval_us for k in range(n)]
    assert all(d.allowed for d in replay(rate, times))


def test_a_refused_request_costs_nothing() -> None:
    rate = Rate(1, 1.0, 1)
    first = decide(None, 0, rate)
    refused = decide(first.tat_us, 10, rate)
    assert refused.retry_after_ms == 1000 and refused.tat_us == first.tat_us
    assert decide(refused.tat_us, 1_000_000, rate).allowed


@pytest.mark.parametrize(("text", "rate"), [
    ("30/s burst 60", Rate(30, 1.0, 60)),
    ("20/min burst 6", Rate(20, 60.0, 6)),
    ("5/min", Rate(5, 60.0, 5)),
    ("5/10s", Rate(5, 10.0, 5)),
    ("100 / hour", Rate(100, 3600.0, 100)),
    ("1/0.5s burst 2", Rate(1, 0.5, 2)),
])
def test_rates_read_as_written(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("text", ["", "5", "5/fortnight", "0/s", "5/s burst 0", "-1/s", "5/0s"])
def test_nonsense_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Rate.parse(text)


def test_idle_keys_are_dropped_and_memory_stays_bounded() -> None:
    now = [0]
    limiter = InProcessLimiter(capacity=100, clock=lambda: now[0])
    rate = Rate(1, 1.0, 1)
    for n in range(50):
        assert limiter.take(f"k{n}", rate) == 0
    assert len(limiter) == 50
    now[0] = 2_000_000
    assert limiter.take("fresh", rate) == 0
    assert len(limiter) == 1
    for n in range(1000):
        limiter.take(f"many{n}", rate)
    assert len(limiter) <= 100


def test_the_key_in_use_survives_a_stream_of_other_keys() -> None:
    now = [0]
    limiter = InProcessLimiter(capacity=10, clock=lambda: now[0])
    rate = Rate(1, 60.0, 1)
    assert limiter.take("busy", rate) == 0
    for n in range(100):
        limiter.take(f"other{n}", rate)
        assert limiter.take("busy", rate) > 0
