"""Vectors in pgvector: content (questions, micro-lessons) and learners' mistakes, searched by
cosine distance through HNSW indexes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.db import Pool


def _literal(vector: Sequence[float]) -> str:
    # pgvector reads its text form; no client-side codec needed.
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


# The kinds of content kept as vectors, each with its own HNSW index (migration 0041).
KINDS = ("question", "lesson")


@dataclass(frozen=True)
class ContentVector:
    key: str
    digest: str
    title: str
    vector: Sequence[float]


@dataclass(frozen=True)
class Near:
    key: str
    title: str
    similarity: float


@dataclass(frozen=True)
class PastMistake:
    sid: str
    question_id: str
    kind: str
    summary: str
    created_at: datetime
    similarity: float


class VectorStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def digests(self, kind: str, embedder: str) -> dict[str, str]:
        rows = await self._pool.fetch(
            "SELECT key, digest FROM content_vectors WHERE kind = $1 AND embedder = $2",
            kind, embedder)
        return {r["key"]: r["digest"] for r in rows}

    async def put_content(self, kind: str, embedder: str, items: Sequence[ContentVector],
                          keep: Sequence[str] | None = None) -> None:
        """Store (or replace) vectors; with `keep`, drop this kind's other keys (retired)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO content_vectors (kind, key, embedder, digest, title, embedding)"
                " VALUES ($1, $2, $3, $4, $5, $6::text::vector)"
                " ON CONFLICT (kind, key, embedder) DO UPDATE"
                " SET digest = $4, title = $5, embedding = $6::text::vector",
                [(kind, i.key, embedder, i.digest, i.title, _literal(i.vector)) for i in items])
            if keep is not None:
                await conn.execute(
                    "DELETE FROM content_vectors WHERE kind = $1 AND embedder = $2"
                    " AND NOT (key = ANY($3::text[]))", kind, embedder, list(keep))

    async def nearest(self, kind: str, embedder: str, vector: Sequence[float], limit: int,
                      exclude: Sequence[str] = ()) -> list[Near]:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of content {kind!r}")
        # The kind is written into the statement (one of KINDS, never input) so that the
        # planner can pick that kind's partial HNSW index.
        rows = await self._pool.fetch(
            "SELECT key, title, 1 - (embedding <=> $2::text::vector) AS similarity"
            f" FROM content_vectors WHERE kind = '{kind}' AND embedder = $1"
            " AND NOT (key = ANY($3::text[]))"
            " ORDER BY embedding <=> $2::text::vector LIMIT $4",
            embedder, _literal(vector), list(exclude), limit)
        return [Near(r["key"], r["title"], float(r["similarity"])) for r in rows]

    async def nearest_to_key(self, kind: str, embedder: str, key: str,
                             limit: int) -> list[Near] | None:
        """The items nearest the stored item `key` (itself left out); None if not stored."""
        row = await self._pool.fetchrow(
            "SELECT embedding::real[] AS v FROM content_vectors"
            " WHERE kind = $1 AND embedder = $2 AND key = $3", kind, embedder, key)
        if row is None:
            return None
        return await self.nearest(kind, embedder, row["v"], limit, exclude=[key])

    async def add_mistakes(self, learner: str, sid: str, question_id: str, embedder: str,
                           mistakes: Sequence[tuple[str, str, Sequence[float]]]) -> None:
        """(kind, summary, vector) of each mistake made in one session."""
        await self._pool.executemany(
            "INSERT INTO mistakes (learner_id, sid, question_id, kind, summary, embedder,"
            " embedding) VALUES ($1, $2, $3, $4, $5, $6, $7::text::vector)",
            [(uuid.UUID(learner), uuid.UUID(sid), question_id, kind, summary, embedder,
              _literal(vector)) for kind, summary, vector in mistakes])

    async def similar_mistakes(self, learner: str, embedder: str, vector: Sequence[float],
                               limit: int, exclude_sid: str | None = None) -> list[PastMistake]:
        rows = await self._pool.fetch(
            "SELECT sid, question_id, kind, summary, created_at,"
            " 1 - (embedding <=> $3::text::vector) AS similarity FROM mistakes"
            " WHERE learner_id = $1 AND embedder = $2 AND sid IS DISTINCT FROM $4"
            " ORDER BY embedding <=> $3::text::vector LIMIT $5",
            uuid.UUID(learner), embedder, _literal(vector),
            uuid.UUID(exclude_sid) if exclude_sid else None, limit)
        return [PastMistake(str(r["sid"]), r["question_id"], r["kind"], r["summary"],
                            r["created_at"], float(r["similarity"])) for r in rows]

    async def mistakes_of(self, learner: str) -> list[PastMistake]:
        """A learner's remembered mistakes, oldest first (similarity 1: not a search)."""
        rows = await self._pool.fetch(
            "SELECT sid, question_id, kind, summary, created_at FROM mistakes"
            " WHERE learner_id = $1 ORDER BY created_at, id", uuid.UUID(learner))
        return [PastMistake(str(r["sid"]), r["question_id"], r["kind"], r["summary"],
                            r["created_at"], 1.0) for r in rows]
