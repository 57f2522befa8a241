"""The five-level hint ladder: which hint may be revealed, and why not when it may not."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

TOP_LEVEL = 5
# The worked solution waits until the learner has really tried.
FAILED_TESTS_FOR_SOLUTION = 3


class LockReason(StrEnum):
    ATTEMPT_REQUIRED = "attempt_required"
    TESTS_REQUIRED = "tests_required"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class LadderState:
    level: int = 0
    attempts_since_hint: int = 0
    failed_tests: int = 0


@dataclass(frozen=True)
class Unlock:
    level: int


@dataclass(frozen=True)
class Locked:
    reason: LockReason
    message: str


class HintLadder:
    """Pure rules: level n+1 needs a new attempt since level n; level 5 needs three failed tests."""

    def decide(self, state: LadderState) -> Unlock | Locked:
        if state.level >= TOP_LEVEL:
            return Locked(LockReason.EXHAUSTED, "You have every hint for this question already.")
        nxt = state.level + 1
        if nxt > 1 and state.attempts_since_hint == 0:
            return Locked(
                LockReason.ATTEMPT_REQUIRED,
                f"Try something first: run or test your code, then hint {nxt} unlocks.",
            )
        if nxt == TOP_LEVEL and state.failed_tests < FAILED_TESTS_FOR_SOLUTION:
            left = FAILED_TESTS_FOR_SOLUTION - state.failed_tests
            return Locked(
                LockReason.TESTS_REQUIRED,
                f"The worked solution unlocks after {FAILED_TESTS_FOR_SOLUTION} failed test "
                f"attempts; {left} to go.",
            )
        return Unlock(nxt)

    def hint_given(self, state: LadderState, level: int) -> LadderState:
        if level != state.level + 1:
            raise ValueError(f"hint {level} cannot follow hint {state.level}")
        return replace(state, level=level, attempts_since_hint=0)

    def attempted(self, state: LadderState, *, test: bool, passed: bool) -> LadderState:
        failed = state.failed_tests + (1 if test and not passed else 0)
        attempts = state.attempts_since_hint + 1
        return replace(state, attempts_since_hint=attempts, failed_tests=failed)
