"""One-time tokens mailed to an account: to verify its address or reset its password. Only their
SHA-256 hashes are stored; each can be used once, before it expires."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from storage.db import Pool


class Purpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"


class TokenRefused(Exception):
    """The presented token cannot be used: unknown (or for another purpose), used or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# An expired token is still told apart from an unknown one for this long.
_KEPT_AFTER_EXPIRY = timedelta(days=7)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class EmailTokenStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def issue(self, user: str, purpose: Purpose, lifetime: timedelta) -> str:
        token, now = secrets.token_urlsafe(32), datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's long-dead tokens go here, so the table never grows without bound.
            await conn.execute(
                "DELETE FROM email_tokens WHERE user_id = $1 AND expires_at < $2",
                uuid.UUID(user), now - _KEPT_AFTER_EXPIRY)
            await conn.execute(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                _hash(token), uuid.UUID(user), purpose.value, now + lifetime)
        return token

    async def use(self, presented: str, purpose: Purpose) -> str:
        """Spend the token once; its user. Raises TokenRefused saying why it cannot be."""
        hashed = _hash(presented)
        row = await self._pool.fetchrow(
            "UPDATE email_tokens SET used_at = now() WHERE token_hash = $1 AND purpose = $2"
            " AND used_at IS NULL AND expires_at > now() RETURNING user_id",
            hashed, purpose.value)
        if row is not None:
            return str(row["user_id"])
        why = await self._pool.fetchrow(
            "SELECT used_at FROM email_tokens"
            " WHERE token_hash = $1 AND purpose = $2", hashed, purpose.value)
        if why is None:
            raise TokenRefused("unknown")
        raise TokenRefused("used" if why["used_at"] is not None else "expired")

    async def spend_all(self, user: str, purpose: Purpose) -> None:
        """Older links of the same kind stop working once one of them did its job."""
        await self._pool.execute(
            "UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2"
            " AND used_at IS NULL", uuid.UUID(user), purpose.value)
