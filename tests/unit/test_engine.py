"""The Socratic engine alone: it asks, it grounds questions in the last run, it never tells."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.bank import shipped_questions
from tutor.content import Question
from tutor.engine import SocraticEngine, TutorContext, stream_pieces
from tutor.reading import FailedCase, RunEvidence, last_exception, read_code

engine = SocraticEngine()
QUESTIONS = shipped_questions()


def _question(qid: str = "two-sum") -> Question:
    return next(q for q in QUESTIONS if q.id == qid)


def _run(**kw: object) -> RunEvidence:
    base: dict[str, object] = dict(mode="test", exit_code=0, limit=None, stderr_tail="",
                                   first_failure=None, hidden_failed=0, tests_total=3,
                                   tests_passed=0)
    base.update(kw)
    return RunEvidence(**base)  # type: ignore[arg-type]


def test_bank_has_twelve_questions_with_five_hints() -> None:
    assert len(QUESTIONS) >= 12
    for q in QUESTIONS:
        assert len(q.hints) == 5 and q.visible and q.hidden


def test_reply_is_a_question() -> None:
    q = _question()
    reply = engine.reply(TutorContext(q, q.starter, "I'm stuck", None))
    assert reply.text.endswith("?")


def test_refuses_to_hand_out_the_solution() -> None:
    q = _question()
    reply = engine.reply(TutorContext(q, q.starter, "just give me the solution code", None))
    assert reply.basis == "refuse"
    assert "won't hand you the solution" in reply.text


def test_grounded_in_the_exception_of_the_last_run() -> None:
    q = _question()
    stderr = 'Traceback (most recent call last):\n  File "<solution>", line 4, in two_sum\n' \
             "IndexError: list index out of range\n"
    reply = engine.reply(TutorContext(q, "def two_sum(nums, target):\n    return nums[9]\n",
                                      "why does it crash?", _run(exit_code=1, stderr_tail=stderr)))
    assert reply.basis == "exception:IndexError"
    assert "IndexError" in reply.text and "line 4" in reply.text


def test_grounded_in_the_failing_visible_case() -> None:
    q = _question()
    failure = FailedCase("example 1", [[2, 7, 11, 15], 9], [0, 1], [1, 0], None)
    reply = engine.reply(TutorContext(q, "def two_sum(nums, target):\n    return [1, 0]\n",
                                      "what's wrong?", _run(first_failure=failure)))
    assert reply.basis == "wrong_answer"
    assert "[1, 0]" in reply.text and "[0, 1]" in reply.text


def test_reads_code_shape() -> None:
    q = _question()
    nested = ("def two_sum(nums, target):\n    for i in range(len(nums)):\n"
              "        for j in range(len(nums)):\n            pass\n    return []\n")
    assert read_code(nested, "two_sum").nested_loops
    reply = engine.reply(TutorContext(q, nested, "ok what now", None))
    assert reply.basis == "shape" and reply.text == q.socratic.complexity
    assert engine.reply(TutorContext(q, "def f(:\n", "hm", None)).basis == "syntax"


def test_does_not_repeat_a_question_it_asked() -> None:
    q = _question()
    first = engine.reply(TutorContext(q, q.starter, "I'm stuck", None))
    second = engine.reply(TutorContext(q, q.starter, "I'm stuck", None,
                                       asked=frozenset({first.text.split("? ")[-1], first.text})))
    assert first.text != second.text


def test_last_exception_reads_tracebacks() -> None:
    found = last_exception('  File "x.py", line 7, in f\nKeyError: \'a\'\n')
    assert found is not None and found.kind == "KeyError" and found.line == 7


texts = st.text(max_size=200)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(QUESTIONS), texts, texts, st.one_of(st.none(), st.sampled_from(
    ["time", "memory", "output"])), st.integers(0, 5))
def test_never_reveals_solution_or_hidden_values(question: Question, text: str, code: str,
                                                 limit: str | None, hidden_failed: int) -> None:
    reply = engine.reply(TutorContext(question, code, text,
                                      _run(limit=limit, hidden_failed=hidden_failed)))
    assert reply.text.strip().endswith("?")
    solution = question.hints[4]
    code_lines = [ln for ln in solution.splitlines() if ln.strip().startswith(("return ", "for "))]
    for line in code_lines:
        assert line.strip() not in reply.text
    for hint in question.hints[2:]:
        assert hint not in reply.text
    for case in question.hidden:
        assert repr(case.expected) not in reply.text or repr(case.expected) in code + text \
            or len(repr(case.expected)) < 4


@given(st.text(max_size=300), st.integers(1, 6))
def test_stream_pieces_rebuild_the_text(text: str, words: int) -> None:
    pieces = stream_pieces(text, words)
    assert "".join(pieces) == text
    if len(text.split()) > words:
        assert len(pieces) > 1
