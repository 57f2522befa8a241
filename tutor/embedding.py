"""Texts as vectors, so that similar questions, lessons and mistakes can be found by distance.

The default embedder needs no model: words, word pairs and character n-grams are hashed into a
fixed number of signed buckets (the hashing trick), weighted, and scaled to unit length."""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

# pgvector columns are declared with this many dimensions; every embedder must produce it.
DIMENSION = 384

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|[a-z]+|\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words that say nothing about a topic; they would only pull unrelated texts together.
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "each", "every",
    "for", "from", "has", "have", "how", "if", "in", "into", "is", "it", "its", "list", "not",
    "of", "on", "one", "or", "return", "returns", "so", "than", "that", "the", "their", "then",
    "there", "these", "this", "to", "was", "what", "when", "where", "which", "while", "who", "why",
    "will", "with", "you", "your",
    # The language a question is set in says nothing about its topic.
    "python", "javascript", "js",
})


class Embedder(Protocol):
    """Turns texts into unit vectors of `DIMENSION` numbers; similar texts lie close."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def terms(text: str) -> list[str]:
    """The words of a text, lower case: identifiers split at underscores and case changes
    (`KeyError` gives `key`, `error` and `keyerror`), stop words left out."""
    out: list[str] = []
    for ident in _IDENT.findall(text):
        parts = [p.lower() for piece in ident.split("_") for p in _WORD.findall(piece)]
        whole = ident.replace("_", "").lower()
        if len(parts) > 1 and whole not in _STOP:
            out.append(whole)
        out.extend(p for p in parts if p not in _STOP and len(p) > 1)
    for number in re.findall(r"(?<![A-Za-z_])\d+", text):
        out.append(number)
    return out


@functools.lru_cache(maxsize=1 << 17)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    """The bucket and sign of a feature: a stable hash (not Python's, which is salted per
    process), so every node and every run gives a text the same vector."""
    code = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return code % dimension, 1.0 if code >> 63 else -1.0


@functools.lru_cache(maxsize=1 << 15)
def _grams(word: str, sizes: tuple[int, ...]) -> tuple[tuple[str, float], ...]:
    """A word's character n-grams (with its edges marked), each with its share of the word."""
    padded = f"<{word}>"
    return tuple((f"c{n}:" + padded[i:i + n], 1.0 / max(1, len(padded) - n + 1))
                 for n in sizes for i in range(len(padded) - n + 1))


class HashedEmbedder:
    """Words, word pairs and character n-grams hashed into signed buckets: deterministic,
    instant, and good at "these texts share vocabulary" (not at synonyms)."""

    name = "hashed"

    def __init__(self, dimension: int = DIMENSION, ngrams: tuple[int, ...] = (3, 4),
                 word_weight: float = 1.0, pair_weight: float = 0.5,
                 ngram_weight: float = 0.25) -> None:
        if dimension < 8:
            raise ValueError("dimension must be at least 8")
        self.dimension = dimension
        self.ngrams = ngrams
        self.weights = (word_weight, pair_weight, ngram_weight)

    def features(self, text: str) -> dict[str, float]:
        """Each feature with its weight: sublinear in how often it occurs."""
        words = terms(text)
        counts: dict[str, float] = {}

        def add(key: str, weight: float) -> None:
            counts[key] = counts.get(key, 0.0) + weight

        word_w, pair_w, gram_w = self.weights
        for word in words:
            add("w:" + word, word_w)
            for gram, share in _grams(word, self.ngrams):
                add(gram, gram_w * share)
        for first, second in itertools.pairwise(words):
            add(f"p:{first} {second}", pair_w)
        # A word said ten times is not ten times as telling.
        return {k: (1.0 + math.log(v)) if v >= 1.0 else v for k, v in counts.items()}

    def vector(self, text: str) -> list[float]:
        out = [0.0] * self.dimension
        for feature, weight in self.features(text).items():
            index, sign = _bucket(feature, self.dimension)
            out[index] += sign * weight
        norm = math.sqrt(sum(x * x for x in out))
        return [x / norm for x in out] if norm > 0 else out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]


def blend(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """The weighted sum of unit vectors, scaled back to unit length: one vector for a text made
    of parts that matter unequally (a question's topics more than its wording)."""
    if len(vectors) != len(weights) or not vectors:
        raise ValueError("need one weight per vector, and at least one vector")
    total = np.zeros(len(vectors[0]), dtype=np.float64)
    for vector, weight in zip(vectors, weights, strict=True):
        total += weight * np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(total))
    return (total / norm).tolist() if norm > 0 else total.tolist()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    return 0.0 if na == 0 or nb == 0 else float(va @ vb / (na * nb))
