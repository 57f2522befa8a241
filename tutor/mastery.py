"""What a learner has mastered, per tag, with how sure we are; and the diagnostic that finds out.

Model: Glicko-style rating per tag (a skill and its spread, played against questions of known
difficulty), since the spread is exactly what an adaptive diagnostic needs to drive down.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tutor.content import Difficulty
from tutor.grading import Rating


class Probe(Protocol):
    """What the model needs of a question (content.Question has it)."""

    @property
    def id(self) -> str: ...

    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def difficulty(self) -> Difficulty: ...


def _difficulties() -> dict[Difficulty, float]:
    return {Difficulty.EASY: -1.0, Difficulty.MEDIUM: 0.0, Difficulty.HARD: 1.0}


def _scores() -> dict[Rating, float]:
    # Solving with much help is half a win; AGAIN is a loss.
    return {Rating.AGAIN: 0.0, Rating.HARD: 0.5, Rating.GOOD: 1.0, Rating.EASY: 1.0}


@dataclass(frozen=True)
class MasteryRules:
    """The model's constants; the server fills these from its settings."""

    # Skills live on a log-odds scale; +-4 keeps a single session from pinning them to 0 or 1.
    limit: float = 4.0
    prior_spread: float = 1.5
    min_spread: float = 0.3
    # Variance a tag regains per day unseen: about six months back to knowing nothing.
    drift_per_day: float = 0.012
    difficulty: Mapping[Difficulty, float] = field(default_factory=_difficulties)
    score: Mapping[Rating, float] = field(default_factory=_scores)

    def __post_init__(self) -> None:
        if not 0 < self.min_spread <= self.prior_spread:
            raise ValueError("need 0 < min_spread <= prior_spread")
        if self.limit <= 0 or self.drift_per_day < 0:
            raise ValueError("limit must be positive and drift_per_day not negative")


@dataclass(frozen=True)
class Skill:
    level: float
    spread: float
    seen: datetime | None = None
    evidence: int = 0

    @property
    def mastery(self) -> float:
        """The chance of solving a medium question on this tag unaided, in [0, 1]."""
        return _logistic(self.level)


@dataclass(frozen=True)
class Mastery:
    """One learner's skills by tag; tags never seen are absent and read as the prior."""

    skills: Mapping[str, Skill] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """One session's result on one question."""

    tags: tuple[str, ...]
    difficulty: Difficulty
    rating: Rating


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class MasteryModel:
    def __init__(self, rules: MasteryRules | None = None) -> None:
        self.rules = rules or MasteryRules()

    def skill(self, mastery: Mastery, tag: str, now: datetime) -> Skill:
        """The tag's skill as of `now`: the prior if unseen, less certain the longer unseen."""
        r = self.rules
        known = mastery.skills.get(tag)
        if known is None:
            return Skill(0.0, r.prior_spread)
        days = 0.0 if known.seen is None else max(0.0, (now - known.seen).total_seconds() / 86400)
        spread = math.sqrt(known.spread**2 + r.drift_per_day * days)
        return Skill(known.level, self._spread(spread), known.seen, known.evidence)

    def chance(self, mastery: Mastery, probe: Probe, now: datetime) -> float:
        """Expected chance of solving `probe` unaided, averaged over its tags."""
        tags = list(probe.tags) or [""]
        b = self.rules.difficulty[probe.difficulty]
        total = 0.0
        for tag in tags:
            s = self.skill(mastery, tag, now)
            # Uncertainty pulls the expectation toward even odds (Glicko's g factor).
            g = 1.0 / math.sqrt(1.0 + 3.0 * s.spread**2 / math.pi**2)
            total += _logistic(g * (s.level - b))
        return total / len(tags)

    def update(self, mastery: Mastery, evidence: Evidence, now: datetime) -> Mastery:
        b = self.rules.difficulty[evidence.difficulty]
        score = self.rules.score[evidence.rating]
        skills = dict(mastery.skills)
        for tag in dict.fromkeys(evidence.tags):
            s = self.skill(mastery, tag, now)
            p = _logistic(s.level - b)
            variance = self._posterior(s.spread**2, p)
            level = s.level + variance * (score - p)
            skills[tag] = Skill(self._level(level), math.sqrt(variance), now, s.evidence + 1)
        return Mastery(skills)

    def gain(self, mastery: Mastery, probe: Probe, now: datetime) -> float:
        """How much asking `probe` would shrink the summed variance of its tags."""
        b = self.rules.difficulty[probe.difficulty]
        total = 0.0
        for tag in dict.fromkeys(probe.tags):
            s = self.skill(mastery, tag, now)
            total += s.spread**2 - self._posterior(s.spread**2, _logistic(s.level - b))
        return total

    def _posterior(self, variance: float, p: float) -> float:
        floor = self.rules.min_spread**2
        return max(floor, 1.0 / (1.0 / variance + p * (1.0 - p)))

    def _level(self, level: float) -> float:
        return max(-self.rules.limit, min(self.rules.limit, level))

    def _spread(self, spread: float) -> float:
        return max(self.rules.min_spread, min(self.rules.prior_spread, spread))


@dataclass(frozen=True)
class Ask:
    question_id: str


@dataclass(frozen=True)
class Finished:
    reason: str


class Diagnostic:
    """An adaptive first session: each next question is the one expected to teach us most."""

    def __init__(
        self,
        pool: Iterable[Probe],
        model: MasteryModel | None = None,
        length: int = 10,
        settled_spread: float = 0.6,
    ) -> None:
        if length < 1:
            raise ValueError("a diagnostic needs at least one question")
        self.pool = sorted(pool, key=lambda p: p.id)
        self.model = model or MasteryModel()
        self.length = length
        self.settled_spread = settled_spread
        self.tags = sorted({t for p in self.pool for t in p.tags})

    def next(self, mastery: Mastery, asked: Collection[str], now: datetime) -> Ask | Finished:
        if len(asked) >= self.length:
            return Finished(f"asked {len(asked)} questions")
        if all(
            self.model.skill(mastery, t, now).spread <= self.settled_spread for t in self.tags
        ):
            return Finished("every topic is known well enough")
        best: tuple[float, str] | None = None
        for probe in self.pool:
            if probe.id in asked:
                continue
            gain = self.model.gain(mastery, probe, now)
            if gain > 1e-9 and (best is None or gain > best[0]):
                best = (gain, probe.id)
        if best is None:
            return Finished("no question left would tell us more")
        return Ask(best[1])
