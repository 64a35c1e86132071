"""A BM25 index's snapshot (tokens, vocabulary, the bm25s score matrix) and its generations on disk.

See ``lexical.py`` for the format: ``CURRENT`` names the one complete ``gen-*`` folder; a write builds a new one
under ``.tmp-*``, renames it into place, then swaps ``CURRENT``, so a crash leaves the previous one in force.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np

from rag.errors import IndexCorrupt

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BM25_PARAMS: Mapping[str, object] = {"k1": 1.5, "b": 0.75, "method": "lucene"}
_CURRENT = "CURRENT"
_MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"
_GEN_PREFIX = "gen-"


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
