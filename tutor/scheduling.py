"""Spaced repetition: when a learner should see a question again, by SM-2 or by FSRS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import fsrs

from tutor.grading import Rating

# A review is always a whole day or more apart: a coding question is a session, not a flashcard.
MIN_INTERVAL_DAYS = 1
SM2_START_EASE = 2.5
SM2_MIN_EASE = 1.3
# SM-2 grades on a 0-5 scale where 3 is the lowest passing grade.
_SM2_QUALITY = {Rating.AGAIN: 1, Rating.HARD: 3, Rating.GOOD: 4, Rating.EASY: 5}


@dataclass(frozen=True)
class ReviewItem:
    """One question a learner has worked on, with what each scheduler remembers of it."""

    question_id: str
    due: datetime
    last_review: datetime | None = None
    interval_days: int = 0
    reviews: int = 0
    lapses: int = 0
    # SM-2's memory: its easiness factor and the run of passing reviews.
    ease: float = SM2_START_EASE
    streak: int = 0
    # FSRS's memory: None until FSRS has reviewed the item once.
    stability: float | None = None
    difficulty: float | None = None


def new_item(question_id: str, now: datetime) -> ReviewItem:
    return ReviewItem(question_id=question_id, due=utc(now))


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return moment.astimezone(UTC)


class Scheduler(Protocol):
    @property
    def name(self) -> str: ...

    def review(self, item: ReviewItem, rating: Rating, now: datetime) -> ReviewItem:
        """The item after a review graded `rating` at `now`, due again at its next date."""
        ...


def _reviewed(item: ReviewItem, rating: Rating, now: datetime, days: int) -> ReviewItem:
    return replace(
        item,
        due=now + timedelta(days=days),
        last_review=now,
        interval_days=days,
        reviews=item.reviews + 1,
        lapses=item.lapses + (0 if rating.recalled else 1),
    )


class SM2Scheduler:
    """SuperMemo 2 (Wozniak, 1987): 1 day, 6 days, then the last interval times the ease."""

    name = "sm2"

    def __init__(self, maximum_interval_days: int = 36500) -> None:
        if maximum_interval_days < MIN_INTERVAL_DAYS:
            raise ValueError("maximum_interval_days must be at least 1")
        self.maximum_interval_days = maximum_interval_days

    def review(self, item: ReviewItem, rating: Rating, now: datetime) -> ReviewItem:
        now = utc(now)
        if not rating.recalled:
            # A lapse starts the repetitions over and leaves the ease as it was.
            return replace(_reviewed(item, rating, now, MIN_INTERVAL_DAYS), streak=0)
        if item.streak == 0:
            days = 1
        elif item.streak == 1:
            days = 6
        else:
            days = max(round(item.interval_days * item.ease), item.interval_days + 1)
        days = max(MIN_INTERVAL_DAYS, min(days, self.maximum_interval_days))
        miss = 5 - _SM2_QUALITY[rating]
        ease = max(SM2_MIN_EASE, item.ease + 0.1 - miss * (0.08 + miss * 0.02))
        return replace(_reviewed(item, rating, now, days), ease=ease, streak=item.streak + 1)


class FSRSScheduler:
    """FSRS through the `fsrs` package: intervals aimed at a chosen chance of recall."""

    name = "fsrs"

    def __init__(self, desired_retention: float = 0.9, maximum_interval_days: int = 36500) -> None:
        if not 0 < desired_retention < 1:
            raise ValueError("desired_retention must be between 0 and 1")
        self._fsrs = fsrs.Scheduler(
            desired_retention=desired_retention,
            # No minute-scale steps: the next chance to practise is another day's session.
            learning_steps=(),
            relearning_steps=(),
            maximum_interval=maximum_interval_days,
            # Fuzz draws random numbers; the core stays deterministic for a given input.
            enable_fuzzing=False,
        )

    def review(self, item: ReviewItem, rating: Rating, now: datetime) -> ReviewItem:
        now = utc(now)
        known = item.stability is not None and item.difficulty is not None
        card = fsrs.Card(
            card_id=0,
            state=fsrs.State.Review if known else fsrs.State.Learning,
            step=None if known else 0,
            stability=item.stability if known else None,
            difficulty=item.difficulty if known else None,
            due=utc(item.due),
            last_review=utc(item.last_review) if known and item.last_review else None,
        )
        card, _ = self._fsrs.review_card(card, fsrs.Rating(int(rating)), review_datetime=now)
        days = max(MIN_INTERVAL_DAYS, (card.due - now).days)
        return replace(
            _reviewed(item, rating, now, days), stability=card.stability, difficulty=card.difficulty
        )

    def recall(self, item: ReviewItem, now: datetime) -> float:
        """FSRS's estimate of the chance the learner still solves it at `now` (0 if never seen)."""
        if item.stability is None or item.difficulty is None or item.last_review is None:
            return 0.0
        card = fsrs.Card(
            card_id=0,
            state=fsrs.State.Review,
            step=None,
            stability=item.stability,
            difficulty=item.difficulty,
            due=utc(item.due),
            last_review=utc(item.last_review),
        )
        return float(self._fsrs.get_card_retrievability(card, current_datetime=utc(now)))


DEFAULT_SCHEDULER = "fsrs"


def scheduler_named(name: str = DEFAULT_SCHEDULER) -> Scheduler:
    """The scheduler a deployment chose by name: "fsrs" (the default) or "sm2"."""
    if name == FSRSScheduler.name:
        return FSRSScheduler()
    if name == SM2Scheduler.name:
        return SM2Scheduler()
    raise ValueError(f"unknown scheduler {name!r}: choose 'fsrs' or 'sm2'")


def due_queue(
    items: Iterable[ReviewItem], now: datetime, limit: int | None = None
) -> list[ReviewItem]:
    """Items due at `now`, the most overdue for their interval first (a week late on a 2-day
    interval before a week late on a 90-day one)."""
    now = utc(now)

    def lateness(item: ReviewItem) -> tuple[float, datetime, str]:
        span = timedelta(days=max(item.interval_days, MIN_INTERVAL_DAYS))
        return (-((now - utc(item.due)) / span), utc(item.due), item.question_id)

    due = sorted((i for i in items if utc(i.due) <= now), key=lateness)
    return due if limit is None else due[: max(limit, 0)]
