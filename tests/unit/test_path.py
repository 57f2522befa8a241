"""The learning path alone: reviews first, prerequisites respected, a reason a learner can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tutor.content import Difficulty
from tutor.grading import Rating
from tutor.mastery import Evidence, Mastery
from tutor.path import Candidate, LearningPath, PickKind
from tutor.scheduling import FSRSScheduler, ReviewItem, new_item

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
path = LearningPath()
model = path.model

ARRAYS = Candidate("best-single-trade", "Best Single Trade", ("arrays",), Difficulty.EASY)
TWO_SUM = Candidate("two-sum", "Two Sum", ("arrays", "hash-maps"), Difficulty.EASY,
                    prerequisite_tags=("arrays",))
PAIRS = Candidate("pair-sum", "Pair Sum", ("two-pointers",), Difficulty.MEDIUM,
                  prerequisite_questions=("two-sum",))


def _practised(tag: str, rating: Rating, times: int = 3) -> Mastery:
    m = Mastery()
    for _ in range(times):
        m = model.update(m, Evidence((tag,), Difficulty.MEDIUM, rating), T0)
    return m


def _solved(qid: str, at: datetime) -> ReviewItem:
    return FSRSScheduler().review(new_item(qid, at), Rating.GOOD, at)


def test_nothing_to_pick_from() -> None:
    assert path.next([], Mastery(), [], T0) is None


def test_a_due_review_comes_first_and_says_when_it_was_last_done() -> None:
    item = _solved("best-single-trade", T0)
    now = item.due + timedelta(hours=1)
    pick = path.next([ARRAYS, TWO_SUM], _practised("arrays", Rating.GOOD), [item], now)
    assert pick is not None and pick.kind is PickKind.REVIEW
    assert pick.question_id == "best-single-trade"
    assert "“Best Single Trade”" in pick.reason
    assert f"{(now - T0).days} days ago" in pick.reason


def test_unmet_tag_prerequisite_is_skipped_for_a_question_that_fits() -> None:
    pick = path.next([TWO_SUM, ARRAYS], Mastery(), [], T0)
    assert pick is not None and pick.question_id == "best-single-trade"
    assert pick.kind is PickKind.NEW
    # Once arrays are mastered, two-sum opens up.
    m = _practised("arrays", Rating.GOOD)
    assert path.missing(TWO_SUM, m, set(), T0) == []
    ready = path.next([TWO_SUM, ARRAYS], m, [_solved("best-single-trade", T0)], T0)
    assert ready is not None and ready.question_id == "two-sum"


def test_a_question_prerequisite_needs_that_question_solved() -> None:
    m = _practised("arrays", Rating.GOOD)
    failed = FSRSScheduler().review(new_item("two-sum", T0), Rating.AGAIN, T0)
    assert path.missing(PAIRS, m, set(), T0) == ["two sum"]
    pick = path.next([PAIRS, TWO_SUM], m, [failed], T0)
    assert pick is not None and pick.question_id == "two-sum" and pick.kind is PickKind.AHEAD
    solved = _solved("two-sum", T0)
    pick = path.next([PAIRS, TWO_SUM], m, [solved], T0)
    assert pick is not None and pick.question_id == "pair-sum"


def test_the_reason_speaks_of_the_topic_and_where_the_learner_stands() -> None:
    new = path.next([ARRAYS], Mastery(), [], T0)
    assert new is not None and "not seen much of your work with arrays" in new.reason
    weak = path.next([ARRAYS], _practised("arrays", Rating.AGAIN), [], T0)
    assert weak is not None and "arrays, where you have the most room to grow" in weak.reason
    strong = path.next([ARRAYS], _practised("arrays", Rating.GOOD, 8), [], T0)
    assert strong is not None and "doing well with arrays" in strong.reason


def test_a_new_question_is_pitched_near_the_target_chance() -> None:
    m = _practised("arrays", Rating.GOOD, 6)
    easy = Candidate("e", "E", ("arrays",), Difficulty.EASY)
    hard = Candidate("h", "H", ("arrays",), Difficulty.HARD)
    pick = path.next([easy, hard], m, [], T0)
    chances = {c.id: model.chance(m, c, T0) for c in (easy, hard)}
    best = min(chances, key=lambda k: abs(chances[k] - path.target))
    assert pick is not None and pick.question_id == best


def test_when_every_question_has_unmet_prerequisites_the_reason_names_them() -> None:
    pick = path.next([TWO_SUM, PAIRS], Mastery(), [], T0)
    assert pick is not None and pick.kind is PickKind.STRETCH
    assert pick.question_id == "two-sum" and "needs arrays" in pick.reason


def test_worked_questions_are_offered_ahead_of_time_when_nothing_new_fits() -> None:
    soon = _solved("best-single-trade", T0)
    later = _solved("two-sum", T0 + timedelta(days=2))
    pick = path.next([ARRAYS, TWO_SUM], _practised("arrays", Rating.GOOD), [later, soon], T0)
    assert pick is not None and pick.kind is PickKind.AHEAD
    assert pick.question_id == "best-single-trade"


TAGS = ["arrays", "strings", "graphs", "dp"]
candidates = st.lists(
    st.builds(
        Candidate,
        id=st.sampled_from([f"q{i}" for i in range(12)]),
        title=st.just("A question"),
        tags=st.lists(st.sampled_from(TAGS), min_size=1, max_size=2).map(tuple),
        difficulty=st.sampled_from(Difficulty),
        prerequisite_questions=st.lists(st.sampled_from([f"q{i}" for i in range(12)]),
                                        max_size=2).map(tuple),
        prerequisite_tags=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c.id,
)
evidence = st.builds(Evidence, tags=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
                     difficulty=st.sampled_from(Difficulty), rating=st.sampled_from(Rating))
reviews = st.lists(
    st.tuples(st.sampled_from([f"q{i}" for i in range(12)]), st.sampled_from(Rating),
              st.integers(-20, 20)),
    max_size=6,
    unique_by=lambda r: r[0],
)


@given(candidates, st.lists(evidence, max_size=10), reviews)
def test_the_path_never_picks_unmet_prerequisites_when_another_fits(
    options: list[Candidate], history: list[Evidence],
    worked: list[tuple[str, Rating, int]],
) -> None:
    m = Mastery()
    for ev in history:
        m = model.update(m, ev, T0)
    items = [FSRSScheduler().review(new_item(qid, T0 + timedelta(days=d)), rating,
                                    T0 + timedelta(days=d)) for qid, rating, d in worked]
    now = T0 + timedelta(days=5)
    pick = path.next(options, m, items, now)
    assert pick is not None and pick.question_id in {c.id for c in options}
    assert pick.reason
    solved = {i.question_id for i in items if i.reviews > i.lapses}
    fitting = {c.id for c in options if not path.missing(c, m, solved, now)}
    if fitting:
        assert pick.question_id in fitting
    else:
        assert pick.kind is PickKind.STRETCH
