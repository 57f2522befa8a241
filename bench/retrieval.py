"""Retrieval, measured: how fast an embedder turns texts into vectors, how well it finds
questions on the same topic, and how long pgvector's HNSW searches take, and how much they miss
next to an exact scan, as the tables grow.

    .venv/bin/python bench/retrieval.py [--embedder hashed|semantic] [--rows 20000]

Needs Postgres with pgvector (embedded through pgserver unless DATABASE_URL is set).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.bank import shipped_questions
from server.embedders import EmbedderName, open_embedder
from storage.db import Pool, open_pool
from storage.migrate import migrate
from storage.vectors import ContentVector, VectorStore
from tests.components import postgres_url
from tutor.embedding import Embedder, blend, cosine
from tutor.retrieval import digest, lesson_parts, parts_text, question_parts


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def vector(embedder: Embedder, parts: list[tuple[str, float]]) -> list[float]:
    return blend(embedder.embed([t for t, _ in parts]), [w for _, w in parts])


def topic_precision(embedder: Embedder, k: int = 3) -> float:
    """For each question, the share of its k nearest that share its first tag (its topic)."""
    questions = shipped_questions()
    vectors = {q.id: vector(embedder, question_parts(q)) for q in questions}
    tags = {q.id: q.tags for q in questions}
    scores = []
    for q in questions:
        if sum(q.tags[0] in tags[o] for o in tags if o != q.id) < k:
            continue  # too few questions on this topic to fill k places
        nearest = sorted((o for o in vectors if o != q.id),
                         key=lambda o: -cosine(vectors[q.id], vectors[o]))[:k]
        scores.append(sum(q.tags[0] in tags[o] for o in nearest) / k)
    return statistics.mean(scores)


WORDS = (
    "array", "pointer", "window", "dictionary", "key", "heap", "stack", "queue", "tree", "graph",
    "node", "edge", "sort", "search", "binary", "prefix", "sum", "interval", "merge", "count",
    "string", "char", "index", "loop", "recursion", "memo", "table", "grid", "path", "depth",
    "breadth", "cycle", "order", "greedy", "swap", "left", "right", "middle", "bound",
)


def noise_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))


async def search_times(pool: Pool, kind: str, name: str, queries: list[list[float]],
                       exact: bool) -> tuple[list[float], list[list[str]]]:
    store = VectorStore(pool)
    times, found = [], []
    async with pool.acquire() as conn:
        # An exact scan for reference: the planner may not use the HNSW index.
        await conn.execute(f"SET enable_indexscan = {'off' if exact else 'on'}")
        await conn.execute("SET hnsw.ef_search = 40")
    for q in queries:
        began = time.perf_counter()
        near = await store.nearest(kind, name, q, 5)
        times.append((time.perf_counter() - began) * 1000)
        found.append([n.key for n in near])
    return times, found


async def main(args: argparse.Namespace) -> None:
    embedder = open_embedder(EmbedderName(args.embedder))
    questions = shipped_questions()
    texts = [parts_text(lesson_parts(q)) for q in questions] * 10
    began = time.perf_counter()
    embedder.embed(texts)
    per_second = len(texts) / (time.perf_counter() - began)
    print(f"embedder {embedder.name}: {per_second:,.0f} lesson-sized texts/s on one core")
    print(f"topic precision@3 over the bank ({len(questions)} questions): "
          f"{topic_precision(embedder):.2f}")

    # One connection, so that the session settings below apply to every search.
    pool = await open_pool(postgres_url(Path(tempfile.mkdtemp(prefix="wingman-bench-"))),
                           max_size=1)
    try:
        await migrate(pool)
        store = VectorStore(pool)
        # The bench's rows go under an embedder name of their own, removed at the end.
        kind, name = "lesson", f"bench-{uuid.uuid4().hex[:8]}"
        rng = random.Random(7)
        rows = [ContentVector(f"n{i}", digest(str(i)), "noise", v) for i, v in enumerate(
            embedder.embed([noise_text(rng) for _ in range(args.rows)]))]
        rows += [ContentVector(q.id, "", q.title, vector(embedder, lesson_parts(q)))
                 for q in questions]
        began = time.perf_counter()
        for start in range(0, len(rows), 1000):
            await store.put_content(kind, name, rows[start:start + 1000])
        print(f"stored {len(rows):,} vectors with their HNSW index in "
              f"{time.perf_counter() - began:.1f} s")
        queries = embedder.embed([noise_text(rng) for _ in range(args.queries)])
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE content_vectors")
        fast, fast_found = await search_times(pool, kind, name, queries, False)
        slow, slow_found = await search_times(pool, kind, name, queries, True)
        recall = statistics.mean(len(set(a) & set(b)) / 5
                                 for a, b in zip(fast_found, slow_found, strict=True))
        print(f"nearest 5 of {len(rows):,}: HNSW p50 {pct(fast, 50):.2f} ms, "
              f"p99 {pct(fast, 99):.2f} ms; exact scan p50 {pct(slow, 50):.2f} ms, "
              f"p99 {pct(slow, 99):.2f} ms; HNSW recall@5 against exact {recall:.3f}")
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM content_vectors WHERE embedder = $1", name)
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=[e.value for e in EmbedderName], default="hashed")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    anyio.run(main, parser.parse_args())
