"""Session records: whose session it is and on which question (consenting learners only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.db import Pool, as_uuid


@dataclass(frozen=True)
class SessionRecord:
    sid: str
    learner: str
    question_id: str
    question_version: int
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class SessionStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def add(self, sid: str, learner: str, question_id: str, version: int) -> None:
        await self._pool.execute(
            "INSERT INTO sessions (sid, learner_id, question_id, question_version)"
            " VALUES ($1, $2, $3, $4)", uuid.UUID(sid), uuid.UUID(learner), question_id, version)

    async def get(self, sid: str) -> SessionRecord | None:
        key = as_uuid(sid)
        row = await self._pool.fetchrow("SELECT * FROM sessions WHERE sid = $1", key) \
            if key else None
        return _record(row) if row else None

    async def end(self, sid: str, reason: str) -> None:
        await self._pool.execute(
            "UPDATE sessions SET ended_at = now(), end_reason = $2"
            " WHERE sid = $1 AND ended_at IS NULL", uuid.UUID(sid), reason)

    async def of_learner(self, learner: str, limit: int = 50) -> list[SessionRecord]:
        rows = await self._pool.fetch(
            "SELECT * FROM sessions WHERE learner_id = $1 ORDER BY created_at DESC LIMIT $2",
            uuid.UUID(learner), limit)
        return [_record(r) for r in rows]


def _record(row: asyncpg.Record) -> SessionRecord:
    return SessionRecord(str(row["sid"]), str(row["learner_id"]), row["question_id"],
                         row["question_version"], row["created_at"], row["ended_at"],
                         row["end_reason"])
