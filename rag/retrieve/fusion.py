"""Rank fusion of retrievers' ranked lists (reciprocal-rank fusion), pure functions."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.index.textnorm import years
from rag.models import Chunk, Hit

log = logging.getLogger(__name__)

#: The constant from Cormack et al. (2009); it damps the weight of the very first ranks.
RRF_K = 60


def rrf(
    rankings: Sequence[Sequence[str]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: ``score(id) = sum_i weights[i] / (k + rank_i(id))``, best first.

    Ranks are 1-based positions in each list; an id repeated within one list counts once, at
    its first position. Equal scores are ordered by the best rank the id had in any list, then
    by id, so the result never depends on dict or input-list order.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be >= 0, got {list(weights)}")
    parts: dict[str, list[float]] = {}
    best: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, 1):
            if item in seen:
                continue
            seen.add(item)
            parts.setdefault(item, []).append(weight / (k + rank))
            best[item] = min(best.get(item, rank), rank)
    # fsum is exactly rounded, so the same ranks in another list order give bit-identical scores.
    fused = {item: math.fsum(p) for item, p in parts.items()}
    return sorted(fused.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))


def missing_chunk_ids(dense: Sequence[Hit], lexical: Sequence[tuple[str, float]]) -> list[str]:
    """Lexical chunk ids with no dense hit: the chunks the caller must fetch before ``fuse_hits``."""
    have = {h.chunk.chunk_id for h in dense}
    out: list[str] = []
    for chunk_id, _ in lexical:
        if chunk_id not in have:
            have.add(chunk_id)
            out.append(chunk_id)
    return out


def fuse_hits(
    dense: Sequence[Hit],
    lexical: Sequence[tuple[str, float]],
    chunks: Mapping[str, Chunk] | None = None,
    *,
    k: int = RRF_K,
    weights: tuple[float, float] = (1.0, 1.0),
    limit: int | None = None,
) -> list[Hit]:
    """RRF of dense hits and lexical ``(chunk_id, score)`` results into Hits that keep both retrievers' ranks.

    Both inputs must be best first; a retriever's rank is the 1-based position in its list.
    ``score`` becomes the fused score; ``dense_score`` is the hit's ``dense_score`` (or its
    ``score`` if unset). A chunk found only lexically takes its Chunk from ``chunks``; one missing
    there (index out of step with the store) is skipped with a warning.
    """
    dense_at: dict[str, tuple[int, Hit]] = {}
    for rank, hit in enumerate(dense, 1):
        dense_at.setdefault(hit.chunk.chunk_id, (rank, hit))
    lexical_at: dict[str, tuple[int, float]] = {}
    for rank, (chunk_id, score) in enumerate(lexical, 1):
        lexical_at.setdefault(chunk_id, (rank, float(score)))
    fused = rrf([[h.chunk.chunk_id for h in dense], [cid for cid, _ in lexical]], k=k, weights=weights)
    chunks = chunks or {}
    out: list[Hit] = []
    for chunk_id, score in fused:
        d_rank, d_hit = dense_at.get(chunk_id, (None, None))
        l_rank, l_score = lexical_at.get(chunk_id, (None, None))
        chunk = d_hit.chunk if d_hit is not None else chunks.get(chunk_id)
        if chunk is None:
            log.warning("lexical hit %s has no chunk in the store; skipped", chunk_id)
            continue
        dense_score = None
        if d_hit is not None:
            dense_score = d_hit.dense_score if d_hit.dense_score is not None else d_hit.score
        out.append(
            Hit(
                chunk=chunk,
                score=score,
                dense_score=dense_score,
                dense_rank=d_rank,
                lexical_score=l_score,
                lexical_rank=l_rank,
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def with_document_prior(hits: Sequence[Hit], doc_scores: Mapping[str, float], weight: float) -> list[Hit]:
    """Hits re-ranked by their min-max normalised score plus ``weight`` times their document's score.

    ``doc_scores`` (document id to a non-negative score, e.g. ``LexicalIndex.document_scores``) is
    scaled so the best document gets 1. A chunk rarely names what its document is about (the company
    of a filing, the subject of a manual): the document's match lends it that context. With no
    weight or no document scores the hits come back in their order, scores untouched.
    """
    top = max(doc_scores.values(), default=0.0)
    if weight <= 0 or top <= 0 or not hits:
        return list(hits)
    lo = min(h.score for h in hits)
    span = max(h.score for h in hits) - lo
    rescored = []
    for h in hits:
        base = (h.score - lo) / span if span > 0 else 1.0
        rescored.append(replace(h, score=base + weight * doc_scores.get(h.chunk.doc_id, 0.0) / top))
    # A stable sort keeps the fused order among equal scores.
    return sorted(rescored, key=lambda h: -h.score)


def with_year_prior(hits: Sequence[Hit], question_years: frozenset[str], weight: float) -> list[Hit]:
    """Hits of documents whose file name holds a year the question asks about moved up by ``weight`` times the
    best score.

    Filings, reports and minutes come a year (or a quarter) a file, named so ("BOEING_2022_10K",
    "2023 Q1 AMZN"), and the years' texts look alike to the retrievers: a question about FY2022 found the
    2018 report's pages as readily. Without years in the question, or with no weight, the hits come back as
    they are.
    """
    if weight <= 0 or not question_years or not hits:
        return list(hits)
    bonus = weight * max(h.score for h in hits)
    rescored = [
        replace(h, score=h.score + bonus) if years(h.chunk.file_name) & question_years else h for h in hits
    ]
    return sorted(rescored, key=lambda h: -h.score)
