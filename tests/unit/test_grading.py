"""Grading a session into a review rating: what happened decides it, and help never raises it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tutor.content import Difficulty
from tutor.grading import GradeRules, Outcome, Rating, grade


def _outcome(**kw: object) -> Outcome:
    base: dict[str, object] = dict(difficulty=Difficulty.MEDIUM, tests_passed=8, tests_total=8,
                                   hint_level=0, attempts=1, seconds=300.0)
    base.update(kw)
    return Outcome(**base)  # type: ignore[arg-type]


def test_unsolved_is_again() -> None:
    assert grade(_outcome(tests_passed=7)) is Rating.AGAIN
    assert grade(_outcome(tests_passed=0, tests_total=0)) is Rating.AGAIN


def test_solved_from_the_worked_solution_is_again() -> None:
    assert grade(_outcome(hint_level=5, attempts=3)) is Rating.AGAIN


def test_solved_after_the_approach_was_spelled_out_is_hard() -> None:
    assert grade(_outcome(hint_level=3, attempts=2)) is Rating.HARD
    assert grade(_outcome(hint_level=0, attempts=4)) is Rating.HARD


def test_first_try_alone_and_quick_is_easy() -> None:
    assert grade(_outcome()) is Rating.EASY
    assert grade(_outcome(seconds=3600.0)) is Rating.GOOD
    assert grade(_outcome(hint_level=1)) is Rating.GOOD
    assert grade(_outcome(attempts=2)) is Rating.GOOD


def test_rules_come_from_the_caller() -> None:
    strict = GradeRules(hard_from_hint=1)
    assert grade(_outcome(hint_level=1), strict) is Rating.HARD


def test_impossible_outcomes_are_refused() -> None:
    with pytest.raises(ValueError, match="tests_passed"):
        _outcome(tests_passed=9)
    with pytest.raises(ValueError, match="hint_level"):
        _outcome(hint_level=6)
    with pytest.raises(ValueError, match="negative"):
        _outcome(seconds=-1.0)


outcomes = st.builds(
    Outcome,
    difficulty=st.sampled_from(Difficulty),
    tests_passed=st.integers(0, 10),
    tests_total=st.just(10),
    hint_level=st.integers(0, 4),
    attempts=st.integers(0, 20),
    seconds=st.floats(0, 10_000),
)


@given(outcomes, st.integers(1, 5), st.integers(1, 10), st.floats(0, 5000))
def test_more_help_more_tries_or_more_time_never_raise_the_grade(
    o: Outcome, more_hints: int, more_attempts: int, more_seconds: float
) -> None:
    base = grade(o)
    hints = min(5, o.hint_level + more_hints)
    assert grade(replace(o, hint_level=hints)) <= base
    assert grade(replace(o, attempts=o.attempts + more_attempts)) <= base
    assert grade(replace(o, seconds=o.seconds + more_seconds)) <= base
