"""Retrieval metrics over ranked hits (pure functions): document and page matches, recall@k, hit@k, MRR.

Matching: a hit finds a gold document when its file name equals the basename of the gold pdf path, and
a gold page when, in that document, ``hit.page <= page <= hit.page_end`` (0-based pypdf page indices).
Per question, recall@k is the fraction of its gold items found in the top k, hit@k whether any was,
and the reciprocal rank that of the first hit matching any gold item (0 when none in the list).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.eval.qa import GoldPage, file_key


class Located(Protocol):
    """What the metrics read of a hit."""

    @property
    def file_name(self) -> str: ...

    @property
    def page(self) -> int: ...

    @property
    def page_end(self) -> int: ...


def doc_matches(hits: Sequence[Located], gold_docs: Iterable[str]) -> list[frozenset[str]]:
    """For each ranked hit, the gold documents it finds (an empty set for a miss)."""
    gold = {file_key(d) for d in gold_docs}
    out = []
    for h in hits:
        name = file_key(h.file_name)
        out.append(frozenset({name} & gold))
    return out


def page_matches(hits: Sequence[Located], gold_pages: Iterable[GoldPage]) -> list[frozenset[GoldPage]]:
    """For each ranked hit, the gold pages inside its page span in the same document."""
    gold = [GoldPage(file_key(g.file_name), g.page) for g in gold_pages]
    out = []
    for h in hits:
        name = file_key(h.file_name)
        out.append(frozenset(g for g in gold if g.file_name == name and h.page <= g.page <= h.page_end))
    return out


def recall_at_k(matches: Sequence[frozenset], n_gold: int, k: int) -> float:
    """Fraction of the ``n_gold`` gold items found by the first ``k`` hits."""
    if n_gold <= 0:
        raise ValueError("recall needs at least one gold item")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return len(frozenset().union(*matches[:k])) / n_gold


def hit_at_k(matches: Sequence[frozenset], k: int) -> float:
    """1.0 when any of the first ``k`` hits finds a gold item, else 0.0."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return 1.0 if any(matches[:k]) else 0.0


def reciprocal_rank(matches: Sequence[frozenset]) -> float:
    """1 / rank of the first hit that finds any gold item; 0.0 when none does."""
    for rank, m in enumerate(matches, 1):
        if m:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class Scores:
    """One question's scores at one level (document or page) for one ranked list."""

    recall: Mapping[int, float]
    hit: Mapping[int, float]
    rr: float


def score(matches: Sequence[frozenset], n_gold: int, ks: Sequence[int]) -> Scores:
    return Scores(
        {k: recall_at_k(matches, n_gold, k) for k in ks},
        {k: hit_at_k(matches, k) for k in ks},
        reciprocal_rank(matches),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
