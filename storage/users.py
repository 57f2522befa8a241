"""Accounts: who someone is, how they prove it, what they may do, and what they consented to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from storage.db import Pool, as_uuid


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    roles: tuple[str, ...]
    consent: bool
    password_hash: str | None


class EmailTaken(Exception):
    pass


def _user(row: asyncpg.Record) -> User:
    return User(str(row["id"]), row["email"], row["name"], tuple(row["roles"]), row["consent"],
                row["password_hash"])


class UserStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def add(self, email: str, name: str, password_hash: str, roles: list[str],
                  consent: bool) -> User:
        try:
            row = await self._pool.fetchrow(
                "INSERT INTO users (id, email, name, password_hash, roles, consent)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                uuid.uuid4(), email.strip().lower(), name, password_hash, roles, consent)
        except asyncpg.UniqueViolationError:
            raise EmailTaken(email) from None
        assert row is not None
        return _user(row)

    async def by_email(self, email: str) -> User | None:
        row = await self._pool.fetchrow("SELECT * FROM users WHERE email = $1",
                                        email.strip().lower())
        return _user(row) if row else None

    async def by_id(self, user_id: str) -> User | None:
        key = as_uuid(user_id)
        row = await self._pool.fetchrow("SELECT * FROM users WHERE id = $1", key) if key else None
        return _user(row) if row else None

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._pool.execute("UPDATE users SET password_hash = $2 WHERE id = $1",
                                 uuid.UUID(user_id), password_hash)

    async def set_roles(self, user_id: str, roles: list[str]) -> None:
        await self._pool.execute("UPDATE users SET roles = $2 WHERE id = $1",
                                 uuid.UUID(user_id), roles)
