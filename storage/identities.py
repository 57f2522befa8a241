"""Identities at OpenID providers, each linked to one local account."""

from __future__ import annotations

import uuid

from storage.db import Pool


class IdentityStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def user_of(self, provider: str, subject: str) -> str | None:
        """The id of the account this identity signs in to, if it is linked."""
        user = await self._pool.fetchval(
            "SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2",
            provider, subject)
        return str(user) if user is not None else None

    async def link(self, provider: str, subject: str, user_id: str) -> str:
        """Link the identity to the account; answers the account it is linked to, which is
        another one when a concurrent sign-in linked it first."""
        await self._pool.execute(
            "INSERT INTO oauth_identities (provider, subject, user_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (provider, subject) DO NOTHING",
            provider, subject, uuid.UUID(user_id))
        linked = await self.user_of(provider, subject)
        assert linked is not None
        return linked
