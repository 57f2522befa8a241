"""The learning engine at the edge: sessions graded into review items and mastery when they end,
content and mistakes embedded and searched, the learning path and the diagnostic. The decisions
are the pure core's (tutor/); this module fetches, converts and stores. Nothing is kept for a
learner who has not consented."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio

from realtime.state import SessionState, run_evidence
from storage.db import Pool
from storage.learning import DiagnosticRow, LearningStore, ReviewRow, SkillRow
from storage.users import UserStore
from storage.vectors import ContentVector, VectorStore
from tutor.content import Question
from tutor.embedding import Embedder, blend
from tutor.grading import Outcome, Rating, grade
from tutor.mastery import Ask, Diagnostic, Evidence, Mastery, MasteryModel, Skill
from tutor.path import Candidate, LearningPath
from tutor.retrieval import (
    LessonHit,
    Mistake,
    MistakeHit,
    Retrieved,
    digest,
    lesson_parts,
    mistake_of,
    parts_text,
    question_parts,
)
from tutor.scheduling import FSRSScheduler, ReviewItem, Scheduler, due_queue, new_item

log = logging.getLogger("wingman.learning")

# How a learner reports a diagnostic question, as the grade the model learns from.
DIAGNOSTIC_OUTCOMES: dict[str, Rating | None] = {
    "solved": Rating.GOOD, "partly": Rating.HARD, "unsolved": Rating.AGAIN, "skipped": None}
# The band shown around a mastery estimate: skill +- this many spreads (about 80%).
BAND = 1.2816


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def outcome_of(state: SessionState, question: Question, seconds: float) -> Outcome | None:
    """What happened in a session on its question, or None if the learner never worked on it
    (no run, no hint, no tutor turn)."""
    if not state.runs and state.ladder.level == 0 and not state.turns:
        return None
    tests = [r.finished for r in state.runs.values() if r.mode == "test" and r.finished]
    runs = [r for r in state.runs.values() if r.finished]
    total_cases = len(question.visible) + len(question.hidden)
    passed, total, attempts = 0, total_cases, len(runs)
    for number, finished in enumerate(tests, start=1):
        cases = finished.get("tests") or []
        ok = sum(1 for c in cases if c.get("passed"))
        passed, total, attempts = ok, max(len(cases), 1), number
        if cases and ok == len(cases) and finished.get("limit") is None:
            break
    else:
        attempts = max(len(tests), attempts)
    return Outcome(difficulty=question.difficulty, tests_passed=min(passed, total),
                   tests_total=total, hint_level=state.ladder.level, attempts=attempts,
                   seconds=max(0.0, seconds))


def _item(row: ReviewRow) -> ReviewItem:
    return ReviewItem(question_id=row.question_id, due=row.due, last_review=row.last_review,
                      interval_days=row.interval_days, reviews=row.reviews, lapses=row.lapses,
                      ease=row.ease, streak=row.streak, stability=row.stability,
                      difficulty=row.difficulty)


def _row(item: ReviewItem, scheduler: str, rating: Rating | None) -> ReviewRow:
    return ReviewRow(item.question_id, scheduler, item.due, item.last_review, item.interval_days,
                     item.reviews, item.lapses, item.ease, item.streak, item.stability,
                     item.difficulty, int(rating) if rating is not None else None)


def _mastery(rows: Sequence[SkillRow]) -> Mastery:
    return Mastery({r.tag: Skill(r.level, r.spread, r.seen, r.evidence) for r in rows})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def streak(days: Sequence[date], today: date) -> int:
    """Days in a row with some work, ending today (or yesterday: today is not over yet)."""
    have = set(days)
    day = today if today in have else today - timedelta(days=1)
    count = 0
    while day in have:
        count += 1
        day -= timedelta(days=1)
    return count


@dataclass(frozen=True)
class Graded:
    rating: Rating
    passed: bool
    due: datetime


class LearningService:
    def __init__(self, pool: Pool, users: UserStore, questions: Callable[[], list[Question]],
                 embedder: Embedder, scheduler: Scheduler, diagnostic_length: int = 10,
                 lesson_similarity: float = 0.15, mistake_similarity: float = 0.35) -> None:
        self.store = LearningStore(pool)
        self.vectors = VectorStore(pool)
        self._users = users
        self._questions = questions
        self.embedder = embedder
        self.scheduler = scheduler
        self.model = MasteryModel()
        self.path = LearningPath(self.model)
        self.diagnostic_length = diagnostic_length
        self.lesson_similarity = lesson_similarity
        self.mistake_similarity = mistake_similarity

    def _by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self._questions()}

    async def consents(self, learner: str) -> bool:
        user = await self._users.by_id(learner)
        return user is not None and user.consent

    # Embeddings.
    def _vector(self, parts: list[tuple[str, float]]) -> list[float]:
        return blend(self.embedder.embed([text for text, _ in parts]), [w for _, w in parts])

    async def _embed(self, parts: list[tuple[str, float]]) -> list[float]:
        return await anyio.to_thread.run_sync(self._vector, parts)

    async def index(self) -> int:
        """Embed the questions and micro-lessons whose text changed since they were stored."""
        questions = self._questions()
        changed = 0
        for kind, parts_of in (("question", question_parts), ("lesson", lesson_parts)):
            known = await self.vectors.digests(kind, self.embedder.name)
            todo = []
            for q in questions:
                parts = parts_of(q)
                mark = digest(parts_text(parts))
                if known.get(q.id) != mark:
                    title = q.title if kind == "question" else q.lesson.title
                    todo.append(ContentVector(q.id, mark, title, await self._embed(parts)))
            await self.vectors.put_content(kind, self.embedder.name, todo,
                                           keep=[q.id for q in questions])
            changed += len(todo)
        return changed

    async def similar(self, question_id: str, limit: int = 5) -> list[dict[str, Any]] | None:
        found = await self.vectors.nearest_to_key("question", self.embedder.name, question_id,
                                                  limit)
        if found is None:
            return None
        by_id = self._by_id()
        return [{**by_id[n.key].summary(), "similarity": round(n.similarity, 4)}
                for n in found if n.key in by_id]

    async def lessons_for(self, question: Question, mistake: Mistake,
                          limit: int = 3) -> list[LessonHit]:
        """Micro-lessons of other questions that fit the error, nearest first."""
        vector = await self._embed([(mistake.text(question), 1.0)])
        found = await self.vectors.nearest("lesson", self.embedder.name, vector, limit,
                                           exclude=[question.id])
        return [LessonHit(n.key, n.title, n.similarity) for n in found
                if n.similarity >= self.lesson_similarity]

    async def retrieve(self, learner: str, keep: bool, sid: str, question: Question,
                       state: SessionState) -> Retrieved:
        """What the tutor may bring up about the learner's last run: the lessons that fit its
        error, and (only with consent) the learner's own past mistakes like it."""
        evidence = state.evidence()
        mistake = mistake_of(evidence, state.code) if evidence is not None else None
        if mistake is None:
            return Retrieved()
        lessons = await self.lessons_for(question, mistake)
        mistakes: list[MistakeHit] = []
        if keep and await self.consents(learner):
            vector = await self._embed([(mistake.text(question), 1.0)])
            by_id = self._by_id()
            now = datetime.now(UTC)
            for past in await self.vectors.similar_mistakes(learner, self.embedder.name, vector,
                                                            3, exclude_sid=sid):
                if past.similarity < self.mistake_similarity:
                    continue
                title = by_id[past.question_id].title if past.question_id in by_id \
                    else past.question_id
                mistakes.append(MistakeHit(past.question_id, title, past.kind, past.summary,
                                           (now - past.created_at).days, past.similarity))
        return Retrieved(tuple(lessons), tuple(mistakes))

    # A session's end.
    async def session_ended(self, sid: str, learner: str, state: SessionState,
                            question: Question, started_at: datetime) -> Graded | None:
        """Grade the session, reschedule its question, update mastery, remember its mistakes;
        nothing at all for a learner without consent or a session not worked on."""
        if not await self.consents(learner):
            return None
        now = datetime.now(UTC)
        outcome = outcome_of(state, question, (now - started_at).total_seconds())
        if outcome is None:
            return None  # opened and left: neither passed nor failed, nothing to review
        rating = grade(outcome)
        known = await self.store.review(learner, question.id)
        item = _item(known) if known is not None else new_item(question.id, now)
        item = self.scheduler.review(item, rating, now)
        await self.store.put_review(learner, _row(item, self.scheduler.name, rating))
        mastery = _mastery(await self.store.skills(learner))
        mastery = self.model.update(
            mastery, Evidence(tuple(question.tags), question.difficulty, rating), now)
        await self.store.put_skills(learner, [
            SkillRow(tag, s.level, s.spread, s.seen, s.evidence)
            for tag, s in mastery.skills.items() if tag in question.tags])
        await self.store.grade_session(sid, outcome.solved, int(rating))
        await self._remember_mistakes(sid, learner, state, question)
        return Graded(rating, outcome.solved, item.due)

    async def _remember_mistakes(self, sid: str, learner: str, state: SessionState,
                                 question: Question) -> None:
        seen: dict[tuple[str, str], Mistake] = {}
        records = list(state.runs.values())
        for i, record in enumerate(records):
            if record.finished is None:
                continue
            # Only the last run's line can be read from the code as it is now.
            code = state.code if i == len(records) - 1 else ""
            mistake = mistake_of(run_evidence(record), code)
            if mistake is not None:
                seen.setdefault((mistake.kind, mistake.message), mistake)
        if not seen:
            return
        rows = [(m.kind, m.summary(), await self._embed([(m.text(question), 1.0)]))
                for m in seen.values()]
        await self.vectors.add_mistakes(learner, sid, question.id, self.embedder.name, rows)

    # What the learner sees.
    async def reviews(self, learner: str) -> list[ReviewItem]:
        return [_item(r) for r in await self.store.reviews(learner)]

    async def due(self, learner: str, now: datetime) -> list[dict[str, Any]]:
        by_id = self._by_id()
        return [{"question_id": i.question_id,
                 "title": by_id[i.question_id].title if i.question_id in by_id
                 else i.question_id, "due_at": i.due.isoformat()}
                for i in due_queue(await self.reviews(learner), now)]

    async def review_list(self, learner: str, now: datetime) -> list[dict[str, Any]]:
        by_id = self._by_id()
        due = {i.question_id for i in due_queue(await self.reviews(learner), now)}
        listed = []
        for row in await self.store.reviews(learner):
            item = _item(row)
            entry: dict[str, Any] = {
                "question_id": row.question_id,
                "title": by_id[row.question_id].title if row.question_id in by_id
                else row.question_id,
                "due_at": row.due.isoformat(), "is_due": row.question_id in due,
                "last_review": _iso(row.last_review), "interval_days": row.interval_days,
                "reviews": row.reviews, "lapses": row.lapses, "scheduler": row.scheduler,
                "last_rating": Rating(row.last_rating).name.lower()
                if row.last_rating else None}
            if isinstance(self.scheduler, FSRSScheduler) and row.stability is not None:
                entry["recall"] = round(self.scheduler.recall(item, now), 3)
            listed.append(entry)
        listed.sort(key=lambda e: (not e["is_due"], e["due_at"]))
        return listed

    async def mastery_list(self, learner: str, now: datetime) -> list[dict[str, Any]]:
        mastery = _mastery(await self.store.skills(learner))
        listed = []
        for tag in sorted(mastery.skills):
            s = self.model.skill(mastery, tag, now)
            listed.append({"tag": tag, "rating": round(_logistic(s.level), 4),
                           "low": round(_logistic(s.level - BAND * s.spread), 4),
                           "high": round(_logistic(s.level + BAND * s.spread), 4),
                           "sessions": s.evidence})
        return listed

    async def progress(self, learner: str, zone: str = "UTC") -> dict[str, Any]:
        if not await self.consents(learner):
            return {"consent": False, "mastery": [], "due": [], "streak": 0, "sessions": []}
        now = datetime.now(UTC)
        by_id = self._by_id()
        sessions = [{"sid": s.sid, "question_id": s.question_id,
                     "title": by_id[s.question_id].title if s.question_id in by_id
                     else s.question_id,
                     "started_at": s.created_at.isoformat(), "ended_at": _iso(s.ended_at),
                     "passed": s.passed, "review": s.review}
                    for s in await self.store.sessions(learner)]
        days = await self.store.active_days(learner, zone)
        today = now.astimezone(ZoneInfo(zone)).date()
        return {"consent": True, "mastery": await self.mastery_list(learner, now),
                "due": await self.due(learner, now), "streak": streak(days, today),
                "sessions": sessions}

    def _candidates(self, languages: Sequence[str]) -> list[Candidate]:
        return [Candidate(q.id, q.title, tuple(q.tags), q.difficulty,
                          prerequisite_questions=tuple(q.prerequisites))
                for q in self._questions() if not languages or q.language in languages]

    async def next(self, learner: str, languages: Sequence[str] = ()) -> dict[str, Any]:
        consent = await self.consents(learner)
        now = datetime.now(UTC)
        mastery = _mastery(await self.store.skills(learner)) if consent else Mastery()
        reviews = await self.reviews(learner) if consent else []
        pick = self.path.next(self._candidates(languages), mastery, reviews, now)
        if pick is None:
            return {"consent": consent, "question_id": None, "title": None, "kind": None,
                    "reason": "No question is published in the languages you chose yet."}
        question = self._by_id()[pick.question_id]
        return {"consent": consent, "question_id": pick.question_id, "title": question.title,
                "language": question.language, "difficulty": question.difficulty.value,
                "kind": pick.kind.value, "reason": pick.reason}

    # The diagnostic.
    def _diagnostic_view(self, row: DiagnosticRow | None, why: str) -> dict[str, Any]:
        if row is None:
            return {"consent": False, "diagnostic_id": None, "question": None, "asked": 0,
                    "length": self.diagnostic_length, "finished": True, "why": why}
        question = self._by_id().get(row.current) if row.current else None
        return {"consent": True, "diagnostic_id": row.id,
                "question": question.summary() if question else None,
                "asked": len(row.answers), "length": row.length,
                "finished": row.finished_at is not None, "why": why}

    async def _advance(self, learner: str, row: DiagnosticRow) -> dict[str, Any]:
        now = datetime.now(UTC)
        pool = [q for q in self._questions() if not row.languages or q.language in row.languages]
        mastery = _mastery(await self.store.skills(learner))
        asked = {a["question_id"] for a in row.answers}
        step = Diagnostic(pool, self.model, row.length).next(mastery, asked, now)
        if isinstance(step, Ask):
            row = await self.store.update_diagnostic(row.id, row.answers, step.question_id, None)
            question = self._by_id()[step.question_id]
            topics = ", ".join(t.replace("-", " ") for t in question.tags)
            return self._diagnostic_view(
                row, f"Of the questions left, this one tells us most about where you stand "
                f"with {topics}.")
        row = await self.store.update_diagnostic(row.id, row.answers, None, step.reason)
        return self._diagnostic_view(row, f"Done: {step.reason}.")

    async def diagnostic_start(self, learner: str, languages: Sequence[str]) -> dict[str, Any]:
        if not await self.consents(learner):
            return self._diagnostic_view(
                None, "The diagnostic keeps what it learns about you; without your consent to "
                "keep learning data there is nothing it could keep.")
        row = await self.store.start_diagnostic(learner, self.diagnostic_length, list(languages))
        if row.current is not None and row.current in self._by_id():
            return self._diagnostic_view(row, "Picking up your diagnostic where you left it.")
        return await self._advance(learner, row)

    async def diagnostic_answer(self, learner: str, question_id: str,
                                outcome: str) -> dict[str, Any] | str:
        """The next step, or why the answer was refused (a message for people)."""
        if not await self.consents(learner):
            return self._diagnostic_view(None, "Without consent nothing is kept.")
        row = await self.store.open_diagnostic(learner)
        if row is None:
            return "no diagnostic is under way: start one first"
        if row.current != question_id:
            return "that is not the question the diagnostic asked"
        rating = DIAGNOSTIC_OUTCOMES[outcome]
        question = self._by_id().get(question_id)
        # A session on the question that ended since it was asked already counted its evidence.
        counted = row.current_at is not None and await self.store.graded_since(
            learner, question_id, row.current_at)
        if rating is not None and question is not None and not counted:
            now = datetime.now(UTC)
            mastery = self.model.update(
                _mastery(await self.store.skills(learner)),
                Evidence(tuple(question.tags), question.difficulty, rating), now)
            await self.store.put_skills(learner, [
                SkillRow(t, s.level, s.spread, s.seen, s.evidence)
                for t, s in mastery.skills.items() if t in question.tags])
        answers = [*row.answers, {"question_id": question_id, "outcome": outcome,
                                  "at": datetime.now(UTC).isoformat()}]
        row = await self.store.update_diagnostic(row.id, answers, None, None)
        return await self._advance(learner, row)

    async def export(self, learner: str) -> dict[str, Any]:
        """All learning data kept about a learner, for their copy of it (no vectors: they are
        derived from the text given here)."""
        reviews = [{"question_id": r.question_id, "scheduler": r.scheduler,
                    "due_at": r.due.isoformat(), "last_review": _iso(r.last_review),
                    "interval_days": r.interval_days, "reviews": r.reviews, "lapses": r.lapses,
                    "ease": r.ease, "streak": r.streak, "stability": r.stability,
                    "difficulty": r.difficulty, "last_rating": r.last_rating}
                   for r in await self.store.reviews(learner)]
        mastery = [{"tag": s.tag, "level": s.level, "spread": s.spread, "seen": _iso(s.seen),
                    "evidence": s.evidence} for s in await self.store.skills(learner)]
        diagnostics = [{"id": d.id, "length": d.length, "languages": d.languages,
                        "answers": d.answers, "started_at": d.started_at.isoformat(),
                        "finished_at": _iso(d.finished_at), "reason": d.reason}
                       for d in await self.store.diagnostics(learner)]
        mistakes = [{"sid": m.sid, "question_id": m.question_id, "kind": m.kind,
                     "summary": m.summary, "created_at": m.created_at.isoformat()}
                    for m in await self.vectors.mistakes_of(learner)]
        return {"reviews": reviews, "mastery": mastery, "diagnostics": diagnostics,
                "mistakes": mistakes}

    async def forget(self, learner: str) -> None:
        await self.store.forget(learner)
