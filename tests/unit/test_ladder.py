"""The hint ladder alone: what unlocks and what stays locked, for any sequence of actions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tutor.ladder import HintLadder, LadderState, Locked, LockReason, Unlock

ladder = HintLadder()


def test_first_hint_needs_no_attempt() -> None:
    assert ladder.decide(LadderState()) == Unlock(1)


def test_next_level_needs_a_new_attempt() -> None:
    state = ladder.hint_given(LadderState(), 1)
    decision = ladder.decide(state)
    assert isinstance(decision, Locked) and decision.reason is LockReason.ATTEMPT_REQUIRED
    state = ladder.attempted(state, test=False, passed=False)
    assert ladder.decide(state) == Unlock(2)


def test_solution_needs_three_failed_tests() -> None:
    state = LadderState()
    for level in range(1, 5):
        state = ladder.attempted(state, test=False, passed=False)
        assert ladder.decide(state) == Unlock(level)
        state = ladder.hint_given(state, level)
    state = ladder.attempted(state, test=True, passed=False)
    state = ladder.attempted(state, test=True, passed=False)
    decision = ladder.decide(state)
    assert isinstance(decision, Locked) and decision.reason is LockReason.TESTS_REQUIRED
    assert "1 to go" in decision.message
    state = ladder.attempted(state, test=True, passed=False)
    assert ladder.decide(state) == Unlock(5)
    state = ladder.hint_given(state, 5)
    decision = ladder.decide(ladder.attempted(state, test=True, passed=False))
    assert isinstance(decision, Locked) and decision.reason is LockReason.EXHAUSTED


def test_passing_tests_do_not_count_as_failed() -> None:
    state = LadderState(level=4)
    for _ in range(5):
        state = ladder.attempted(state, test=True, passed=True)
    assert isinstance(ladder.decide(state), Locked)


actions = st.lists(st.sampled_from(["hint", "run", "test_fail", "test_pass"]), max_size=60)


@given(actions)
def test_any_sequence_keeps_the_rules(steps: list[str]) -> None:
    state = LadderState()
    attempts_since = 0
    failed = 0
    for step in steps:
        if step == "hint":
            decision = ladder.decide(state)
            if isinstance(decision, Unlock):
                assert decision.level == state.level + 1 <= 5
                assert decision.level == 1 or attempts_since > 0
                assert decision.level < 5 or failed >= 3
                state = ladder.hint_given(state, decision.level)
                attempts_since = 0
        else:
            state = ladder.attempted(state, test=step != "run", passed=step == "test_pass")
            attempts_since += 1
            failed += step == "test_fail"
        assert 0 <= state.level <= 5
