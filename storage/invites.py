"""Mentor invitations: a learner asks a mentor to watch one session; the mentor accepts; either
may revoke. An open invitation is one not revoked; an accepted one lets the mentor observe."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.db import Pool, as_uuid


@dataclass(frozen=True)
class Invite:
    id: str
    sid: str
    question_id: str
    learner: str
    mentor: str
    invisible: bool
    created_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @property
    def open(self) -> bool:
        return self.revoked_at is None

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None and self.revoked_at is None


class TooManyInvites(Exception):
    pass


class AlreadyInvited(Exception):
    pass


class InviteStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def add(self, sid: str, question_id: str, learner: str, mentor: str, invisible: bool,
                  most: int) -> Invite:
        """A new open invitation; at most `most` open ones per session, one per mentor."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises invitations to one session, so two at once cannot both take the last place.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", sid)
            count = await conn.fetchval(
                "SELECT count(*) FROM mentor_invites WHERE sid = $1 AND revoked_at IS NULL",
                uuid.UUID(sid))
            if count >= most:
                raise TooManyInvites()
            row = await conn.fetchrow(
                "INSERT INTO mentor_invites (id, sid, question_id, learner_id, mentor_id,"
                " invisible) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (sid, mentor_id) WHERE revoked_at IS NULL DO NOTHING RETURNING *",
                uuid.uuid4(), uuid.UUID(sid), question_id, uuid.UUID(learner),
                uuid.UUID(mentor), invisible)
        if row is None:
            raise AlreadyInvited()
        return _invite(row)

    async def get(self, invite_id: str) -> Invite | None:
        key = as_uuid(invite_id)
        row = await self._pool.fetchrow("SELECT * FROM mentor_invites WHERE id = $1", key) \
            if key else None
        return _invite(row) if row else None

    async def accept(self, invite_id: str) -> Invite | None:
        """Marks an open invitation accepted (once); None when it is not open."""
        row = await self._pool.fetchrow(
            "UPDATE mentor_invites SET accepted_at = coalesce(accepted_at, now())"
            " WHERE id = $1 AND revoked_at IS NULL RETURNING *", uuid.UUID(invite_id))
        return _invite(row) if row else None

    async def revoke(self, invite_id: str) -> Invite | None:
        """Revokes an invitation (once); None when there is no such invitation."""
        row = await self._pool.fetchrow(
            "UPDATE mentor_invites SET revoked_at = coalesce(revoked_at, now())"
            " WHERE id = $1 RETURNING *", uuid.UUID(invite_id))
        return _invite(row) if row else None

    async def accepted(self, sid: str, mentor: str) -> Invite | None:
        """The mentor's accepted, open invitation to the session, if there is one."""
        key, who = as_uuid(sid), as_uuid(mentor)
        if key is None or who is None:
            return None
        row = await self._pool.fetchrow(
            "SELECT * FROM mentor_invites WHERE sid = $1 AND mentor_id = $2"
            " AND revoked_at IS NULL AND accepted_at IS NOT NULL", key, who)
        return _invite(row) if row else None

    async def of_mentor(self, mentor: str, limit: int = 100) -> list[Invite]:
        rows = await self._pool.fetch(
            "SELECT * FROM mentor_invites WHERE mentor_id = $1 AND revoked_at IS NULL"
            " ORDER BY created_at DESC LIMIT $2", uuid.UUID(mentor), limit)
        return [_invite(r) for r in rows]

    async def of_session(self, sid: str, learner: str) -> list[Invite]:
        """The open invitations the learner sent for one of their sessions."""
        key = as_uuid(sid)
        if key is None:
            return []
        rows = await self._pool.fetch(
            "SELECT * FROM mentor_invites WHERE sid = $1 AND learner_id = $2"
            " AND revoked_at IS NULL ORDER BY created_at", key, uuid.UUID(learner))
        return [_invite(r) for r in rows]


def _invite(row: asyncpg.Record) -> Invite:
    return Invite(str(row["id"]), str(row["sid"]), row["question_id"], str(row["learner_id"]),
                  str(row["mentor_id"]), row["invisible"], row["created_at"],
                  row["accepted_at"], row["revoked_at"])
