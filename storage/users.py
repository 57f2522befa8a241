"""Accounts: who someone is, how they prove it, what they may do, and what they consented to.
Email and name are stored only sealed (storage/pii.py); an email is found by its keyed hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from storage.db import Pool, as_uuid
from storage.pii import PiiSealer, normalised_email

# The associated data of each sealed column: a value sealed for one does not open as the other.
EMAIL = "users.email"
NAME = "users.name"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    roles: tuple[str, ...]
    consent: bool
    password_hash: str | None
    # Whether mail sent to the address reached its owner (a verify link, a password reset).
    email_verified: bool = False


class EmailTaken(Exception):
    pass


class UserStore:
    def __init__(self, pool: Pool, sealer: PiiSealer) -> None:
        self._pool = pool
        self._sealer = sealer

    async def add(self, email: str, name: str, password_hash: str | None, roles: list[str],
                  consent: bool, email_verified: bool = False) -> User:
        """A new account; one made from a provider's sign-in has no password and an email the
        provider verified."""
        email = normalised_email(email)
        try:
            row = await self._pool.fetchrow(
                "INSERT INTO users (id, email_lookup, email_sealed, name_sealed, password_hash,"
                " roles, consent, email_verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " RETURNING *",
                uuid.uuid4(), self._sealer.lookup(email), self._sealer.seal(email, EMAIL),
                self._sealer.seal(name, NAME), password_hash, roles, consent, email_verified)
        except asyncpg.UniqueViolationError:
            raise EmailTaken() from None
        assert row is not None
        return self._user(row)

    async def by_email(self, email: str) -> User | None:
        row = await self._pool.fetchrow("SELECT * FROM users WHERE email_lookup = $1",
                                        self._sealer.lookup(email))
        return self._user(row) if row else None

    async def by_id(self, user_id: str) -> User | None:
        key = as_uuid(user_id)
        row = await self._pool.fetchrow("SELECT * FROM users WHERE id = $1", key) if key else None
        return self._user(row) if row else None

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._pool.execute("UPDATE users SET password_hash = $2 WHERE id = $1",
                                 uuid.UUID(user_id), password_hash)

    async def set_name(self, user_id: str, name: str) -> None:
        await self._pool.execute("UPDATE users SET name_sealed = $2, name = NULL WHERE id = $1",
                                 uuid.UUID(user_id), self._sealer.seal(name, NAME))

    async def set_roles(self, user_id: str, roles: list[str]) -> None:
        await self._pool.execute("UPDATE users SET roles = $2 WHERE id = $1",
                                 uuid.UUID(user_id), roles)

    async def set_consent(self, user_id: str, consent: bool) -> None:
        await self._pool.execute("UPDATE users SET consent = $2 WHERE id = $1",
                                 uuid.UUID(user_id), consent)

    async def mark_email_verified(self, user_id: str) -> None:
        await self._pool.execute("UPDATE users SET email_verified = true WHERE id = $1",
                                 uuid.UUID(user_id))

    def _user(self, row: asyncpg.Record) -> User:
        return User(str(row["id"]), self._open(row, "email", EMAIL),
                    self._open(row, "name", NAME), tuple(row["roles"]), row["consent"],
                    row["password_hash"], row["email_verified"])

    def _open(self, row: asyncpg.Record, plain: str, column: str) -> str:
        sealed = row[plain + "_sealed"]
        # A row the start-up sealing had to leave (a duplicate email) still has plaintext.
        return self._sealer.open(sealed, column) if sealed is not None else str(row[plain] or "")
