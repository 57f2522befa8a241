"""Complex moments: the points in a session where a mentor's attention would help.

Fed the session's facts in order, the detector reports each kind of moment once per episode:
a run of the same error, a silence after a failure, a burst of hint requests, the learner
saying they are stuck. An episode ends when what made it a moment stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class MomentReason(StrEnum):
    REPEATED_ERROR = "repeated_error"
    IDLE = "idle"
    HINT_BURST = "hint_burst"
    STUCK = "stuck"


@dataclass(frozen=True)
class Moment:
    reason: MomentReason
    detail: str


@dataclass(frozen=True)
class MomentRules:
    """The thresholds; the server fills these from its settings."""

    same_error_runs: int = 3
    idle_seconds: float = 300.0
    hint_burst: int = 3
    hint_window_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.same_error_runs < 1 or self.hint_burst < 1:
            raise ValueError("same_error_runs and hint_burst must be at least 1")
        if self.idle_seconds <= 0 or self.hint_window_seconds <= 0:
            raise ValueError("idle_seconds and hint_window_seconds must be positive")


@dataclass(frozen=True)
class RunFinished:
    """A run ended; `error` is the exception type it died with, if any."""

    at_ms: int
    failed: bool
    error: str | None = None


@dataclass(frozen=True)
class HintRequested:
    at_ms: int


@dataclass(frozen=True)
class LearnerText:
    at_ms: int
    text: str


@dataclass(frozen=True)
class CodeEdited:
    at_ms: int


@dataclass(frozen=True)
class Tick:
    """Time passing with nothing happening, so that silence can be noticed."""

    at_ms: int


Fact = RunFinished | HintRequested | LearnerText | CodeEdited | Tick

_STUCK = re.compile(
    r"\b(?:"
    r"(?:i'?m|i am|i feel|feeling|i'?ve been|i got)"
    r" (?:so |really |totally |completely |kind of |kinda |still |just )?(?:stuck|lost|confused)"
    r"|(?:still|totally|completely|really|so) stuck"
    r"|i give up|giving up"
    r"|no idea|(?:have )?no clue"
    r"|(?:don'?t|do not) (?:know what to do|know how to|know where to start|understand"
    r"|get (?:it|this))"
    r"|(?:can'?t|cannot|can not) (?:figure (?:it |this )?out|do (?:it|this)|see (?:why|what))"
    r"|please help|need help"
    r")\b"
)


def stuck_phrase(text: str) -> str | None:
    """The English phrase in `text` that says the learner is stuck, if there is one."""
    match = _STUCK.search(" ".join(text.lower().replace("\u2019", "'").split()))
    return match.group(0) if match else None


@dataclass
class MomentDetector:
    """One per session. Pure: no clock of its own; time comes in with the facts. Plain fields,
    so that a session's detector travels inside its saved state."""

    rules: MomentRules = field(default_factory=MomentRules)
    error: str | None = None
    error_runs: int = 0
    error_told: bool = False
    failed_at: int | None = None
    failed_with: str | None = None
    idle_told: bool = False
    hints: list[int] = field(default_factory=list)
    hints_told: bool = False
    stuck_told: bool = False

    def observe(self, fact: Fact) -> list[Moment]:
        moments: list[Moment] = []
        self._silence(fact.at_ms, moments)
        if not isinstance(fact, Tick):
            # Any action by the learner ends a silence.
            self.failed_at = None
        if isinstance(fact, RunFinished):
            self._run(fact, moments)
        elif isinstance(fact, HintRequested):
            self._hint(fact.at_ms, moments)
        elif isinstance(fact, LearnerText):
            self._text(fact.text, moments)
        return moments

    def _silence(self, at_ms: int, out: list[Moment]) -> None:
        if self.failed_at is None or self.idle_told:
            return
        if at_ms - self.failed_at >= self.rules.idle_seconds * 1000:
            self.idle_told = True
            minutes = max(1, round(self.rules.idle_seconds / 60))
            after = f" with {self.failed_with}" if self.failed_with else ""
            out.append(Moment(
                MomentReason.IDLE,
                f"No activity for {minutes} minute{'s' if minutes != 1 else ''} "
                f"after a failing run{after}.",
            ))

    def _run(self, run: RunFinished, out: list[Moment]) -> None:
        if not run.failed:
            self.error, self.error_runs, self.error_told = None, 0, False
            self.stuck_told = False
            return
        self.failed_at, self.failed_with, self.idle_told = run.at_ms, run.error, False
        key = run.error or ""
        if self.error_runs and key == self.error:
            self.error_runs += 1
        else:
            self.error, self.error_runs, self.error_told = key, 1, False
        if self.error_runs >= self.rules.same_error_runs and not self.error_told:
            self.error_told = True
            what = f"with {run.error}" if run.error else "failing the tests without an error"
            out.append(Moment(
                MomentReason.REPEATED_ERROR, f"{self.error_runs} runs in a row {what}."
            ))

    def _hint(self, at_ms: int, out: list[Moment]) -> None:
        window = self.rules.hint_window_seconds * 1000
        while self.hints and at_ms - self.hints[0] > window:
            del self.hints[0]
        if not self.hints:
            # The earlier burst is over: a new one is a new episode.
            self.hints_told = False
        self.hints.append(at_ms)
        del self.hints[:-self.rules.hint_burst]
        if len(self.hints) >= self.rules.hint_burst and not self.hints_told:
            self.hints_told = True
            seconds = round(self.rules.hint_window_seconds)
            out.append(Moment(
                MomentReason.HINT_BURST,
                f"{len(self.hints)} hints asked for within {seconds} seconds.",
            ))

    def _text(self, text: str, out: list[Moment]) -> None:
        phrase = stuck_phrase(text)
        if phrase is None or self.stuck_told:
            return
        self.stuck_told = True
        out.append(Moment(MomentReason.STUCK, f"The learner wrote “{phrase}”."))
