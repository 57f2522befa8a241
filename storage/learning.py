"""A learner's learning data: review items, mastery per tag, diagnostics, graded sessions.
Kept for consenting learners only; the server decides that before calling here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.db import Pool


@dataclass(frozen=True)
class ReviewRow:
    question_id: str
    scheduler: str
    due: datetime
    last_review: datetime | None
    interval_days: int
    reviews: int
    lapses: int
    ease: float
    streak: int
    stability: float | None
    difficulty: float | None
    last_rating: int | None


@dataclass(frozen=True)
class SkillRow:
    tag: str
    level: float
    spread: float
    seen: datetime | None
    evidence: int


@dataclass(frozen=True)
class DiagnosticRow:
    id: str
    length: int
    languages: list[str]
    answers: list[dict[str, Any]]
    current: str | None
    current_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    reason: str | None


@dataclass(frozen=True)
class GradedSession:
    sid: str
    question_id: str
    created_at: datetime
    ended_at: datetime | None
    passed: bool | None
    review: bool


_REVIEW_COLUMNS = ("question_id, scheduler, due, last_review, interval_days, reviews, lapses,"
                   " ease, streak, stability, difficulty, last_rating")


def _review(row: asyncpg.Record) -> ReviewRow:
    return ReviewRow(row["question_id"], row["scheduler"], row["due"], row["last_review"],
                     row["interval_days"], row["reviews"], row["lapses"], row["ease"],
                     row["streak"], row["stability"], row["difficulty"], row["last_rating"])


def _diagnostic(row: asyncpg.Record) -> DiagnosticRow:
    return DiagnosticRow(str(row["id"]), row["length"], list(row["languages"]),
                         list(row["answers"]), row["current"], row["current_at"],
                         row["started_at"], row["finished_at"], row["reason"])


class LearningStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    # Review items.
    async def reviews(self, learner: str) -> list[ReviewRow]:
        rows = await self._pool.fetch(
            f"SELECT {_REVIEW_COLUMNS} FROM review_items WHERE learner_id = $1 ORDER BY due",
            uuid.UUID(learner))
        return [_review(r) for r in rows]

    async def review(self, learner: str, question_id: str) -> ReviewRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_REVIEW_COLUMNS} FROM review_items WHERE learner_id = $1"
            " AND question_id = $2", uuid.UUID(learner), question_id)
        return _review(row) if row else None

    async def put_review(self, learner: str, item: ReviewRow) -> None:
        await self._pool.execute(
            f"INSERT INTO review_items (learner_id, {_REVIEW_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (learner_id, question_id) DO UPDATE SET scheduler = $3, due = $4,"
            " last_review = $5, interval_days = $6, reviews = $7, lapses = $8, ease = $9,"
            " streak = $10, stability = $11, difficulty = $12, last_rating = $13",
            uuid.UUID(learner), item.question_id, item.scheduler, item.due, item.last_review,
            item.interval_days, item.reviews, item.lapses, item.ease, item.streak,
            item.stability, item.difficulty, item.last_rating)

    # Mastery.
    async def skills(self, learner: str) -> list[SkillRow]:
        rows = await self._pool.fetch(
            "SELECT tag, level, spread, seen, evidence FROM mastery WHERE learner_id = $1"
            " ORDER BY tag", uuid.UUID(learner))
        return [SkillRow(r["tag"], r["level"], r["spread"], r["seen"], r["evidence"])
                for r in rows]

    async def put_skills(self, learner: str, skills: list[SkillRow]) -> None:
        await self._pool.executemany(
            "INSERT INTO mastery (learner_id, tag, level, spread, seen, evidence)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (learner_id, tag) DO UPDATE"
            " SET level = $3, spread = $4, seen = $5, evidence = $6",
            [(uuid.UUID(learner), s.tag, s.level, s.spread, s.seen, s.evidence) for s in skills])

    # Sessions and their grades.
    async def grade_session(self, sid: str, passed: bool | None, rating: int | None) -> None:
        await self._pool.execute("UPDATE sessions SET passed = $2, rating = $3 WHERE sid = $1",
                                 uuid.UUID(sid), passed, rating)

    async def mark_review(self, sid: str) -> None:
        await self._pool.execute("UPDATE sessions SET review = true WHERE sid = $1",
                                 uuid.UUID(sid))

    async def sessions(self, learner: str, limit: int = 50) -> list[GradedSession]:
        rows = await self._pool.fetch(
            "SELECT sid, question_id, created_at, ended_at, passed, review FROM sessions"
            " WHERE learner_id = $1 ORDER BY created_at DESC LIMIT $2",
            uuid.UUID(learner), limit)
        return [GradedSession(str(r["sid"]), r["question_id"], r["created_at"], r["ended_at"],
                              r["passed"], r["review"]) for r in rows]

    async def active_days(self, learner: str, zone: str, limit: int = 400) -> list[datetime]:
        """The days (in time zone `zone`) on which the learner worked, newest first."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT (created_at AT TIME ZONE $2)::date AS day FROM sessions"
            " WHERE learner_id = $1 ORDER BY day DESC LIMIT $3",
            uuid.UUID(learner), zone, limit)
        return [r["day"] for r in rows]

    # The diagnostic.
    async def open_diagnostic(self, learner: str) -> DiagnosticRow | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM diagnostics WHERE learner_id = $1 AND finished_at IS NULL",
            uuid.UUID(learner))
        return _diagnostic(row) if row else None

    async def diagnostics(self, learner: str) -> list[DiagnosticRow]:
        rows = await self._pool.fetch(
            "SELECT * FROM diagnostics WHERE learner_id = $1 ORDER BY started_at",
            uuid.UUID(learner))
        return [_diagnostic(r) for r in rows]

    async def last_diagnostic(self, learner: str) -> DiagnosticRow | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM diagnostics WHERE learner_id = $1 ORDER BY started_at DESC LIMIT 1",
            uuid.UUID(learner))
        return _diagnostic(row) if row else None

    async def start_diagnostic(self, learner: str, length: int,
                               languages: list[str]) -> DiagnosticRow:
        """A new diagnostic, or the one already under way (two tabs start one)."""
        row = await self._pool.fetchrow(
            "INSERT INTO diagnostics (id, learner_id, length, languages) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (learner_id) WHERE finished_at IS NULL DO NOTHING RETURNING *",
            uuid.uuid4(), uuid.UUID(learner), length, languages)
        if row is not None:
            return _diagnostic(row)
        found = await self.open_diagnostic(learner)
        if found is None:  # finished between the two statements
            return await self.start_diagnostic(learner, length, languages)
        return found

    async def update_diagnostic(self, diagnostic_id: str, answers: list[dict[str, Any]],
                                current: str | None, finished: str | None) -> DiagnosticRow:
        row = await self._pool.fetchrow(
            "UPDATE diagnostics SET answers = $2, current = $3,"
            " current_at = CASE WHEN $3::text IS NULL THEN NULL"
            "  WHEN current IS DISTINCT FROM $3 THEN now() ELSE current_at END,"
            " finished_at = CASE WHEN $4::text IS NULL THEN NULL ELSE now() END, reason = $4"
            " WHERE id = $1 RETURNING *", uuid.UUID(diagnostic_id), answers, current, finished)
        assert row is not None
        return _diagnostic(row)

    async def graded_since(self, learner: str, question_id: str, since: datetime) -> bool:
        """Whether a session on the question was graded after `since` (its evidence counted)."""
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE learner_id = $1 AND question_id = $2"
            " AND ended_at >= $3 AND rating IS NOT NULL)", uuid.UUID(learner), question_id,
            since))

    async def forget(self, learner: str) -> None:
        """All learning data of a learner (consent withdrawn)."""
        key = uuid.UUID(learner)
        async with self._pool.acquire() as conn, conn.transaction():
            for table in ("review_items", "mastery", "diagnostics", "mistakes"):
                await conn.execute(f"DELETE FROM {table} WHERE learner_id = $1", key)
