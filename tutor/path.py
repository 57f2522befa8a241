"""The learning path: which question a learner should do next, and why, in their words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tutor.content import Difficulty
from tutor.mastery import Mastery, MasteryModel
from tutor.scheduling import ReviewItem, due_queue, utc


@dataclass(frozen=True)
class Candidate:
    """A question the learner may be given, with what it builds on."""

    id: str
    title: str
    tags: tuple[str, ...]
    difficulty: Difficulty
    # Questions to have solved at least once first.
    prerequisite_questions: tuple[str, ...] = ()
    # Tags to have mastered first.
    prerequisite_tags: tuple[str, ...] = ()


class PickKind(StrEnum):
    REVIEW = "review"
    NEW = "new"
    AHEAD = "ahead"
    STRETCH = "stretch"


@dataclass(frozen=True)
class Pick:
    question_id: str
    kind: PickKind
    reason: str


def _words(tag: str) -> str:
    return tag.replace("-", " ").replace("_", " ")


def _ago(then: datetime, now: datetime) -> str:
    days = (utc(now) - utc(then)).days
    if days <= 0:
        return "earlier today"
    return "yesterday" if days == 1 else f"{days} days ago"


class LearningPath:
    """Due reviews first, then a new question pitched just above what the learner can do."""

    def __init__(
        self,
        model: MasteryModel | None = None,
        ready: float = 0.6,
        target: float = 0.7,
        unsure_spread: float = 1.0,
    ) -> None:
        # ready: mastery a prerequisite tag needs; target: the chance of success to aim for.
        self.model = model or MasteryModel()
        self.ready = ready
        self.target = target
        self.unsure_spread = unsure_spread

    def missing(
        self,
        candidate: Candidate,
        mastery: Mastery,
        solved: Set[str],
        now: datetime,
        titles: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The prerequisites of `candidate` not met yet, as the learner would read them."""
        titles = titles or {}
        gaps = [
            f"“{titles[q]}”" if q in titles else _words(q)
            for q in candidate.prerequisite_questions
            if q not in solved
        ]
        gaps += [
            _words(t)
            for t in candidate.prerequisite_tags
            if self.model.skill(mastery, t, now).mastery < self.ready
        ]
        return gaps

    def next(
        self,
        candidates: Sequence[Candidate],
        mastery: Mastery,
        reviews: Sequence[ReviewItem],
        now: datetime,
    ) -> Pick | None:
        if not candidates:
            return None
        by_id = {c.id: c for c in candidates}
        worked = {r.question_id: r for r in reviews}
        solved = {r.question_id for r in reviews if r.reviews > r.lapses}
        fits = [c for c in candidates if not self.missing(c, mastery, solved, now)]
        fit_ids = {c.id for c in fits}

        for item in due_queue(reviews, now):
            if item.question_id in fit_ids:
                title = by_id[item.question_id].title
                if item.last_review is None:
                    reason = f"You started “{title}” before; finish it while it is fresh."
                else:
                    reason = (
                        f"Time to review “{title}”: you last worked on it "
                        f"{_ago(item.last_review, now)}, and solving it again now makes it stick."
                    )
                return Pick(item.question_id, PickKind.REVIEW, reason)

        fresh = [c for c in fits if c.id not in worked]
        if fresh:
            best = min(fresh, key=lambda c: self._fit(c, mastery, now))
            return Pick(best.id, PickKind.NEW, self._why_new(best, mastery, now))

        if fits:
            ahead = min(fits, key=lambda c: (utc(worked[c.id].due), c.id))
            return Pick(
                ahead.id,
                PickKind.AHEAD,
                f"You have tried every question open to you; “{ahead.title}” is the next one "
                "due for review, and practising it early still helps.",
            )

        def gaps(c: Candidate) -> tuple[int, float, float, str]:
            return (len(self.missing(c, mastery, solved, now)), *self._fit(c, mastery, now))

        stretch = min(candidates, key=gaps)
        titles = {c.id: c.title for c in candidates}
        needs = ", ".join(self.missing(stretch, mastery, solved, now, titles))
        return Pick(
            stretch.id,
            PickKind.STRETCH,
            f"Every question left builds on something you have not mastered yet; this one "
            f"needs {needs}, so take it slowly and ask for a hint early.",
        )

    def _fit(self, c: Candidate, mastery: Mastery, now: datetime) -> tuple[float, float, str]:
        # Closest to the target chance first; then the weakest topic; then a stable order.
        chance = self.model.chance(mastery, c, now)
        return (abs(chance - self.target), self._focus(c, mastery, now)[1], c.id)

    def _focus(self, c: Candidate, mastery: Mastery, now: datetime) -> tuple[str, float]:
        if not c.tags:
            return ("", 0.5)
        levels = [(t, self.model.skill(mastery, t, now).mastery) for t in c.tags]
        return min(levels, key=lambda tl: (tl[1], tl[0]))

    def _why_new(self, c: Candidate, mastery: Mastery, now: datetime) -> str:
        tag, level = self._focus(c, mastery, now)
        level_words = c.difficulty.value
        if not tag:
            return f"A new {level_words} question, pitched at about your level."
        topic = _words(tag)
        if self.model.skill(mastery, tag, now).spread >= self.unsure_spread:
            return (
                f"We have not seen much of your work with {topic} yet; this {level_words} "
                "question shows where you stand."
            )
        if level < self.ready:
            return (
                f"It practises {topic}, where you have the most room to grow, at a level you "
                "can likely manage."
            )
        return (
            f"You are doing well with {topic}; this {level_words} question stretches you a "
            "little further."
        )
