"""The schedulers alone: SM-2 by its published rules, FSRS through its package, the due queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.grading import Rating
from tutor.scheduling import (
    FSRSScheduler,
    ReviewItem,
    Scheduler,
    SM2Scheduler,
    due_queue,
    new_item,
    scheduler_named,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _intervals(scheduler: Scheduler, ratings: list[Rating]) -> list[int]:
    item, now, out = new_item("two-sum", T0), T0, []
    for rating in ratings:
        item = scheduler.review(item, rating, now)
        out.append(item.interval_days)
        now = item.due
    return out


def test_sm2_follows_one_day_six_days_then_the_ease() -> None:
    assert _intervals(SM2Scheduler(), [Rating.GOOD] * 4) == [1, 6, 15, 38]


def test_sm2_lapse_starts_over_and_keeps_the_ease() -> None:
    sm2 = SM2Scheduler()
    item = new_item("two-sum", T0)
    for _ in range(3):
        item = sm2.review(item, Rating.EASY, item.due)
    ease = item.ease
    lapsed = sm2.review(item, Rating.AGAIN, item.due)
    assert (lapsed.interval_days, lapsed.streak, lapsed.ease) == (1, 0, ease)
    assert (lapsed.reviews, lapsed.lapses) == (4, 1)
    assert sm2.review(lapsed, Rating.GOOD, lapsed.due).interval_days == 1


def test_sm2_ease_never_drops_below_its_floor() -> None:
    sm2 = SM2Scheduler()
    item = new_item("two-sum", T0)
    for _ in range(20):
        item = sm2.review(item, Rating.HARD, item.due)
    assert item.ease == pytest.approx(1.3)


def test_fsrs_is_the_default_and_remembers_its_own_state() -> None:
    scheduler = scheduler_named()
    assert scheduler.name == "fsrs"
    item = scheduler.review(new_item("two-sum", T0), Rating.GOOD, T0)
    assert item.stability is not None and item.difficulty is not None
    assert item.due == T0 + timedelta(days=item.interval_days)
    assert item.last_review == T0


def test_fsrs_is_deterministic_and_a_failure_comes_back_tomorrow() -> None:
    fsrs = FSRSScheduler()
    first = fsrs.review(new_item("two-sum", T0), Rating.GOOD, T0)
    assert fsrs.review(new_item("two-sum", T0), Rating.GOOD, T0) == first
    failed = fsrs.review(first, Rating.AGAIN, first.due)
    assert failed.interval_days == 1 and failed.lapses == 1
    after_lapse = fsrs.review(failed, Rating.GOOD, failed.due)
    without_lapse = fsrs.review(first, Rating.GOOD, first.due)
    assert after_lapse.interval_days < without_lapse.interval_days


def test_fsrs_recall_fades_with_time() -> None:
    fsrs = FSRSScheduler()
    assert fsrs.recall(new_item("q", T0), T0) == 0.0
    item = fsrs.review(new_item("q", T0), Rating.GOOD, T0)
    soon = fsrs.recall(item, T0 + timedelta(days=1))
    at_due = fsrs.recall(item, item.due)
    late = fsrs.recall(item, item.due + timedelta(days=60))
    assert 1.0 >= soon > at_due > late > 0.0
    assert at_due == pytest.approx(0.9, abs=0.03)


def test_times_need_a_zone_and_are_kept_in_utc() -> None:
    with pytest.raises(ValueError, match="time zone"):
        SM2Scheduler().review(new_item("q", T0), Rating.GOOD, datetime(2025, 3, 1))
    paris = timezone(timedelta(hours=1))
    item = FSRSScheduler().review(new_item("q", T0), Rating.GOOD, T0.astimezone(paris))
    assert item.last_review == T0 and item.due.tzinfo is UTC


def test_unknown_scheduler_names_are_refused() -> None:
    assert scheduler_named("sm2").name == "sm2"
    with pytest.raises(ValueError, match="'fsrs' or 'sm2'"):
        scheduler_named("leitner")


def test_due_queue_puts_the_most_overdue_for_its_interval_first() -> None:
    now = T0 + timedelta(days=30)
    short = ReviewItem("short", due=now - timedelta(days=4), interval_days=2)
    long = ReviewItem("long", due=now - timedelta(days=10), interval_days=90)
    fresh = ReviewItem("fresh", due=now)
    later = ReviewItem("later", due=now + timedelta(hours=1), interval_days=3)
    assert [i.question_id for i in due_queue([later, long, fresh, short], now)] == [
        "short", "long", "fresh"]
    assert [i.question_id for i in due_queue([later, long, fresh, short], now, 1)] == ["short"]


schedulers = st.sampled_from([FSRSScheduler(), SM2Scheduler(), SM2Scheduler(400)])
passing = st.lists(st.sampled_from([Rating.HARD, Rating.GOOD, Rating.EASY]),
                   min_size=2, max_size=15)
lateness = st.lists(st.integers(0, 30), min_size=15, max_size=15)


@settings(max_examples=150)
@given(schedulers, passing, lateness)
def test_a_learner_who_always_passes_sees_intervals_grow(
    scheduler: Scheduler, ratings: list[Rating], late_days: list[int]
) -> None:
    cap = getattr(scheduler, "maximum_interval_days", 36500)
    item, now, intervals = new_item("q", T0), T0, []
    for rating, late in zip(ratings, late_days, strict=False):
        item = scheduler.review(item, rating, now)
        intervals.append(item.interval_days)
        now = item.due + timedelta(days=late)
    for before, after in pairwise(intervals):
        assert after > before or after == cap, intervals


@given(schedulers, st.lists(st.sampled_from(Rating), min_size=1, max_size=12),
       st.lists(st.integers(0, 400), min_size=12, max_size=12))
def test_every_review_schedules_a_day_or_more_ahead_within_the_cap(
    scheduler: Scheduler, ratings: list[Rating], gaps: list[int]
) -> None:
    cap = getattr(scheduler, "maximum_interval_days", 36500)
    item, now = new_item("q", T0), T0
    for n, (rating, gap) in enumerate(zip(ratings, gaps, strict=False), start=1):
        item = scheduler.review(item, rating, now)
        assert 1 <= item.interval_days <= cap
        assert item.due - now == timedelta(days=item.interval_days)
        assert item.reviews == n
        now += timedelta(days=gap)
