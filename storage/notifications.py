"""In-app notifications: kept until read, and announced to every node through Postgres
LISTEN/NOTIFY in the same transaction, so a node pushes only what was committed."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage import listening
from storage.db import Pool

log = logging.getLogger("wingman.storage")
CHANNEL = "wingman_notification"


@dataclass(frozen=True)
class Notification:
    id: int
    user: str
    kind: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "data": self.data,
                "created_at": self.created_at.isoformat(),
                "read_at": self.read_at.isoformat() if self.read_at else None}


class NotificationStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def add(self, user: str, kind: str, data: dict[str, Any]) -> Notification:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO notifications (user_id, kind, data) VALUES ($1, $2, $3)"
                " RETURNING *", uuid.UUID(user), kind, data)
            assert row is not None
            note = _notification(row)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL,
                               json.dumps({"user": user, **note.as_json()}))
        return note

    async def of_user(self, user: str, unread_only: bool = False,
                      limit: int = 50) -> list[Notification]:
        rows = await self._pool.fetch(
            "SELECT * FROM notifications WHERE user_id = $1"
            + (" AND read_at IS NULL" if unread_only else "")
            + " ORDER BY id DESC LIMIT $2", uuid.UUID(user), limit)
        return [_notification(r) for r in rows]

    async def unread(self, user: str) -> int:
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
            uuid.UUID(user))
        return count

    async def mark_read(self, user: str, ids: list[int] | None) -> int:
        """Marks the given ones (None: all) of the user's notifications read; how many."""
        done = await self._pool.execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL"
            " AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[]))", uuid.UUID(user), ids)
        return int(done.split()[-1])

    async def listen(self, arrived: Callable[[str, dict[str, Any]], None]) -> None:
        """Call `arrived(user, notification)` for every notification any node adds."""

        def announced(payload: str) -> None:
            try:
                body = json.loads(payload)
                user = body.pop("user")
            except (ValueError, KeyError, AttributeError):
                log.warning("ignored a malformed notification announcement")
                return
            arrived(str(user), body)

        await listening.listen(self._pool, CHANNEL, "notification", announced)


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(row["id"], str(row["user_id"]), row["kind"], row["data"],
                        row["created_at"], row["read_at"])
