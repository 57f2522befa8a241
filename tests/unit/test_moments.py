"""Complex moments alone: each kind fires when it happens, and once per episode."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.moments import (
    CodeEdited,
    Fact,
    HintRequested,
    LearnerText,
    Moment,
    MomentDetector,
    MomentReason,
    MomentRules,
    RunFinished,
    Tick,
    stuck_phrase,
)

S = 1000  # facts carry milliseconds
rules = MomentRules(same_error_runs=3, idle_seconds=300, hint_burst=3, hint_window_seconds=120)


def _feed(facts: Sequence[Fact], detector: MomentDetector | None = None) -> list[list[Moment]]:
    detector = detector or MomentDetector(rules)
    return [detector.observe(f) for f in facts]


def _reasons(out: list[list[Moment]]) -> list[MomentReason]:
    return [m.reason for ms in out for m in ms]


def test_three_failing_runs_with_the_same_error_fire_once() -> None:
    out = _feed([RunFinished(i * S, True, "KeyError") for i in range(5)])
    assert [len(ms) for ms in out] == [0, 0, 1, 0, 0]
    assert out[2][0] == Moment(MomentReason.REPEATED_ERROR, "3 runs in a row with KeyError.")


def test_edits_and_hints_between_runs_do_not_break_the_row() -> None:
    out = _feed([RunFinished(0, True, "IndexError"), CodeEdited(S), HintRequested(2 * S),
                 RunFinished(3 * S, True, "IndexError"), CodeEdited(4 * S),
                 RunFinished(5 * S, True, "IndexError")])
    assert _reasons(out) == [MomentReason.REPEATED_ERROR]


def test_a_different_error_or_a_passing_run_starts_a_new_row() -> None:
    d = MomentDetector(rules)
    facts: list[Fact] = [RunFinished(0, True, "KeyError"), RunFinished(S, True, "KeyError"),
                         RunFinished(2 * S, True, "TypeError"),
                         RunFinished(3 * S, True, "KeyError")]
    assert _reasons(_feed(facts, d)) == []
    again = [RunFinished((4 + i) * S, True, "KeyError") for i in range(2)]
    assert _reasons(_feed(again, d)) == [MomentReason.REPEATED_ERROR]
    fixed = [RunFinished(10 * S, False)] + [RunFinished((11 + i) * S, True, "KeyError")
                                            for i in range(3)]
    assert _reasons(_feed(fixed, d)) == [MomentReason.REPEATED_ERROR]


def test_wrong_answers_without_an_exception_are_a_row_too() -> None:
    out = _feed([RunFinished(i * S, True) for i in range(3)])
    assert out[2] == [Moment(MomentReason.REPEATED_ERROR,
                             "3 runs in a row failing the tests without an error.")]


def test_silence_after_a_failure_fires_once() -> None:
    out = _feed([RunFinished(0, True, "ValueError"), Tick(299 * S), Tick(300 * S), Tick(900 * S)])
    assert [len(ms) for ms in out] == [0, 0, 1, 0]
    assert out[2][0].detail == "No activity for 5 minutes after a failing run with ValueError."


def test_silence_after_activity_or_a_pass_is_not_a_moment() -> None:
    assert _reasons(_feed([RunFinished(0, True, "KeyError"), CodeEdited(10 * S),
                           Tick(1000 * S)])) == []
    assert _reasons(_feed([RunFinished(0, False), Tick(1000 * S)])) == []


def test_the_learner_coming_back_late_still_reports_the_silence() -> None:
    out = _feed([RunFinished(0, True, "KeyError"), CodeEdited(600 * S)])
    assert _reasons(out) == [MomentReason.IDLE]


def test_each_new_failure_opens_a_new_silence() -> None:
    out = _feed([RunFinished(0, True, "KeyError"), Tick(400 * S),
                 RunFinished(500 * S, True, "KeyError"), Tick(900 * S)])
    assert _reasons(out) == [MomentReason.IDLE, MomentReason.IDLE]


def test_hints_in_quick_succession_fire_once_per_burst() -> None:
    d = MomentDetector(rules)
    burst = _feed([HintRequested(0), HintRequested(30 * S), HintRequested(60 * S),
                   HintRequested(90 * S)], d)
    assert [len(ms) for ms in burst] == [0, 0, 1, 0]
    assert burst[2][0].detail == "3 hints asked for within 120 seconds."
    # Spread out hints are no burst.
    assert _reasons(_feed([HintRequested(i * 200 * S) for i in range(1, 5)])) == []
    # After a quiet spell, a new burst is a new episode.
    later = _feed([HintRequested((400 + i * 10) * S) for i in range(3)], d)
    assert _reasons(later) == [MomentReason.HINT_BURST]


@pytest.mark.parametrize("text", [
    "I'm stuck", "i am so stuck here", "I\u2019m lost", "still stuck :(",
    "I have no idea why this fails", "I give up", "I don't understand the loop",
    "i dont get it", "I can't figure it out", "please help", "I'm  really   confused",
])
def test_stuck_phrases(text: str) -> None:
    assert stuck_phrase(text) is not None


@pytest.mark.parametrize("text", [
    "my loop gets stuck forever", "is this O(n log n)?", "I think I understand now",
    "can you explain dictionaries", "the stack is empty", "I don't think so",
])
def test_ordinary_words_are_not_stuck(text: str) -> None:
    assert stuck_phrase(text) is None


def test_saying_stuck_fires_once_until_a_run_passes() -> None:
    out = _feed([LearnerText(0, "I'm stuck"), LearnerText(S, "still stuck"),
                 RunFinished(2 * S, False), LearnerText(3 * S, "no idea now")])
    assert _reasons(out) == [MomentReason.STUCK, MomentReason.STUCK]
    assert out[0][0].detail == "The learner wrote “i'm stuck”."


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MomentRules(same_error_runs=0)
    with pytest.raises(ValueError, match="positive"):
        MomentRules(idle_seconds=0)


# Mostly short gaps, so that rows, bursts and silences all happen within a script.
GAPS = st.sampled_from([0, 1, 5, 20, 45, 130, 400])
FAILING = st.tuples(st.just("run"), st.just(True), st.sampled_from(["KeyError", "KeyError",
                                                                    "IndexError", None]))
steps = st.lists(
    st.tuples(
        GAPS,
        st.one_of(
            FAILING,
            FAILING,
            st.tuples(st.just("run"), st.just(False), st.none()),
            st.tuples(st.just("hint"), st.none(), st.none()),
            st.tuples(st.just("text"), st.booleans(), st.none()),
            st.tuples(st.just("edit"), st.none(), st.none()),
            st.tuples(st.just("tick"), st.none(), st.none()),
        ),
    ),
    max_size=80,
)


Step = tuple[str, bool | None, str | None]


def _fact(at: int, step: Step) -> Fact:
    kind, flag, error = step
    if kind == "run":
        return RunFinished(at, bool(flag), error if flag else None)
    if kind == "hint":
        return HintRequested(at)
    if kind == "text":
        return LearnerText(at, "I'm stuck" if flag else "what does this return?")
    return CodeEdited(at) if kind == "edit" else Tick(at)


@settings(max_examples=300)
@given(steps)
def test_each_moment_fires_once_per_episode(script: list[tuple[int, Step]]) -> None:
    detector, at = MomentDetector(rules), 0
    facts: list[Fact] = []
    fired: dict[MomentReason, list[int]] = {r: [] for r in MomentReason}
    for gap, step in script:
        at += gap * S
        fact = _fact(at, step)
        facts.append(fact)
        moments = detector.observe(fact)
        assert len({m.reason for m in moments}) == len(moments)
        for m in moments:
            fired[m.reason].append(len(facts) - 1)

    def between(a: int, b: int) -> list[Fact]:
        return facts[a + 1 : b + 1]

    def error(i: int) -> str | None:
        fact = facts[i]
        assert isinstance(fact, RunFinished)
        return fact.error

    for a, b in pairwise(fired[MomentReason.REPEATED_ERROR]):
        runs = [f for f in between(a, b - 1) if isinstance(f, RunFinished)]
        assert any(not r.failed or r.error != error(a) for r in runs)
    for a, b in pairwise(fired[MomentReason.IDLE]):
        assert any(isinstance(f, RunFinished) and f.failed for f in between(a - 1, b))
    for a, b in pairwise(fired[MomentReason.STUCK]):
        assert any(isinstance(f, RunFinished) and not f.failed for f in between(a, b))
    for a, b in pairwise(fired[MomentReason.HINT_BURST]):
        hints = [f.at_ms for f in facts[: b + 1] if isinstance(f, HintRequested)]
        quiet = [y - x for x, y in pairwise(hints) if x >= facts[a].at_ms]
        assert any(gap > rules.hint_window_seconds * S for gap in quiet)


@given(st.integers(3, 10), st.lists(st.sampled_from(["hint", "edit", "tick"]), max_size=10))
def test_a_row_of_the_same_error_fires_exactly_once(runs: int, noise: list[str]) -> None:
    detector, at, found = MomentDetector(rules), 0, []
    for i in range(runs):
        at += S
        found += detector.observe(RunFinished(at, True, "KeyError"))
        if i < len(noise):
            at += S
            found += detector.observe(_fact(at, (noise[i], None, None)))
    assert [m.reason for m in found].count(MomentReason.REPEATED_ERROR) == 1
