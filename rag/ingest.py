"""Ingest a batch of PDFs: dedupe, extract in bounded workers, chunk, embed, store, commit.

Each document is written under a ``pending`` catalogue row and becomes visible in one
transaction at the end; any failure removes what was written, so a document is either
fully present or absent, and one file's failure never stops the batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunker import Chunker
from .errors import DocumentError, NoTextError, RagError
from .models import Chunk, FileResult, Page
from .quality import document_garbled
from .worker import Opened

log = logging.getLogger(__name__)

_WRITE_BATCH = 64  # chunks embedded and stored together; bounds memory for long documents


class Progress:
    """Receives ingestion progress; subclasses draw it (CLI bar, Streamlit widgets)."""

    def file_started(self, name: str, index: int, total: int) -> None: ...

    def file_opened(self, name: str, n_pages: int) -> None: ...

    def pages_done(self, name: str, n: int) -> None: ...

    def chunks_done(self, name: str, n: int) -> None: ...

    def file_finished(self, result: FileResult) -> None: ...


@dataclass(frozen=True)
class Source:
    """A file to ingest: where its bytes are and the name users know it by."""

    path: Path
    name: str
    password: str | None = None


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every PDF under each folder, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() == ".pdf"))
        else:
            out.append(p)
    return out


@dataclass
class _Doc:
    source: Source
    doc_id: str
    size: int
    started: float
    pages: int = 0
    chunks: int = 0
    empty_pages: list[int] = field(default_factory=list)
    garbled_pages: list[int] = field(default_factory=list)
    page_flags: list[bool] = field(default_factory=list)
    written: list[Chunk] = field(default_factory=list)


class Ingestor:
    """Runs one batch against a library (catalogue, vector store, embedder, settings)."""

    def __init__(self, library, collection: str, *, keep_both: bool = False, progress: Progress | None = None) -> None:
        self.lib = library
        self.settings = library.settings
        self.collection_name = collection
        self.keep_both = keep_both
        self.progress = progress or Progress()
        self.collection = library.open_collection(collection, create=True)

    def _duplicate(self, source: Source, doc_id: str, why: str) -> FileResult:
        return FileResult(str(source.path), source.name, "duplicate", doc_id=doc_id, reason=why)

    def _failed(self, source: Source, error: DocumentError, doc_id: str | None, started: float) -> FileResult:
        return FileResult(
            str(source.path),
            source.name,
            "failed",
            doc_id=doc_id,
            seconds=time.monotonic() - started,
            reason=error.reason,
            error_kind=error.kind,
        )

    def run(self, sources: Sequence[Source]) -> list[FileResult]:
        results: list[FileResult | None] = [None] * len(sources)
        claimed: list[tuple[int, _Doc]] = []
        seen: set[str] = set()
        for i, source in enumerate(sources):
            started = time.monotonic()
            try:
                doc_id, size = sha256_file(source.path)
            except OSError as e:
                results[i] = self._failed(
                    source, DocumentError(source.name, f"cannot read the file ({e.strerror or e})"), None, started
                )
                continue
            if size > self.settings.max_file_mb * 2**20:
                error = DocumentError(
                    source.name,
                    f"the file is {size / 2**20:.1f} MB, more than the limit of {self.settings.max_file_mb} MB"
                    " (RAG_MAX_FILE_MB)",
                    kind="resource_limit",
                )
                results[i] = self._failed(source, error, doc_id, started)
                continue
            if size == 0:
                results[i] = self._failed(
                    source, DocumentError(source.name, "the file is empty (0 bytes)", kind="corrupt"), doc_id, started
                )
                continue
            if doc_id in seen:
                results[i] = self._duplicate(source, doc_id, "the same file appears earlier in this batch")
                continue
            seen.add(doc_id)
            existing = self.lib.claim(self.collection_name, doc_id, source.name, size)
            if existing is not None:
                why = "already in the collection" if existing.status == "ready" else "being ingested by another session"
                if existing.file_name != source.name:
                    why += f" as {existing.file_name!r}"
                results[i] = self._duplicate(source, doc_id, why)
                continue
            claimed.append((i, _Doc(source, doc_id, size, started)))
        for r in results:
            if r is not None:
                self.progress.file_finished(r)

        pool = self.lib.extraction_pool()
        ahead = max(1, self.settings.workers) + 1
        queue: deque = deque()
        pending = deque(claimed)

        def fill() -> None:
            while pending and len(queue) < ahead:
                i, doc = pending.popleft()
                queue.append((i, doc, pool.submit(doc.source.path, doc.source.name, doc.source.password)))

        fill()
        n = 0
        while queue:
            i, doc, job = queue.popleft()
            fill()
            n += 1
            self.progress.file_started(doc.source.name, n, len(claimed))
            results[i] = self._ingest_one(doc, job)
            self.progress.file_finished(results[i])
        return [r for r in results if r is not None]

    def _ingest_one(self, doc: _Doc, job) -> FileResult:
        doc.started = time.monotonic()  # time spent queued behind other files is not this file's
        try:
            chunker = Chunker(
                self.lib.embedder,
                doc.doc_id,
                doc.source.name,
                max_tokens=self.settings.chunk_tokens,
                overlap=self.settings.chunk_overlap,
            )
            buffer: list[Chunk] = []
            for event in job.events():
                if isinstance(event, Opened):
                    self.progress.file_opened(doc.source.name, event.n_pages)
                    continue
                buffer.extend(chunker.add_page(self._accept(doc, event)))
                self.progress.pages_done(doc.source.name, 1)
                if len(buffer) >= _WRITE_BATCH:
                    self._write(doc, buffer)
                    buffer = []
            buffer.extend(chunker.finish())
            if buffer:
                self._write(doc, buffer)
            return self._finish(doc)
        except DocumentError as e:
            self._rollback(doc)
            return self._failed(doc.source, e, doc.doc_id, doc.started)
        except BaseException:
            # Anything else (a store failure, Ctrl-C) still must not leave half a document.
            self._rollback(doc)
            raise

    def _accept(self, doc: _Doc, page: Page) -> Page:
        doc.pages += 1
        if page.quality == "empty":
            doc.empty_pages.append(page.index)
        elif page.quality == "garbled":
            doc.garbled_pages.append(page.index)
        if page.quality != "empty":
            doc.page_flags.append(page.quality == "garbled")
        if page.quality == "garbled" and self.settings.garbled_pages == "skip":
            return Page(page.index, page.label, "", "garbled")
        return page

    def _write(self, doc: _Doc, chunks: list[Chunk]) -> None:
        vectors = self.lib.embedder.embed_documents([c.text for c in chunks])
        self.lib.store.add(self.collection, chunks, np.asarray(vectors))
        doc.chunks += len(chunks)
        doc.written.extend(chunks)
        self.progress.chunks_done(doc.source.name, len(chunks))

    def _warnings(self, doc: _Doc) -> list[str]:
        notes = []
        if doc.empty_pages:
            notes.append(
                f"{len(doc.empty_pages)} of {doc.pages} pages have no extractable text (scanned or image-only;"
                f" OCR needed): pages {_page_list(doc.empty_pages)}"
            )
        if doc.garbled_pages:
            action = "skipped" if self.settings.garbled_pages == "skip" else "indexed anyway"
            notes.append(
                f"{len(doc.garbled_pages)} pages extract as garbled text (broken font encoding), {action}:"
                f" pages {_page_list(doc.garbled_pages)}"
            )
        return notes

    def _finish(self, doc: _Doc) -> FileResult:
        name = doc.source.name
        if self.settings.garbled_pages == "skip" and document_garbled(doc.page_flags):
            raise NoTextError(
                name,
                f"the text layer is garbled on {len(doc.garbled_pages)} of {len(doc.page_flags)} text pages "
                "(broken font encoding); OCR needed",
                kind="garbled",
            )
        if doc.chunks == 0:
            if doc.garbled_pages:
                raise NoTextError(
                    name, "the text extracts as garbage (broken font encoding); OCR needed", kind="garbled"
                )
            raise NoTextError(name, "no extractable text (scanned or image-only PDF; OCR needed)")
        if self.settings.keep_originals:
            self.lib.keep_original(doc.source.path, doc.doc_id)
        replaced = (
            []
            if self.keep_both
            else [d.doc_id for d in self.lib.catalog.by_name(self.collection_name, name) if d.doc_id != doc.doc_id]
        )
        warnings = self._warnings(doc)
        self.lib.catalog.commit(
            self.collection_name, doc.doc_id, pages=doc.pages, chunks=doc.chunks, warnings=warnings, replaces=replaced
        )
        try:
            self.lib.searcher.committed(self.collection_name, doc.written, replaced)
        except RagError as e:  # the index is checked before every search and rebuilt when out of step
            log.error("lexical index update for %s failed: %s", name, e)
        for old in replaced:
            self.lib.purge(self.collection_name, old)
        return FileResult(
            str(doc.source.path),
            name,
            "replaced" if replaced else "ingested",
            doc_id=doc.doc_id,
            pages=doc.pages,
            chunks=doc.chunks,
            seconds=time.monotonic() - doc.started,
            warnings=tuple(warnings),
            replaced_doc_id=replaced[0] if replaced else None,
        )

    def _rollback(self, doc: _Doc) -> None:
        try:
            self.lib.purge(self.collection_name, doc.doc_id)
        except RagError as e:  # the next start's recovery finishes the job
            log.error("could not roll back %s: %s", doc.source.name, e)


def _page_list(indices: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy so that ``dest`` is either absent or complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
