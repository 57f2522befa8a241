"""The question bank in Postgres: each version of a question as the JSON its author wrote."""

from __future__ import annotations

from typing import Any

from storage.db import Pool


class QuestionStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def load(self, bodies: list[dict[str, Any]]) -> int:
        """Insert versions not yet stored; an existing (id, version) is left as it is."""
        rows = [(b["id"], b["version"], b["title"], b["language"], b["difficulty"], b["tags"], b)
                for b in bodies]
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval("SELECT count(*) FROM questions")
            await conn.executemany(
                "INSERT INTO questions (id, version, title, language, difficulty, tags, body)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id, version) DO NOTHING",
                rows)
            after = await conn.fetchval("SELECT count(*) FROM questions")
        return int(after - before)

    async def published(self) -> list[dict[str, Any]]:
        """The newest published version of each question."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT ON (id) body FROM questions WHERE published"
            " ORDER BY id, version DESC")
        return [r["body"] for r in rows]
