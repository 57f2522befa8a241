"""The mastery model and the diagnostic alone: evidence moves skills, never out of range."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.bank import shipped_questions
from tutor.content import Difficulty
from tutor.grading import Rating
from tutor.mastery import (
    Ask,
    Diagnostic,
    Evidence,
    Finished,
    Mastery,
    MasteryModel,
    MasteryRules,
    Probe,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
model = MasteryModel()
rules = model.rules


@dataclass(frozen=True)
class Q:
    id: str
    tags: tuple[str, ...]
    difficulty: Difficulty


def test_unseen_tags_read_as_the_prior() -> None:
    skill = model.skill(Mastery(), "graphs", T0)
    assert (skill.level, skill.spread, skill.mastery) == (0.0, rules.prior_spread, 0.5)


def test_a_pass_raises_a_failure_lowers_and_both_make_us_surer() -> None:
    passed = model.update(Mastery(), Evidence(("arrays",), Difficulty.MEDIUM, Rating.GOOD), T0)
    failed = model.update(Mastery(), Evidence(("arrays",), Difficulty.MEDIUM, Rating.AGAIN), T0)
    up, down = passed.skills["arrays"], failed.skills["arrays"]
    assert up.mastery > 0.5 > down.mastery
    assert up.spread < rules.prior_spread and down.spread < rules.prior_spread
    assert up.evidence == 1 and up.seen == T0


def test_passing_a_hard_question_says_more_than_passing_an_easy_one() -> None:
    def after(d: Difficulty) -> float:
        return model.update(Mastery(), Evidence(("dp",), d, Rating.GOOD), T0).skills["dp"].level

    assert after(Difficulty.HARD) > after(Difficulty.MEDIUM) > after(Difficulty.EASY) > 0


def test_every_tag_of_the_question_moves_and_no_other() -> None:
    before = model.update(Mastery(), Evidence(("graphs",), Difficulty.EASY, Rating.GOOD), T0)
    after = model.update(before, Evidence(("arrays", "hashing"), Difficulty.MEDIUM,
                                          Rating.AGAIN), T0)
    assert set(after.skills) == {"graphs", "arrays", "hashing"}
    assert after.skills["graphs"] == before.skills["graphs"]


def test_an_unpractised_tag_grows_uncertain_again_up_to_the_prior() -> None:
    m = Mastery()
    for _ in range(6):
        m = model.update(m, Evidence(("arrays",), Difficulty.MEDIUM, Rating.GOOD), T0)
    fresh = model.skill(m, "arrays", T0)
    month = model.skill(m, "arrays", T0 + timedelta(days=30))
    years = model.skill(m, "arrays", T0 + timedelta(days=2000))
    assert fresh.spread < month.spread < years.spread == rules.prior_spread
    assert fresh.level == month.level == years.level


def test_chance_follows_difficulty_and_skill() -> None:
    m = Mastery()
    for _ in range(5):
        m = model.update(m, Evidence(("arrays",), Difficulty.MEDIUM, Rating.GOOD), T0)
    easy, hard = Q("e", ("arrays",), Difficulty.EASY), Q("h", ("arrays",), Difficulty.HARD)
    assert 1 > model.chance(m, easy, T0) > model.chance(m, hard, T0) > 0
    assert model.chance(m, easy, T0) > model.chance(Mastery(), easy, T0)


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="min_spread"):
        MasteryRules(min_spread=2.0, prior_spread=1.0)


evidence = st.builds(
    Evidence,
    tags=st.lists(st.sampled_from(["arrays", "graphs", "dp", "strings"]), max_size=3).map(tuple),
    difficulty=st.sampled_from(Difficulty),
    rating=st.sampled_from(Rating),
)


@given(st.lists(st.tuples(evidence, st.integers(0, 400)), max_size=60))
def test_mastery_never_leaves_its_range(steps: list[tuple[Evidence, int]]) -> None:
    m, now = Mastery(), T0
    for ev, gap in steps:
        now += timedelta(days=gap)
        m = model.update(m, ev, now)
        for tag in ["arrays", "graphs", "dp", "strings"]:
            s = model.skill(m, tag, now)
            assert 0.0 <= s.mastery <= 1.0
            assert -rules.limit <= s.level <= rules.limit
            assert rules.min_spread <= s.spread <= rules.prior_spread
            assert math.isfinite(s.level) and math.isfinite(s.spread)


def test_the_diagnostic_starts_where_a_question_tells_most() -> None:
    pool = [Q("easy", ("arrays",), Difficulty.EASY), Q("mid", ("arrays",), Difficulty.MEDIUM),
            Q("hard", ("arrays",), Difficulty.HARD)]
    diagnostic = Diagnostic(pool)
    assert diagnostic.next(Mastery(), [], T0) == Ask("mid")
    # After failing the medium one, the easy one tells more than the hard one.
    m = model.update(Mastery(), Evidence(("arrays",), Difficulty.MEDIUM, Rating.AGAIN), T0)
    m = model.update(m, Evidence(("arrays",), Difficulty.MEDIUM, Rating.AGAIN), T0)
    assert diagnostic.next(m, ["mid"], T0) == Ask("easy")


def test_the_diagnostic_covers_new_topics_before_repeating_one() -> None:
    pool = [Q("a1", ("arrays",), Difficulty.MEDIUM), Q("a2", ("arrays",), Difficulty.MEDIUM),
            Q("g1", ("graphs",), Difficulty.MEDIUM)]
    m = model.update(Mastery(), Evidence(("arrays",), Difficulty.MEDIUM, Rating.GOOD), T0)
    assert Diagnostic(pool).next(m, ["a1"], T0) == Ask("g1")


def test_the_diagnostic_says_when_it_is_done() -> None:
    pool = [Q(f"q{i}", ("arrays",), Difficulty.MEDIUM) for i in range(5)]
    assert Diagnostic(pool, length=2).next(Mastery(), ["q0", "q1"], T0) == Finished(
        "asked 2 questions")
    assert Diagnostic(pool).next(Mastery(), [p.id for p in pool], T0) == Finished(
        "no question left would tell us more")
    m = Mastery()
    for n in range(12):
        rating = Rating.GOOD if n % 2 else Rating.AGAIN
        m = model.update(m, Evidence(("arrays",), Difficulty.MEDIUM, rating), T0)
    assert Diagnostic(pool).next(m, ["q0"], T0) == Finished("every topic is known well enough")


def test_shipped_questions_feed_the_diagnostic() -> None:
    pool: list[Probe] = list(shipped_questions())
    step = Diagnostic(pool).next(Mastery(), [], T0)
    assert isinstance(step, Ask)
    first = next(q for q in pool if q.id == step.question_id)
    assert model.gain(Mastery(), first, T0) == max(model.gain(Mastery(), q, T0) for q in pool)


@settings(max_examples=60, deadline=None)
@given(st.floats(-3, 3), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_the_diagnostic_ends_within_its_bound_and_never_repeats(
    ability: float, length: int, seed: int
) -> None:
    rnd = random.Random(seed)
    pool: list[Probe] = list(shipped_questions())
    diagnostic = Diagnostic(pool, length=length)
    m, asked = Mastery(), list[str]()
    for _ in range(len(pool) + 1):
        step = diagnostic.next(m, asked, T0)
        if isinstance(step, Finished):
            break
        assert step.question_id not in asked
        q = next(p for p in pool if p.id == step.question_id)
        b = rules.difficulty[q.difficulty]
        solved = rnd.random() < 1 / (1 + math.exp(-(ability - b)))
        m = model.update(m, Evidence(tuple(q.tags), q.difficulty,
                                     Rating.GOOD if solved else Rating.AGAIN), T0)
        asked.append(q.id)
    else:
        pytest.fail("the diagnostic never finished")
    assert len(asked) <= length
