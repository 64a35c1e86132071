"""BM25 index (bm25s) over the chunks of one collection, persisted atomically beside Chroma.

On disk, ``<dir>/CURRENT`` names the one complete generation ``<dir>/gen-*``; a write builds a
new generation in ``<dir>/.tmp-*``, renames it into place and only then swaps ``CURRENT``
(``os.replace``), so a crash at any point leaves the previous generation in force. Each
generation keeps the tokenised corpus (vocabulary + token ids per chunk) so that a change
re-indexes from tokens without re-tokenising, plus the bm25s score matrix so that opening is a
plain load. One process writes; readers in other threads never block (copy-on-write snapshot).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rag.errors import IndexCorrupt, StoreError
from rag.index.lexical_snapshot import _build, _read, _Snapshot, _write, fingerprint
from rag.index.textnorm import Tokenizer, get_tokenizer
from rag.models import Chunk

log = logging.getLogger(__name__)

_TOKENIZE_BATCH = 2048


class LexicalHit(NamedTuple):
    """One BM25 result; a NamedTuple so it also reads as the plain ``(chunk_id, score)`` pair."""

    chunk_id: str
    score: float


@dataclass(frozen=True)
class IndexState:
    """What the index holds, for the caller to compare with the catalogue."""

    chunks: int
    docs: int
    fingerprint: str
    tokenizer: str
    needs_rebuild: bool
    reason: str = ""


class LexicalIndex:
    """BM25 over one collection's chunks; ``directory=None`` keeps it in memory only.

    ``state.needs_rebuild`` (set by ``open`` on a missing/corrupt/other-tokenizer index) stays set
    through ``add``/``remove`` until ``rebuild`` runs: an index that lost documents is not whole again
    just because new ones arrived.
    """

    def __init__(self, directory: Path | str | None = None, tokenizer: Tokenizer | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        if tokenizer is None:
            tokenizer = get_tokenizer()
        elif isinstance(tokenizer, str):
            tokenizer = get_tokenizer(tokenizer)
        self.tokenizer: Tokenizer = tokenizer
        self._snap = _Snapshot.empty()
        self._write_lock = threading.Lock()
        self._needs_rebuild = False
        self._reason = ""

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path | str,
        tokenizer: Tokenizer | str | None = None,
        *,
        strict: bool = False,
    ) -> LexicalIndex:
        """Load the index in ``directory``; if missing or corrupt, an empty one flagged ``needs_rebuild``.

        With ``strict=True`` a missing or corrupt index raises ``IndexCorrupt`` instead.
        """
        index = cls(directory, tokenizer)
        try:
            index._snap = _read(Path(directory), index.tokenizer.name)
        except IndexCorrupt as e:
            if strict:
                raise
            # A collection's first search finds no index yet: that is routine, not a warning.
            level = logging.INFO if not Path(directory).exists() else logging.WARNING
            log.log(level, "lexical index at %s needs a rebuild: %s", directory, e)
            index._needs_rebuild = True
            index._reason = str(e)
        return index

    # ---- reading -------------------------------------------------------------------------

    @property
    def state(self) -> IndexState:
        """Counts, fingerprint and whether the caller must call ``rebuild``."""
        snap = self._snap
        return IndexState(
            chunks=len(snap.chunk_ids),
            docs=len(set(snap.doc_ids)),
            fingerprint=snap.fingerprint,
            tokenizer=self.tokenizer.name,
            needs_rebuild=self._needs_rebuild,
            reason=self._reason,
        )

    def in_step_with(self, doc_ids: Iterable[str], chunk_count: int) -> bool:
        """True if the index holds exactly these documents and this many chunks (no rebuild due)."""
        snap = self._snap
        return (
            not self._needs_rebuild and len(snap.chunk_ids) == chunk_count and snap.fingerprint == fingerprint(doc_ids)
        )

    def __len__(self) -> int:
        return len(self._snap.chunk_ids)

    def search(self, query: str, k: int = 10) -> list[LexicalHit]:
        """Top ``k`` chunks by BM25 score, best first; only chunks sharing a term with the query.

        Equal scores are ordered by chunk_id, so results do not depend on insertion order.
        """
        snap = self._snap  # one read: a concurrent write swaps in a new snapshot, never mutates this one
        if k <= 0 or snap.bm25 is None:
            return []
        ids = [snap.term_ids[t] for t in self.tokenizer(query) if t in snap.term_ids]
        if not ids:
            return []
        scores = snap.bm25.get_scores_from_ids(ids)
        cand = np.flatnonzero(scores > 0)
        if len(cand) > k:
            # Keep everything tied with the k-th score so the tie-break below sees all of them.
            kth = np.partition(scores[cand], len(cand) - k)[len(cand) - k]
            cand = cand[scores[cand] >= kth]
        order = np.lexsort((snap.tie_rank[cand], -scores[cand]))[:k]
        return [LexicalHit(snap.chunk_ids[i], float(scores[i])) for i in cand[order]]

    def document_scores(self, query: str) -> dict[str, float]:
        """How well each document as a whole matches the query (documents sharing no term are left out).

        Sum over the query's distinct terms of the term's document-level idf times the share of the
        document's chunks that hold it. A term in a document's title (indexed with every chunk) or
        all through it, such as the company a filing is about, counts fully there, while chunk-level
        BM25 sees it only in the few chunks that spell it out.
        """
        snap = self._snap
        if snap.bm25 is None:
            return {}
        ids = sorted({snap.term_ids[t] for t in self.tokenizer(query) if t in snap.term_ids})
        n_docs = len(snap.documents)
        indptr, indices = snap.bm25.scores["indptr"], snap.bm25.scores["indices"]
        total = np.zeros(n_docs)
        for term in ids:
            holding = np.bincount(snap.chunk_doc[indices[indptr[term] : indptr[term + 1]]], minlength=n_docs)
            n_t = np.count_nonzero(holding)
            idf = math.log(1 + (n_docs - n_t + 0.5) / (n_t + 0.5))
            total += idf * holding / snap.doc_chunks
        return {doc: float(score) for doc, score in zip(snap.documents, total) if score > 0}

    # ---- writing -------------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk]) -> None:
        """Index these chunks; a chunk_id already present is replaced."""
        self.apply(add=chunks)

    def remove(self, doc_id: str) -> int:
        """Drop every chunk of ``doc_id``; returns how many were dropped."""
        return self.apply(remove=[doc_id])

    def apply(self, add: Sequence[Chunk] = (), remove: Iterable[str] = ()) -> int:
        """Remove documents and add chunks in one re-index and one atomic write; returns chunks removed."""
        drop_docs = set(remove)
        latest = {c.chunk_id: c for c in add}  # a chunk_id twice in one batch: the last wins, as in rebuild
        new = [(c.chunk_id, c.doc_id, c.text) for c in latest.values()]
        new_tokens = self.tokenizer.tokenize_many([text for _, _, text in new]) if new else []
        with self._write_lock:
            snap = self._snap
            replaced = {cid for cid, _, _ in new}
            keep = [
                i
                for i, (cid, did) in enumerate(zip(snap.chunk_ids, snap.doc_ids))
                if did not in drop_docs and cid not in replaced
            ]
            removed = sum(1 for did in snap.doc_ids if did in drop_docs)
            if not new and len(keep) == len(snap.chunk_ids):
                return 0
            vocab = dict(snap.term_ids)
            tokens = [snap.tokens[i] for i in keep] + [_ids(toks, vocab) for toks in new_tokens]
            built = _build(
                [snap.chunk_ids[i] for i in keep] + [cid for cid, _, _ in new],
                [snap.doc_ids[i] for i in keep] + [did for _, did, _ in new],
                tokens,
                list(vocab),
            )
            self._commit(built)
            log.info("lexical index: +%d chunks, -%d chunks, now %d", len(new), removed, len(built.chunk_ids))
            return removed

    def rebuild(self, records: Iterable[tuple[str, str, str]]) -> IndexState:
        """Replace the whole index with these ``(chunk_id, doc_id, text)`` records (last duplicate wins)."""
        by_id: dict[str, tuple[str, str]] = {}
        for chunk_id, doc_id, text in records:
            by_id[chunk_id] = (doc_id, text)
        chunk_ids = list(by_id)
        texts = [text for _, text in by_id.values()]
        vocab: dict[str, int] = {}
        tokens: list[np.ndarray] = []
        # In batches, so the token strings of only one batch are alive at a time (memory at 100k chunks).
        for start in range(0, len(texts), _TOKENIZE_BATCH):
            batch = self.tokenizer.tokenize_many(texts[start : start + _TOKENIZE_BATCH])
            tokens.extend(_ids(toks, vocab) for toks in batch)
        del texts
        built = _build(chunk_ids, [doc_id for doc_id, _ in by_id.values()], tokens, list(vocab))
        with self._write_lock:
            self._commit(built)
            self._needs_rebuild = False
            self._reason = ""
        log.info("lexical index rebuilt: %d chunks", len(chunk_ids))
        return self.state

    def _commit(self, snap: _Snapshot) -> None:
        """Persist (if on disk), then publish: memory never runs ahead of what a restart would load."""
        if self.directory is not None:
            try:
                _write(self.directory, snap, self.tokenizer.name)
            except OSError as e:
                raise StoreError(f"could not write the lexical index at {self.directory}: {e}") from e
        self._snap = snap


def _ids(tokens: Sequence[str], vocab: dict[str, int]) -> np.ndarray:
    # setdefault evaluates len(vocab) before inserting, so a new term gets the next free id.
    return np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32, count=len(tokens))


