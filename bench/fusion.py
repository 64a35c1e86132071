"""Fusion study: how dense and BM25 candidates are best combined, on the shared dev QA sets.

For every question, the script fetches once the top candidates of each retriever (with their
scores; BM25-only candidates get their cosine from the stored vectors), the document-level BM25
scores and the model's vocabulary fit, from an already ingested collection; then it ranks the
candidates with each fusion method offline and prints recall@k and MRR at document and page
level, side by side. Page level keeps one hit per page (as the app does). The app's default is
the row "rrf fit w=0 + doc 0.3" (RAG_LEXICAL_WEIGHT=0, RAG_DOC_WEIGHT=0.3).

    python bench/fusion.py QA.jsonl --data-dir DIR --collection NAME [--depth 100]

The collections are made with ``python -m rag eval QA.jsonl --ingest`` (RAG_DATA_DIR=DIR).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval.metrics import doc_matches, page_matches, recall_at_k, reciprocal_rank  # noqa: E402
from rag.eval.qa import GoldPage, load_questions  # noqa: E402


@dataclass
class Cand:
    chunk_id: str
    doc_id: str
    file_name: str
    page: int
    page_end: int
    dense: float  # cosine similarity
    dense_rank: int | None
    lexical: float  # BM25 score, 0 when BM25 did not return it
    lexical_rank: int | None


@dataclass
class Query:
    cands: list[Cand]
    docs: dict[str, float]  # document-level BM25 (LexicalIndex.document_scores)
    fit: float  # the embedding model's vocabulary fit for the question


def fetch(qa: Path, data_dir: Path, collection: str, depth: int, cache: Path | None) -> tuple[list, list[Query]]:
    """Questions and their candidates (cached as JSON when ``cache`` is given)."""
    import os

    questions = load_questions(qa)
    if cache and cache.exists():
        rows = json.loads(cache.read_text())
        return questions, [Query([Cand(**c) for c in r["cands"]], r["docs"], r["fit"]) for r in rows]
    os.environ["RAG_DATA_DIR"] = str(data_dir)
    from rag.library import Library
    from rag.settings import Settings

    lib = Library(Settings.from_env())
    col = lib.open_collection(collection)
    ready = lib.catalog.ready_ids(collection)
    index = lib.lexical.index(collection)
    out = []
    for q in questions:
        vector = lib.embedder.embed_query(q.question)
        dense = lib.store.query(col, vector, depth, ready)
        lexical = index.search(q.question, depth)
        cands: dict[str, Cand] = {}
        for r, (chunk, s) in enumerate(dense, 1):
            cands[chunk.chunk_id] = Cand(
                chunk.chunk_id, chunk.doc_id, chunk.file_name, chunk.page, chunk.page_end, s, r, 0.0, None
            )
        missing = [h.chunk_id for h in lexical if h.chunk_id not in cands]
        chunks = {c.chunk_id: c for c in lib.store.chunks_by_id(col, missing)}
        vectors = lib.store.vectors_by_id(col, missing)
        for r, h in enumerate(lexical, 1):
            c = cands.get(h.chunk_id)
            if c is None:
                chunk = chunks[h.chunk_id]
                sim = float(np.dot(vectors[h.chunk_id], vector))
                c = cands[h.chunk_id] = Cand(
                    chunk.chunk_id, chunk.doc_id, chunk.file_name, chunk.page, chunk.page_end, sim, None, 0.0, None
                )
            c.lexical, c.lexical_rank = h.score, r
        out.append(Query(list(cands.values()), index.document_scores(q.question), lib.embedder.fit(q.question)))
    lib.close()
    if cache:
        rows = [{"cands": [c.__dict__ for c in q.cands], "docs": q.docs, "fit": q.fit} for q in out]
        cache.write_text(json.dumps(rows))
    return questions, out


Scorer = Callable[[Query], list[float]]


def by_dense(q: Query) -> list[float]:
    return [c.dense if c.dense_rank is not None else -1.0 for c in q.cands]


def by_lexical(q: Query) -> list[float]:
    return [c.lexical if c.lexical_rank is not None else -1.0 for c in q.cands]


def rrf(weight: float, k: int = 60, adaptive: bool = False) -> Scorer:
    """Weighted RRF; ``adaptive``: dense weight = fit, BM25 weight = ``weight`` + (1 - fit), as the app does."""

    def score(q: Query) -> list[float]:
        wd, wl = (q.fit, weight + 1 - q.fit) if adaptive else (1.0, weight)
        return [
            (wd / (k + c.dense_rank) if c.dense_rank else 0.0) + (wl / (k + c.lexical_rank) if c.lexical_rank else 0.0)
            for c in q.cands
        ]

    return score


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def convex(alpha: float) -> Scorer:
    """alpha * dense + (1 - alpha) * BM25, each min-max normalised over the candidates."""

    def score(q: Query) -> list[float]:
        d = _minmax(np.array([c.dense for c in q.cands]))
        lex = np.array([c.lexical for c in q.cands])
        top = lex.max()
        lex = lex / top if top > 0 else lex
        return list(alpha * d + (1 - alpha) * lex)

    return score


def doc_prior(base: Scorer, weight: float) -> Scorer:
    """``fusion.with_document_prior``: min-max normalised base score + weight * document score / best."""

    def score(q: Query) -> list[float]:
        s = _minmax(np.array(base(q), dtype=float))
        top = max(q.docs.values(), default=0.0)
        if top <= 0:
            return list(s)
        return list(s + weight * np.array([q.docs.get(c.doc_id, 0.0) / top for c in q.cands]))

    return score


def rank(cands: list[Cand], scores: Sequence[float], per_page: int = 1, k: int = 10) -> list[Cand]:
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], cands[i].chunk_id))
    seen: dict[tuple[str, int], int] = {}
    out = []
    for i in order:
        c = cands[i]
        key = (c.doc_id, c.page)
        if seen.get(key, 0) < per_page:
            seen[key] = seen.get(key, 0) + 1
            out.append(c)
            if len(out) == k:
                break
    return out


def page_rank(cands: list[Cand], scores: Sequence[float], weights: Sequence[float], k: int = 10) -> list[Cand]:
    """Pages ranked by their chunks' scores, best first, weighted by ``weights``; each page as its best chunk."""
    pages: dict[tuple[str, int], list[tuple[float, Cand]]] = {}
    for c, s in zip(cands, scores):
        pages.setdefault((c.doc_id, c.page), []).append((s, c))
    ranked = []
    for items in pages.values():
        items.sort(key=lambda t: (-t[0], t[1].chunk_id))
        ranked.append((sum(w * s for w, (s, _) in zip(weights, items)), items[0][1]))
    ranked.sort(key=lambda t: (-t[0], t[1].chunk_id))
    return [c for _, c in ranked[:k]]


def doc_ranking(hits: list[Cand]) -> list[Cand]:
    """Distinct documents in order of first appearance (document-level recall counts documents)."""
    seen, out = set(), []
    for h in hits:
        if h.doc_id not in seen:
            seen.add(h.doc_id)
            out.append(h)
    return out


def metrics(
    questions, queries: list[Query], scorer: Scorer, ks=(1, 3, 5, 10), pages: Sequence[float] | None = None
) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for q, query in zip(questions, queries):
        scores = scorer(query)
        hits = page_rank(query.cands, scores, pages, max(ks)) if pages else rank(query.cands, scores, k=max(ks))
        dm = doc_matches(hits, q.docs)
        for k in ks:
            out.setdefault(f"doc R@{k}", []).append(recall_at_k(dm, len(q.docs), k))
        out.setdefault("doc MRR", []).append(reciprocal_rank(dm))
        if q.pages:
            pm = page_matches(hits, [GoldPage(g.file_name, g.page) for g in q.pages])
            for k in ks:
                out.setdefault(f"page R@{k}", []).append(recall_at_k(pm, len(q.pages), k))
            out.setdefault("page MRR", []).append(reciprocal_rank(pm))
    return {m: float(np.mean(v)) for m, v in out.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qa", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--cache", type=Path)
    args = p.parse_args(argv)
    questions, queries = fetch(args.qa, args.data_dir, args.collection, args.depth, args.cache)
    methods: dict[str, Scorer] = {"dense": by_dense, "lexical": by_lexical}
    for w in (1.0, 0.5, 0.3):
        methods[f"rrf w={w:g}"] = rrf(w)
    for a in (0.5, 0.7, 0.9):
        methods[f"convex a={a:g}"] = convex(a)
    for g in (0.1, 0.3, 0.5):
        methods[f"dense + doc {g:g}"] = doc_prior(by_dense, g)
    for w in (0.0, 0.2, 0.5):
        for g in (0.1, 0.3, 0.5):
            methods[f"rrf fit w={w:g} + doc {g:g}"] = doc_prior(rrf(w, adaptive=True), g)
    rows = {name: metrics(questions, queries, s) for name, s in methods.items()}
    default = doc_prior(rrf(0.0, adaptive=True), 0.3)
    for weights in ((1.0, 0.5), (1.0, 0.5, 0.25), (1.0, 0.3, 0.1), (1.0, 1.0, 1.0)):
        name = "default, pages " + "/".join(f"{w:g}" for w in weights)
        rows[name] = metrics(questions, queries, default, pages=weights)
    cols = [c for c in next(iter(rows.values())) if not math.isnan(next(iter(rows.values()))[c])]
    print(f"{args.qa.name}: {len(questions)} questions, candidates depth {args.depth}")
    print(f"{'method':26}" + "".join(f"{c:>10}" for c in cols))
    for name, r in rows.items():
        print(f"{name:26}" + "".join(f"{r[c]:10.3f}" for c in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
