"""Optional second-stage ranking: a cross-encoder reads the question with each fused candidate.

A cross-encoder sees query and passage together, so it judges relevance better than the
independent embeddings and BM25 that found the candidates, at the cost of one model call per
pair: only the first ``top_n`` fused candidates are scored. Models load from local files only.
"""

from __future__ import annotations

import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, RagError
from rag.ingest.chunker import indexed_text
from rag.models import Hit

log = logging.getLogger(__name__)

#: fused candidates the cross-encoder scores per search: each costs a full model pass over query and chunk
DEFAULT_TOP_N = 30


class Reranker(ABC):
    """Scores how well each text answers a query; higher is more relevant."""

    name: str

    @abstractmethod
    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, in the order given."""


class CrossEncoderReranker(Reranker):
    """A sentence-transformers cross-encoder loaded from local files only."""

    def __init__(self, name: str, *, device: str = "cpu", batch_size: int = 16) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise in a CLI

        path = Path(name).expanduser()
        source = str(path) if path.is_dir() else name
        try:
            self.model = CrossEncoder(source, device=device, local_files_only=True)
        except (OSError, ValueError, ImportError) as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"reranking model {name!r} is not available on this machine ({first_line}). Set "
                "RAG_RERANK_MODEL to a local cross-encoder folder or a model already in the Hugging Face "
                "cache (nothing is downloaded), or leave it empty to turn reranking off."
            ) from e
        if self.model.num_labels != 1:
            raise ConfigError(
                f"reranking model {name!r} gives {self.model.num_labels} scores per pair; a reranker must give "
                "one relevance score (a cross-encoder trained for ranking, e.g. ms-marco-MiniLM-L6-v2)"
            )
        self.name = name
        self.batch_size = batch_size

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        try:
            scores = self.model.predict(
                [(query, text) for text in texts],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        except (RuntimeError, ValueError) as e:
            raise RagError(f"reranking with {self.name!r} failed: {e}") from e
        return [float(s) for s in np.atleast_1d(scores)]


def load_reranker(name: str, *, device: str = "cpu") -> Reranker | None:
    """The reranker a setting names, or None when the name is empty (reranking off)."""
    name = name.strip()
    if not name:
        return None
    return CrossEncoderReranker(name, device=device)


def rerank_hits(hits: Sequence[Hit], scores: Sequence[float], keep: int) -> list[Hit]:
    """The ``keep`` best hits by reranker score (ties keep their order), each carrying that score.

    ``score`` becomes the reranker's too, as it is now the score the final ranking used.
    """
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores for {len(hits)} hits")
    values = [float(s) for s in scores]
    # NaN compares false with everything and would scramble the sort; rank it last instead.
    order = sorted(range(len(hits)), key=lambda i: -values[i] if not math.isnan(values[i]) else math.inf)
    return [replace(hits[i], score=values[i], rerank_score=values[i]) for i in order[: max(keep, 0)]]


def rerank(
    reranker: Reranker,
    query: str,
    hits: Sequence[Hit],
    k: int,
    *,
    top_n: int = DEFAULT_TOP_N,
    title_header: bool = True,
) -> list[Hit]:
    """The best ``k`` of the first ``top_n`` fused candidates by cross-encoder score.

    When ``k`` exceeds ``top_n`` the unscored candidates fill the remaining places in fused order
    (``rerank_score`` None). ``title_header`` shows the model each chunk under its document's title,
    as the retrievers saw it.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    if k <= 0 or not hits:
        return []
    head = list(hits[:top_n])
    started = time.perf_counter()
    scores = reranker.score(query, [indexed_text(h.chunk, title_header) for h in head])
    elapsed_ms = 1000 * (time.perf_counter() - started)
    log.debug("reranked %d candidates with %s in %.0f ms", len(head), getattr(reranker, "name", "?"), elapsed_ms)
    ranked = rerank_hits(head, scores, k)
    return ranked + list(hits[top_n : top_n + k - len(ranked)])
