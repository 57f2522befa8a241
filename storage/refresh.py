"""Refresh tokens: stored only as hashes, rotated on every use, in families so that a stolen
token used after its owner rotated it revokes the whole family (OAuth 2.0 Security BCP)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Pool


class RefreshRefused(Exception):
    """The presented refresh token cannot be used; `reused` when that revoked its family."""

    def __init__(self, reason: str, reused: bool = False) -> None:
        super().__init__(reason)
        self.reused = reused


@dataclass(frozen=True)
class SignIn:
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Rotation:
    user: str
    token: str
    expires_at: datetime


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class RefreshTokenStore:
    def __init__(self, pool: Pool, lifetime: timedelta, grace: timedelta) -> None:
        self._pool = pool
        self._lifetime = lifetime
        # A client whose refresh answer was lost may retry with the same token for this long.
        self._grace = grace

    async def issue(self, user: str) -> Rotation:
        token, expires = secrets.token_urlsafe(32), datetime.now(UTC) + self._lifetime
        await self._pool.execute(
            "INSERT INTO refresh_tokens (id, user_id, family, token_hash, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(), uuid.UUID(user), uuid.uuid4(), _hash(token), expires)
        return Rotation(user, token, expires)

    async def rotate(self, presented: str) -> Rotation:
        now = datetime.now(UTC)
        reused = False
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE", _hash(presented))
            if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
                raise RefreshRefused("unknown, expired or revoked refresh token")
            if row["used_at"] is not None:
                child = await conn.fetchrow(
                    "SELECT * FROM refresh_tokens WHERE id = $1 FOR UPDATE", row["replaced_by"])
                retry = (now - row["used_at"] <= self._grace and child is not None
                         and child["used_at"] is None and child["revoked_at"] is None)
                if retry and child is not None:
                    # The first answer never arrived: its token is replaced by this one.
                    await conn.execute(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE id = $1", child["id"], now)
                else:
                    await conn.execute(
                        "UPDATE refresh_tokens SET revoked_at = $2"
                        " WHERE family = $1 AND revoked_at IS NULL", row["family"], now)
                    reused = True
            if not reused:
                token, child_id = secrets.token_urlsafe(32), uuid.uuid4()
                expires = now + self._lifetime
                await conn.execute(
                    "INSERT INTO refresh_tokens (id, user_id, family, token_hash, expires_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    child_id, row["user_id"], row["family"], _hash(token), expires)
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = $2, replaced_by = $3 WHERE id = $1",
                    row["id"], now, child_id)
        if reused:
            raise RefreshRefused("refresh token reused: every session of it is signed out",
                                 reused=True)
        return Rotation(str(row["user_id"]), token, expires)

    async def revoke_family(self, presented: str) -> str | None:
        """Sign out the session the token belongs to; its user, if the token was known."""
        row = await self._pool.fetchrow(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family ="
            " (SELECT family FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL"
            " RETURNING user_id", _hash(presented))
        return str(row["user_id"]) if row else None

    async def of_user(self, user: str) -> list[SignIn]:
        rows = await self._pool.fetch(
            "SELECT created_at, expires_at, revoked_at FROM refresh_tokens WHERE user_id = $1"
            " ORDER BY created_at", uuid.UUID(user))
        return [SignIn(r["created_at"], r["expires_at"], r["revoked_at"]) for r in rows]

    async def revoke_user(self, user: str) -> None:
        await self._pool.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1"
            " AND revoked_at IS NULL", uuid.UUID(user))
