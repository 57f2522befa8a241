"""Question prerequisites: known ids only, never a cycle, checked wherever the bank is read."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.bank import QuestionBank, shipped_questions
from tutor.content import Question, check_prerequisites, prerequisite_problems

QUESTIONS = shipped_questions()
BASE = QUESTIONS[0]


def _q(qid: str, *needs: str) -> Question:
    return msgspec.structs.replace(BASE, id=qid, prerequisites=list(needs))


def test_shipped_prerequisites_are_known_and_acyclic() -> None:
    assert prerequisite_problems(QUESTIONS) == []
    assert any(q.prerequisites for q in QUESTIONS)


def test_prerequisites_default_to_none() -> None:
    body = msgspec.to_builtins(BASE)
    del body["prerequisites"]
    assert msgspec.convert(body, Question).prerequisites == []


def test_unknown_prerequisite_is_named() -> None:
    with pytest.raises(ValueError, match="question b names unknown prerequisite ghost"):
        check_prerequisites([_q("a"), _q("b", "a", "ghost")])


def test_cycle_is_named() -> None:
    problems = prerequisite_problems([_q("a", "c"), _q("b", "a"), _q("c", "b"), _q("d", "a")])
    assert len(problems) == 1
    assert problems[0].startswith("prerequisites form a cycle: ")
    assert set(problems[0].split(": ")[1].split(" -> ")) == {"a", "b", "c"}


def test_self_and_repeated_prerequisites_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="own prerequisite"):
        msgspec.convert({**msgspec.to_builtins(BASE), "prerequisites": [BASE.id]}, Question)
    with pytest.raises(msgspec.ValidationError, match="twice"):
        msgspec.convert({**msgspec.to_builtins(BASE), "prerequisites": ["x", "x"]}, Question)


def test_the_published_bank_refuses_a_broken_graph() -> None:
    with pytest.raises(ValueError, match="cycle"):
        QuestionBank([_q("a", "b"), _q("b", "a")])
    assert QuestionBank([_q("a"), _q("b", "a")]).get("b") is not None


@given(st.lists(st.lists(st.integers(0, 7), max_size=3, unique=True), min_size=1, max_size=8))
def test_edges_only_to_earlier_questions_never_form_a_cycle(needs: list[list[int]]) -> None:
    # Pointing only backwards in a fixed order is a DAG; adding the reverse of any edge is not.
    questions = [_q(f"q{i}", *(f"q{j}" for j in ns if j < i)) for i, ns in enumerate(needs)]
    assert prerequisite_problems(questions) == []
    for q in questions:
        for p in q.prerequisites:
            looped = [_q(x.id, *x.prerequisites, q.id) if x.id == p else x for x in questions]
            assert any("cycle" in problem for problem in prerequisite_problems(looped))
