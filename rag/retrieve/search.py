"""Retrieval over a collection: dense (Chroma), lexical (BM25) and their fusion.

The BM25 indexes are kept in step with the catalogue by ``index.lexical_indexes``; a search sees only
ready documents.

Hybrid search fuses the dense and BM25 rankings by reciprocal rank, then adds a document-level
BM25 prior (``fusion.with_document_prior``) and a bonus for documents whose file name holds a year the
question names (``fusion.with_year_prior``). When the question names items of a company's statements, the
best hit's document's income statement, balance sheet or cash flow statement is placed after the best hit
(``statements.py``). The dense ranking's weight is the embedding model's
vocabulary fit for the query (``Embedder.fit``): an English-only model reading Korean gets ~0 and
BM25 takes its weight over, while a model that reads the language keeps the full weight.
"hybrid+rerank" lets a cross-encoder (``rerank.py``) re-order the first fused candidates.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from rag.encoders.embedder import Embedder
from rag.encoders.rerank import Reranker, rerank
from rag.errors import RagError
from rag.index.catalog import Catalog
from rag.index.lexical_indexes import LexicalIndexes
from rag.index.store import VectorStore
from rag.index.textnorm import years
from rag.models import Chunk, Hit
from rag.retrieve.fusion import fuse_hits, with_document_prior, with_year_prior
from rag.retrieve.modes import SEARCH_MODES
from rag.retrieve.statements import asked_statements, statement_pages, with_statement_pages
from rag.settings import RetrievalSettings

log = logging.getLogger(__name__)

# Dense hits are fetched unfiltered with this many spare, and those of documents not ready (being
# ingested or deleted) dropped: a `$in` filter over every ready document cost ~450 ms at 100k chunks.
_SPARE = 40
# Documents whose statement pages are remembered (a filing's are found by reading all its chunks once).
_STATEMENT_CACHE = 256


class Searcher:
    """Searches one data directory's collections with its store, catalogue, BM25 indexes and models."""

    def __init__(
        self,
        store: VectorStore,
        catalog: Catalog,
        lexical: LexicalIndexes,
        embedder: Callable[[], Embedder],
        reranker: Callable[[], Reranker | None],
        settings: RetrievalSettings,
        *,
        title_header: bool = True,
        candidates: int = 40,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.lexical = lexical
        # Called at search time: the models load on first use, and a reranker that fails to load says why then.
        self.embedder = embedder
        self.reranker = reranker
        self.settings = settings
        self.title_header = title_header  # how chunks were indexed (an ingest setting): the reranker reads the same
        self.candidates = candidates
        self._statements: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._statements_seen: dict[str, tuple[set[str], int]] = {}
        self._statements_lock = threading.Lock()

    def search(self, query: str, collection: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The best ``k`` chunks; every hit carries each retriever's score and rank."""
        if mode not in SEARCH_MODES:
            raise RagError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
        if not query.strip():
            raise RagError("the query is empty")
        if k < 1:
            raise RagError(f"the number of results must be at least 1, got {k}")
        if mode == "hybrid+rerank":
            reranker = self.reranker()
            if reranker is None:
                raise RagError("hybrid+rerank needs a reranking model: set RAG_RERANK_MODEL")
            fused = self.search(query, collection, max(k, self.settings.rerank_top_n), "hybrid")
            return rerank(reranker, query, fused, k, top_n=self.settings.rerank_top_n, title_header=self.title_header)
        embedder = self.embedder()
        col = self.store.open(collection, embedder.name, embedder.dim)
        ready, chunk_total = self.catalog.ready_summary(collection)
        ready_set = set(ready)
        n = max(k, self.candidates)
        vector = embedder.embed_query(query)
        dense: list[Hit] = []
        if mode != "lexical":
            pairs = self._dense(col, vector, n, ready, ready_set)
            dense = [Hit(c, s, dense_score=s, dense_rank=r) for r, (c, s) in enumerate(pairs, 1)]
            if mode == "dense":
                return self._spread(dense, k)
        index = self.lexical.index(collection, wait=False)
        lexical = [h for h in index.search(query, n * 2) if h.chunk_id.split(":")[0] in ready_set][:n]
        if mode == "lexical":
            fused = fuse_hits([], lexical, self._chunks(col, [h.chunk_id for h in lexical]), k=self.settings.rrf_k)
            # Ranked by BM25 alone: the score shown is BM25's, not the one-list fusion score.
            fused = [
                Hit(h.chunk, h.lexical_score, lexical_score=h.lexical_score, lexical_rank=h.lexical_rank) for h in fused
            ]
        else:
            seen = {h.chunk.chunk_id for h in dense}
            fit = embedder.fit(query)
            fused = fuse_hits(
                dense,
                lexical,
                self._chunks(col, [h.chunk_id for h in lexical if h.chunk_id not in seen]),
                k=self.settings.rrf_k,
                weights=(fit, self.settings.lexical_weight + (1.0 - fit)),
            )
            doc_scores = {d: s for d, s in index.document_scores(query).items() if d in ready_set}
            fused = with_document_prior(fused, doc_scores, self.settings.doc_weight)
            fused = with_year_prior(fused, years(query), self.settings.year_weight)
            state = (ready_set, chunk_total)
            hits = self._with_statements(col, collection, state, query, vector, self._spread(fused, k))
            return self._with_dense_scores(col, hits, vector)
        return self._with_dense_scores(col, self._spread(fused, k), vector)

    def _dense(self, col, vector: np.ndarray, n: int, ready: list[str], ready_set: set[str]):
        """The ``n`` nearest chunks of ready documents."""
        pairs = self.store.query(col, vector, n + _SPARE)
        kept = [(c, s) for c, s in pairs if c.doc_id in ready_set]
        if len(kept) >= n or len(pairs) < n + _SPARE:  # enough, or the whole collection was returned
            return kept[:n]
        return self.store.query(col, vector, n, ready)  # mostly chunks not ready: filter in Chroma

    def _spread(self, hits: list[Hit], k: int) -> list[Hit]:
        """The best ``k`` hits with at most ``max_per_page`` from any one page.

        Several chunks of one page in the top results crowd out other pages that may hold the
        answer; the best chunk already points the reader (and the model) at that page.
        """
        if self.settings.max_per_page <= 0:
            return hits[:k]
        seen: dict[tuple[str, int], int] = {}
        out = []
        for h in hits:
            key = (h.chunk.doc_id, h.chunk.page)
            if seen.get(key, 0) < self.settings.max_per_page:
                seen[key] = seen.get(key, 0) + 1
                out.append(h)
                if len(out) == k:
                    break
        return out

    def _with_statements(
        self, col, collection: str, state: tuple[set[str], int], query: str, vector: np.ndarray, hits: list[Hit]
    ) -> list[Hit]:
        """``hits`` with the statements the question names items of (from the best hit's document) after the first.

        ``state``: the collection's ready documents and their chunk count, as this search read them.
        """
        kinds = asked_statements(query)[: self.settings.statement_pages]
        if not kinds or not hits:
            return hits
        pages = self._statement_pages(col, collection, state, hits[0].chunk.doc_id)
        placed = {}
        for kind in kinds:
            if pages.get(kind):
                _, chunks = pages[kind][0]  # the first: the primary statement comes before the notes' tables
                vectors = self.store.vectors_by_id(col, [c.chunk_id for c in chunks])
                sims = {cid: float(np.dot(v, vector)) for cid, v in vectors.items()}
                best = max(chunks, key=lambda c: sims.get(c.chunk_id, -1.0))
                placed[kind] = Hit(best, 0.0, dense_score=sims.get(best.chunk_id), statement=kind)
        return with_statement_pages(hits, placed)

    def _statement_pages(self, col, collection: str, state: tuple[set[str], int], doc_id: str) -> dict:
        """The statement pages of one document, read once and remembered until the collection changes."""
        with self._statements_lock:
            if self._statements_seen.get(collection) != state:
                for key in [key for key in self._statements if key[0] == collection]:
                    del self._statements[key]
                self._statements_seen[collection] = state
            found = self._statements.get((collection, doc_id))
            if found is not None:
                self._statements.move_to_end((collection, doc_id))
                return found
        found = statement_pages(self.store.document_chunks(col, doc_id))
        with self._statements_lock:
            self._statements[(collection, doc_id)] = found
            while len(self._statements) > _STATEMENT_CACHE:
                self._statements.popitem(last=False)
        return found

    def _chunks(self, col, ids: list[str]) -> dict[str, Chunk]:
        return {c.chunk_id: c for c in self.store.chunks_by_id(col, ids)}

    def _with_dense_scores(self, col, hits: list[Hit], vector: np.ndarray) -> list[Hit]:
        """Fill in the cosine similarity of hits only BM25 found, so every hit shows both scores."""
        missing = [h.chunk.chunk_id for h in hits if h.dense_score is None]
        if not missing:
            return hits
        vectors = self.store.vectors_by_id(col, missing)
        out = []
        for h in hits:
            if h.dense_score is None and h.chunk.chunk_id in vectors:
                sim = float(np.dot(vectors[h.chunk.chunk_id], vector))
                h = replace(h, dense_score=sim, dense_rank=None)
            out.append(h)
        return out
