"""How well a learner recalled a question, graded from what happened in the session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from tutor.content import Difficulty


class Rating(IntEnum):
    """The four grades both schedulers understand (the values FSRS uses)."""

    AGAIN = 1
    HARD = 2
    GOOD = 3
    EASY = 4

    @property
    def recalled(self) -> bool:
        return self is not Rating.AGAIN


@dataclass(frozen=True)
class Outcome:
    """The facts of one session on one question."""

    difficulty: Difficulty
    tests_passed: int
    tests_total: int
    hint_level: int
    attempts: int
    seconds: float

    def __post_init__(self) -> None:
        if not 0 <= self.tests_passed <= self.tests_total:
            raise ValueError("tests_passed must be between 0 and tests_total")
        if not 0 <= self.hint_level <= 5:
            raise ValueError("hint_level must be between 0 and 5")
        if self.attempts < 0 or self.seconds < 0:
            raise ValueError("attempts and seconds cannot be negative")

    @property
    def solved(self) -> bool:
        return 0 < self.tests_total == self.tests_passed


def _quick() -> dict[Difficulty, float]:
    return {Difficulty.EASY: 600.0, Difficulty.MEDIUM: 1200.0, Difficulty.HARD: 2100.0}


@dataclass(frozen=True)
class GradeRules:
    """Where the grade boundaries lie; the server fills these from its settings."""

    # Hint 3 spells the approach out, so solving after it is no longer unaided recall.
    hard_from_hint: int = 3
    # Hint 5 is the worked solution: copying it is not recall at all.
    again_from_hint: int = 5
    hard_after_attempts: int = 4
    quick_seconds: Mapping[Difficulty, float] = field(default_factory=_quick)


def grade(outcome: Outcome, rules: GradeRules | None = None) -> Rating:
    """AGAIN unless solved without the solution; EASY when solved at once, alone and quickly."""
    rules = rules or GradeRules()
    if not outcome.solved or outcome.hint_level >= rules.again_from_hint:
        return Rating.AGAIN
    if outcome.hint_level >= rules.hard_from_hint or outcome.attempts >= rules.hard_after_attempts:
        return Rating.HARD
    quick = rules.quick_seconds.get(outcome.difficulty, 0.0)
    if outcome.hint_level == 0 and outcome.attempts <= 1 and outcome.seconds <= quick:
        return Rating.EASY
    return Rating.GOOD
