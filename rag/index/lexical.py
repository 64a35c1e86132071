"""BM25 index (bm25s) over the chunks of one collection, persisted atomically beside Chroma.

On disk, ``<dir>/CURRENT`` names the one complete generation ``<dir>/gen-*``; a write builds a
new generation in ``<dir>/.tmp-*``, renames it into place and only then swaps ``CURRENT``
(``os.replace``), so a crash at any point leaves the previous generation in force. Each
generation keeps the tokenised corpus (vocabulary + token ids per chunk) so that a change
re-indexes from tokens without re-tokenising, plus the bm25s score matrix so that opening is a
plain load. One process writes; readers in other threads never block (copy-on-write snapshot).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import bm25s
import numpy as np

from rag.errors import IndexCorrupt, StoreError
from rag.index.textnorm import Tokenizer, get_tokenizer
from rag.models import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BM25_PARAMS: Mapping[str, object] = {"k1": 1.5, "b": 0.75, "method": "lucene"}
_CURRENT = "CURRENT"
_MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"
_GEN_PREFIX = "gen-"
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


def fingerprint(doc_ids: Iterable[str]) -> str:
    """Order-independent digest of a set of document ids."""
    h = hashlib.sha256()
    for doc_id in sorted(set(doc_ids)):
        h.update(doc_id.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class _Snapshot:
    """An immutable state of the index; a write replaces it whole."""

    chunk_ids: tuple[str, ...]
    doc_ids: tuple[str, ...]
    tokens: tuple[np.ndarray, ...]  # per chunk, ids into ``terms``
    terms: tuple[str, ...]
    term_ids: Mapping[str, int]
    bm25: bm25s.BM25 | None  # None when there is no term at all
    tie_rank: np.ndarray  # position of each chunk in chunk_id order, to break score ties
    fingerprint: str
    # Derived from doc_ids, for document-level scores: the distinct documents, each chunk's position
    # among them, and each document's chunk count.
    documents: tuple[str, ...] = field(init=False)
    chunk_doc: np.ndarray = field(init=False)
    doc_chunks: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        documents, chunk_doc = np.unique(np.asarray(self.doc_ids, dtype=object), return_inverse=True)
        object.__setattr__(self, "documents", tuple(documents))
        object.__setattr__(self, "chunk_doc", chunk_doc.astype(np.int64).reshape(-1))
        object.__setattr__(self, "doc_chunks", np.bincount(self.chunk_doc, minlength=len(documents)))

    @classmethod
    def empty(cls) -> _Snapshot:
        return cls((), (), (), (), {}, None, np.zeros(0, dtype=np.int64), fingerprint(()))


def _tie_rank(chunk_ids: Sequence[str]) -> np.ndarray:
    order = sorted(range(len(chunk_ids)), key=chunk_ids.__getitem__)
    rank = np.empty(len(chunk_ids), dtype=np.int64)
    rank[order] = np.arange(len(chunk_ids), dtype=np.int64)
    return rank


class _AsLists(Sequence[list[int]]):
    """Token-id arrays shown to bm25s as lists, converted one chunk at a time."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self._arrays = arrays

    def __len__(self) -> int:
        return len(self._arrays)

    def __getitem__(self, i: int) -> list[int]:  # type: ignore[override]
        return self._arrays[i].tolist()


def _fit_bm25(tokens: Sequence[np.ndarray], terms: Sequence[str]) -> bm25s.BM25 | None:
    if not terms:
        return None
    model = bm25s.BM25(**BM25_PARAMS)
    # What BM25.index((ids, vocab)) does, minus its copy of the corpus as Python int lists, which
    # at 100k chunks costs more memory than the index (ids are already dense 0..n-1, as required).
    model.scores = model.build_index_from_ids(
        unique_token_ids=list(range(len(terms))), corpus_token_ids=_AsLists(tokens), show_progress=False
    )
    model.vocab_dict = {t: i for i, t in enumerate(terms)}
    model.unique_token_ids_set = set(model.vocab_dict.values())
    return model


def _build(
    chunk_ids: list[str],
    doc_ids: list[str],
    tokens: list[np.ndarray],
    terms: list[str],
) -> _Snapshot:
    """Snapshot from token ids into ``terms``, dropping terms no chunk uses any more."""
    flat = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.int32)
    used = np.bincount(flat, minlength=len(terms)) > 0
    remap = (np.cumsum(used) - 1).astype(np.int32)
    kept = [t for t, u in zip(terms, used) if u]
    lengths = np.fromiter((len(a) for a in tokens), dtype=np.int64, count=len(tokens))
    new_tokens = tuple(np.split(remap[flat], np.cumsum(lengths)[:-1])) if tokens else ()
    return _Snapshot(
        chunk_ids=tuple(chunk_ids),
        doc_ids=tuple(doc_ids),
        tokens=new_tokens,
        terms=tuple(kept),
        term_ids={t: i for i, t in enumerate(kept)},
        bm25=_fit_bm25(new_tokens, kept),
        tie_rank=_tie_rank(chunk_ids),
        fingerprint=fingerprint(doc_ids),
    )


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


# ---- disk format -------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    # Directories cannot be opened for fsync on Windows; there, rename durability is the OS's job.
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(root: Path, snap: _Snapshot, tokenizer: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        (tmp / "chunks.json").write_text(
            json.dumps({"chunk_ids": snap.chunk_ids, "doc_ids": snap.doc_ids}, ensure_ascii=False),
            encoding="utf-8",
        )
        (tmp / "terms.json").write_text(json.dumps(snap.terms, ensure_ascii=False), encoding="utf-8")
        flat = np.concatenate(snap.tokens) if snap.tokens else np.zeros(0, dtype=np.int32)
        offsets = np.zeros(len(snap.tokens) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in snap.tokens], out=offsets[1:])
        np.save(tmp / "tokens.npy", flat.astype(np.int32), allow_pickle=False)
        np.save(tmp / "offsets.npy", offsets, allow_pickle=False)
        if snap.bm25 is not None:
            snap.bm25.save(tmp / "bm25", show_progress=False)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT_VERSION,
            "tokenizer": tokenizer,
            "bm25": dict(BM25_PARAMS),
            "chunks": len(snap.chunk_ids),
            "docs": len(set(snap.doc_ids)),
            "fingerprint": snap.fingerprint,
            "files": {p.relative_to(tmp).as_posix(): _sha256(p) for p in files},
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for p in [*files, tmp / _MANIFEST, *(d for d in tmp.rglob("*") if d.is_dir()), tmp]:
            _fsync_path(p)
        gen = root / f"{_GEN_PREFIX}{uuid.uuid4().hex}"
        os.rename(tmp, gen)
        _fsync_path(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f"{_TMP_PREFIX}{_CURRENT}-{uuid.uuid4().hex}"
    try:
        pointer.write_text(gen.name, encoding="utf-8")
        _fsync_path(pointer)
        os.replace(pointer, root / _CURRENT)  # the commit point
    except BaseException:
        pointer.unlink(missing_ok=True)
        shutil.rmtree(gen, ignore_errors=True)
        raise
    _fsync_path(root)
    _sweep(root, keep=gen.name)


def _sweep(root: Path, keep: str) -> None:
    """Delete superseded generations and leftovers of interrupted writes (best effort)."""
    for entry in root.iterdir():
        if entry.name in (keep, _CURRENT) or not entry.name.startswith((_GEN_PREFIX, _TMP_PREFIX)):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError as e:
            log.warning("could not delete %s: %s", entry, e)


def _read(root: Path, tokenizer: str) -> _Snapshot:
    """Load the current generation; any defect raises ``IndexCorrupt``."""
    pointer = root / _CURRENT
    if not pointer.is_file():
        raise IndexCorrupt(f"no lexical index at {root}")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
        gen = root / name
        if not name.startswith(_GEN_PREFIX) or os.sep in name or not gen.is_dir():
            raise IndexCorrupt(f"{pointer} names a missing generation {name!r}")
        manifest = json.loads((gen / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexCorrupt(f"unsupported lexical index format {manifest.get('format')!r}")
        if manifest.get("tokenizer") != tokenizer:
            built_with = manifest.get("tokenizer")
            raise IndexCorrupt(f"index was built with tokenizer {built_with!r}, not {tokenizer!r}")
        if manifest.get("bm25") != dict(BM25_PARAMS):
            raise IndexCorrupt(f"index was built with BM25 parameters {manifest.get('bm25')!r}")
        for rel, digest in manifest["files"].items():
            if _sha256(gen / rel) != digest:
                raise IndexCorrupt(f"checksum mismatch in {gen / rel}")
        chunks = json.loads((gen / "chunks.json").read_text(encoding="utf-8"))
        chunk_ids, doc_ids = list(chunks["chunk_ids"]), list(chunks["doc_ids"])
        terms = list(json.loads((gen / "terms.json").read_text(encoding="utf-8")))
        flat = np.load(gen / "tokens.npy", allow_pickle=False)
        offsets = np.load(gen / "offsets.npy", allow_pickle=False)
        bm25 = bm25s.BM25.load(gen / "bm25", load_vocab=False) if (gen / "bm25").is_dir() else None
    except IndexCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:  # json and numpy errors are ValueErrors
        raise IndexCorrupt(f"unreadable lexical index at {root}: {e}") from e
    n = len(chunk_ids)
    consistent = (
        len(doc_ids) == n
        and manifest.get("chunks") == n
        and offsets.shape == (n + 1,)
        and int(offsets[-1]) == len(flat)
        and (len(flat) == 0 or int(flat.max()) < len(terms))
        and (bm25 is None) == (len(terms) == 0)
        and (bm25 is None or bm25.scores["num_docs"] == n)
        and manifest.get("fingerprint") == fingerprint(doc_ids)
    )
    if not consistent:
        raise IndexCorrupt(f"lexical index at {root} is inconsistent")
    return _Snapshot(
        chunk_ids=tuple(chunk_ids),
        doc_ids=tuple(doc_ids),
        tokens=tuple(np.split(flat, offsets[1:-1])),
        terms=tuple(terms),
        term_ids={t: i for i, t in enumerate(terms)},
        bm25=bm25,
        tie_rank=_tie_rank(chunk_ids),
        fingerprint=fingerprint(doc_ids),
    )
