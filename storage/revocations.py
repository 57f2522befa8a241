"""Signing a user out everywhere: their older access tokens stop counting, and every node is told
at once through Postgres LISTEN/NOTIFY so it can close their sockets."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from storage import listening
from storage.db import Pool, as_uuid

CHANNEL = "wingman_user_revoked"


class NoSuchUser(Exception):
    pass


class Revocations:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def revoke(self, user: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE users SET tokens_valid_after = now() WHERE id = $1",
                               uuid.UUID(user))
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, user)

    async def valid_after(self, user: str) -> datetime | None:
        """When the user's tokens start counting (None: all of them do)."""
        key = as_uuid(user)
        row = await self._pool.fetchrow(
            "SELECT tokens_valid_after FROM users WHERE id = $1", key) if key else None
        if row is None:
            raise NoSuchUser(user)
        value: datetime | None = row["tokens_valid_after"]
        return value

    async def listen(self, revoked: Callable[[str], None]) -> None:
        """Call `revoked(user)` for every revocation any node makes, until cancelled."""
        await listening.listen(self._pool, CHANNEL, "revocation", revoked)
