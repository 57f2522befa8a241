"""Embedding and retrieval without I/O: the hashed embedder, what gets embedded, how the tutor
uses what a search found, and how a session is graded into an outcome."""

from __future__ import annotations

import math
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.envelope import Actor, Event, Role
from realtime.state import SessionState
from server.bank import shipped_questions
from server.learning import outcome_of, streak
from tutor.content import Question
from tutor.embedding import DIMENSION, HashedEmbedder, blend, cosine, terms
from tutor.engine import SocraticEngine, TutorContext
from tutor.grading import Rating, grade
from tutor.reading import FailedCase, RunEvidence
from tutor.retrieval import (
    LessonHit,
    MistakeHit,
    Retrieved,
    lesson_parts,
    mistake_of,
    question_parts,
)

EMBEDDER = HashedEmbedder()
QUESTIONS = {q.id: q for q in shipped_questions()}


def _vector(parts: list[tuple[str, float]]) -> list[float]:
    return blend(EMBEDDER.embed([t for t, _ in parts]), [w for _, w in parts])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_hashed_vectors_are_deterministic_and_unit_length_or_empty(text: str) -> None:
    first, again = EMBEDDER.vector(text), HashedEmbedder().vector(text)
    assert first == again and len(first) == DIMENSION
    norm = math.sqrt(sum(x * x for x in first))
    assert math.isclose(norm, 1.0, rel_tol=1e-9) or (norm == 0 and not terms(text))


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_a_text_is_nearest_to_itself(text: str) -> None:
    v = EMBEDDER.vector(text)
    if any(v):
        assert math.isclose(cosine(v, v), 1.0, rel_tol=1e-9)
        assert -1.0 - 1e-9 <= cosine(v, EMBEDDER.vector("binary search tree")) <= 1.0 + 1e-9


def test_identifiers_split_into_words_and_stop_words_go() -> None:
    assert terms("KeyError in two_sum") == ["keyerror", "key", "error", "twosum", "two", "sum"]
    assert terms("what is the answer") == ["answer"]


def test_shared_topic_words_bring_texts_together() -> None:
    a = EMBEDDER.vector("two pointers from both ends of a sorted array")
    b = EMBEDDER.vector("move two pointers inward over the sorted array")
    c = EMBEDDER.vector("count words with a dictionary and avoid KeyError")
    assert cosine(a, b) > cosine(a, c) + 0.2


def test_blend_weighs_parts() -> None:
    x, y = [1.0, 0.0], [0.0, 1.0]
    mostly_x = blend([x, y], [0.9, 0.1])
    assert mostly_x[0] > mostly_x[1] > 0 and math.isclose(math.hypot(*mostly_x), 1.0)


def test_every_two_pointer_question_has_two_pointer_questions_nearest() -> None:
    vectors = {qid: _vector(question_parts(q)) for qid, q in QUESTIONS.items()}
    pointers = [qid for qid, q in QUESTIONS.items() if q.tags[0] == "two-pointers"]
    assert len(pointers) >= 2
    for qid in pointers:
        nearest = sorted((k for k in vectors if k != qid),
                         key=lambda k: -cosine(vectors[qid], vectors[k]))[:3]
        assert all("two-pointers" in QUESTIONS[k].tags for k in nearest), (qid, nearest)


def _exception_run(kind: str, message: str, line: int) -> RunEvidence:
    stderr = (f'Traceback (most recent call last):\n  File "<solution>", line {line}, in f\n'
              f"{kind}: {message}\n")
    return RunEvidence("test", 1, None, stderr,
                       FailedCase("example 1", [[1, 2], 3], [0, 1], None, f"{kind}: {message}"),
                       0, 3, 0)


def test_a_keyerror_is_read_with_its_line_and_finds_a_dictionary_lesson() -> None:
    code = "def two_sum(nums, target):\n    seen = {}\n    return [seen[target], 0]\n"
    mistake = mistake_of(_exception_run("KeyError", "3", 3), code)
    assert mistake is not None
    assert (mistake.kind, mistake.message, mistake.line) == ("KeyError", "3",
                                                             "return [seen[target], 0]")
    query = EMBEDDER.vector(mistake.text(QUESTIONS["two-sum"]))
    lessons = {qid: _vector(lesson_parts(q)) for qid, q in QUESTIONS.items() if qid != "two-sum"}
    best = max(lessons, key=lambda k: cosine(query, lessons[k]))
    assert "dictionar" in QUESTIONS[best].lesson.title.lower()


def test_no_mistake_in_a_clean_or_merely_wrong_run() -> None:
    wrong = RunEvidence("test", 0, None, "", FailedCase("example 1", [], 1, 2, None), 0, 3, 2)
    assert mistake_of(wrong, "") is None


def _ctx(q: Question, found: Retrieved) -> TutorContext:
    return TutorContext(q, "def two_sum(nums, target):\n    return [{}[1]]\n", "why?",
                        _exception_run("KeyError", "1", 2), retrieved=found)


def test_the_tutor_points_to_the_learners_own_mistake_before_a_lesson() -> None:
    q = QUESTIONS["two-sum"]
    lesson = LessonHit("word-frequency", "Counting with a dictionary", 0.5)
    mine = MistakeHit("group-anagrams", "Group Anagrams", "KeyError", "KeyError: 'abc'", 2, 0.6)
    reply = SocraticEngine().reply(_ctx(q, Retrieved((lesson,), (mine,))))
    assert reply.drew_on == ("mistake:group-anagrams",)
    assert "You met a KeyError like this one in “Group Anagrams” 2 days ago" in reply.text
    assert reply.text.endswith("?")
    reply = SocraticEngine().reply(_ctx(q, Retrieved((lesson,))))
    assert reply.drew_on == ("lesson:word-frequency",)
    assert "“Counting with a dictionary”" in reply.text and reply.text.endswith("?")


def test_a_past_mistake_of_another_kind_is_not_brought_up() -> None:
    other = MistakeHit("two-sum", "Two Sum", "IndexError", "IndexError: 5", 1, 0.9)
    reply = SocraticEngine().reply(_ctx(QUESTIONS["two-sum"], Retrieved((), (other,))))
    assert reply.drew_on == () and "IndexError" not in reply.text


def test_nothing_found_changes_nothing() -> None:
    q = QUESTIONS["two-sum"]
    plain = SocraticEngine().reply(_ctx(q, Retrieved()))
    assert plain.drew_on == () and plain.basis == "exception:KeyError"


LEARNER = Actor("u1", Role.LEARNER)


def _state(events: list[tuple[str, dict[str, object]]]) -> SessionState:
    state = SessionState(sid="s", learner="u1", question_id="two-sum")
    for seq, (kind, data) in enumerate(events, start=1):
        state.apply(Event(sid="s", epoch=1, seq=seq, ts=seq, kind=kind, by=LEARNER, data=data))
    return state


def _test_run(run_id: str, passed: int, total: int) -> list[tuple[str, dict[str, object]]]:
    tests = [{"name": f"c{i}", "passed": i < passed} for i in range(total)]
    return [("run.started", {"run_id": run_id, "mode": "test", "language": "python"}),
            ("run.finished", {"run_id": run_id, "exit_code": 0, "limit": None,
                              "tests": tests})]


def test_a_session_not_worked_on_has_no_outcome() -> None:
    state = _state([("code.updated", {"code": "x"})])
    assert outcome_of(state, QUESTIONS["two-sum"], 30) is None


def test_outcome_counts_attempts_until_the_first_full_pass() -> None:
    q = QUESTIONS["two-sum"]
    state = _state([*_test_run("r1", 1, 4), *_test_run("r2", 4, 4), *_test_run("r3", 3, 4)])
    outcome = outcome_of(state, q, 100)
    assert outcome is not None and outcome.solved and outcome.attempts == 2
    assert grade(outcome) is Rating.GOOD
    once = outcome_of(_state(_test_run("r1", 4, 4)), q, 60)
    assert once is not None and grade(once) is Rating.EASY


def test_outcome_of_a_session_that_never_passed_is_again() -> None:
    q = QUESTIONS["two-sum"]
    outcome = outcome_of(_state([*_test_run("r1", 1, 4), *_test_run("r2", 2, 4)]), q, 100)
    assert outcome is not None and not outcome.solved and outcome.attempts == 2
    assert (outcome.tests_passed, outcome.tests_total) == (2, 4)
    assert grade(outcome) is Rating.AGAIN


def test_streak_counts_days_in_a_row_up_to_today_or_yesterday() -> None:
    today = date(2026, 11, 25)
    days = [today - timedelta(days=n) for n in (0, 1, 2, 4)]
    assert streak(days, today) == 3
    assert streak(days[1:], today) == 2  # today not over yet
    assert streak([today - timedelta(days=2)], today) == 0
    assert streak([], today) == 0
