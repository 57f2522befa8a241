"""The question bank in Postgres: each version of a question as the JSON its author wrote, and
its state (draft, published or retired). A version's body never changes once written."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

import asyncpg

from storage.db import Pool

log = logging.getLogger("wingman.storage")

# A connection as the pool lends it.
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


class State(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


@dataclass(frozen=True)
class VersionRow:
    id: str
    version: int
    state: State
    title: str
    language: str
    difficulty: str
    tags: list[str]
    changed_at: datetime
    body: dict[str, Any] | None = None


class QuestionExists(Exception):
    """A new question was given an id that is already taken."""


class VersionConflict(Exception):
    """An imported version exists with other content (a new version number is needed)."""

    def __init__(self, question_id: str, version: int) -> None:
        super().__init__(f"{question_id} version {version} exists with other content")
        self.question_id = question_id
        self.version = version


@dataclass(frozen=True)
class Imported:
    added: int
    unchanged: int
    states_changed: int


_COLUMNS = "id, version, state, title, language, difficulty, tags, changed_at"


class QuestionStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def load(self, bodies: list[dict[str, Any]]) -> int:
        """Publish shipped versions newer than any stored version of their question; a question
        an admin has already taken further (or retired) is left as it is."""
        added = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for body in bodies:
                await _lock(conn, body["id"])
                newest = await conn.fetchval(
                    "SELECT max(version) FROM questions WHERE id = $1", body["id"])
                if newest is not None and newest >= body["version"]:
                    if await conn.fetchval(
                            # Contained, not equal: fields added since, with defaults, differ not.
                            "SELECT NOT ($3::jsonb @> body) FROM questions WHERE id = $1"
                            " AND version = $2", body["id"], body["version"], body):
                        # Versions never change: the shipped file needs a version above.
                        log.warning("shipped question %s version %d differs from the stored "
                                    "one and is not loaded", body["id"], body["version"])
                    continue
                await _retire_published(conn, body["id"], None)
                await _insert(conn, body, State.PUBLISHED, None)
                added += 1
        return added

    async def offered(self) -> dict[str, int]:
        """The published version of each question: what new sessions get."""
        rows = await self._pool.fetch("SELECT id, version FROM questions WHERE state = 'published'")
        return {r["id"]: r["version"] for r in rows}

    async def bodies(self, wanted: list[tuple[str, int]]) -> list[dict[str, Any]]:
        if not wanted:
            return []
        rows = await self._pool.fetch(
            "SELECT q.body FROM questions q"
            " JOIN unnest($1::text[], $2::int[]) AS w(id, version)"
            " ON q.id = w.id AND q.version = w.version",
            [w[0] for w in wanted], [w[1] for w in wanted])
        return [r["body"] for r in rows]

    async def listing(self) -> list[VersionRow]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM questions ORDER BY id, version")
        return [_row(r) for r in rows]

    async def versions(self, question_id: str) -> list[VersionRow]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS}, body FROM questions WHERE id = $1 ORDER BY version",
            question_id)
        return [_row(r) for r in rows]

    async def create(self, body: dict[str, Any], by: str) -> int:
        """A new question as version 1, a draft."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, body["id"])
            if await conn.fetchval("SELECT 1 FROM questions WHERE id = $1", body["id"]):
                raise QuestionExists(body["id"])
            await _insert(conn, {**body, "version": 1}, State.DRAFT, by)
        return 1

    async def edit(self, body: dict[str, Any], by: str) -> int | None:
        """The edit as a new draft version above every stored one; None for no such question."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, body["id"])
            newest = await conn.fetchval(
                "SELECT max(version) FROM questions WHERE id = $1", body["id"])
            if newest is None:
                return None
            await _insert(conn, {**body, "version": newest + 1}, State.DRAFT, by)
        return int(newest + 1)

    async def set_state(self, question_id: str, version: int, state: State, by: str) -> bool:
        """Publishing a version retires the one published before it; False for no such version."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, question_id)
            if state is State.PUBLISHED:
                await _retire_published(conn, question_id, version)
            done = await conn.execute(
                "UPDATE questions SET state = $3, changed_at = now(), changed_by = $4"
                " WHERE id = $1 AND version = $2", question_id, version, state.value,
                _user(by))
        return done != "UPDATE 0"

    async def everything(self) -> list[tuple[State, dict[str, Any]]]:
        rows = await self._pool.fetch("SELECT state, body FROM questions ORDER BY id, version")
        return [(State(r["state"]), r["body"]) for r in rows]

    async def import_(self, entries: list[tuple[State, dict[str, Any]]], by: str | None,
                      same: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None
                      ) -> Imported:
        """Add the versions not stored yet and take over the states given; all or nothing.
        A stored version with other content is a conflict: versions never change. `same` says
        whether two bodies are one question (a body stored before a field with a default was
        added is); without it, bodies must be equal."""
        alike = same or (lambda a, b: a == b)
        added = unchanged = moved = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for state, body in entries:
                await _lock(conn, body["id"])
                stored = await conn.fetchrow(
                    "SELECT body, state FROM questions WHERE id = $1 AND version = $2",
                    body["id"], body["version"])
                if stored is None:
                    await _insert(conn, body, State.DRAFT, by)
                    added += 1
                elif not alike(stored["body"], body):
                    raise VersionConflict(body["id"], body["version"])
                else:
                    unchanged += 1
                if stored is None or stored["state"] != state.value:
                    if state is State.PUBLISHED:
                        await _retire_published(conn, body["id"], body["version"])
                    await conn.execute(
                        "UPDATE questions SET state = $3, changed_at = now(), changed_by = $4"
                        " WHERE id = $1 AND version = $2", body["id"], body["version"],
                        state.value, _user(by))
                    moved += stored is not None
        return Imported(added, unchanged, moved)


async def _lock(conn: Conn, question_id: str) -> None:
    # One writer per question at a time, so version numbers and the one published never race.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('question:' || $1))", question_id)


async def _retire_published(conn: Conn, question_id: str,
                            but: int | None) -> None:
    await conn.execute(
        "UPDATE questions SET state = 'retired', changed_at = now()"
        " WHERE id = $1 AND state = 'published' AND version IS DISTINCT FROM $2",
        question_id, but)


async def _insert(conn: Conn, body: dict[str, Any], state: State,
                  by: str | None) -> None:
    await conn.execute(
        "INSERT INTO questions (id, version, title, language, difficulty, tags, body, state,"
        " changed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        body["id"], body["version"], body["title"], body["language"], body["difficulty"],
        body["tags"], body, state.value, _user(by))


def _user(by: str | None) -> uuid.UUID | None:
    return uuid.UUID(by) if by else None


def _row(r: asyncpg.Record) -> VersionRow:
    return VersionRow(r["id"], r["version"], State(r["state"]), r["title"], r["language"],
                      r["difficulty"], list(r["tags"]), r["changed_at"],
                      r.get("body"))
