"""Ingest a batch of PDFs: dedupe, extract in bounded workers, chunk, embed, store, commit.

Each document is written under a ``pending`` catalogue row and becomes visible in one
transaction at the end; any failure removes what was written, so a document is either
fully present or absent, and one file's failure never stops the batch.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rag.encoders.embedder import Embedder
from rag.errors import DocumentError, NoTextError, RagError
from rag.index.catalog import Catalog
from rag.index.lexical_indexes import LexicalIndexes
from rag.index.lifecycle import DocumentLifecycle
from rag.index.store import VectorStore
from rag.ingest.chunker import Chunker, indexed_text
from rag.ingest.quality import document_garbled
from rag.ingest.report import DocState, DocumentNotes
from rag.ingest.sources import Progress, Source, sha256_file
from rag.ingest.worker import ExtractionPool, OcrStarted, Opened
from rag.models import REOCR_SUFFIX, Chunk, DocumentInfo, FileResult, Page
from rag.settings import IngestSettings, OcrMode

log = logging.getLogger(__name__)

_WRITE_BATCH = 64  # chunks embedded and stored together; bounds memory for long documents
# Chunks embedded between two progress reports: a whole write batch took ~20 s on a busy 2-core machine, with
# "0 chunks embedded" on the page all that time.
_EMBED_STEP = 16


class Ingestor:
    """Runs one batch into a collection, with the parts the library built (catalogue, lifecycle, store, BM25
    indexes, embedder, extraction workers) and the settings."""

    def __init__(
        self,
        collection: str,
        *,
        catalog: Catalog,
        lifecycle: DocumentLifecycle,
        store: VectorStore,
        lexical: LexicalIndexes,
        embedder: Embedder,
        pool: Callable[[], ExtractionPool],
        settings: IngestSettings,
        keep_both: bool = False,
        progress: Progress | None = None,
        ocr: OcrMode | None = None,
    ) -> None:
        self.catalog = catalog
        self.lifecycle = lifecycle
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self._pool = pool  # called once the batch knows it has files to read: the worker processes start late
        self.ocr = ocr  # None: RAG_OCR; "force" also re-reads documents already in the collection
        self.settings = settings
        self.collection_name = collection
        self.keep_both = keep_both
        self.progress = progress or Progress()
        self.collection = lifecycle.open_collection(collection, create=True)
        self._committed: set[str] = set()  # documents this batch made visible
        self.notes = DocumentNotes(settings, ocr)

    def _duplicate(self, source: Source, doc_id: str, why: str) -> FileResult:
        return FileResult(str(source.path), source.name, "duplicate", doc_id=doc_id, reason=why)

    def _already_here(self, source: Source, existing: DocumentInfo) -> FileResult:
        """A file whose bytes the collection holds, or another session is ingesting."""
        why = "already in the collection" if existing.status == "ready" else "being ingested by another session"
        if existing.file_name != source.name:
            why += f" as {existing.file_name!r}"
        return self._duplicate(source, existing.doc_id, why)

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
        results, claimed = self._claim(sources)
        for r in results:
            if r is not None:
                self.progress.file_finished(r)

        self._extract(results, claimed)
        return [r for r in results if r is not None]

    def _claim(self, sources: Sequence[Source]) -> tuple[list[FileResult | None], list[tuple[int, DocState]]]:
        """Each source checked, deduplicated and claimed: a result for those that end here, a document for the
        rest (with its place in the batch)."""
        results: list[FileResult | None] = [None] * len(sources)
        claimed: list[tuple[int, DocState]] = []
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
            sha = doc_id
            present = self.catalog.by_sha(self.collection_name, sha)
            if present and self.ocr == "force":
                # Re-OCR of a document already here: the new reading goes in under the other id of the same
                # bytes and replaces the old one when complete, as a new version of a file does.
                taken = {d.doc_id for d in present}
                doc_id = next((x for x in (sha, sha + REOCR_SUFFIX) if x not in taken), sha)
            elif present:
                results[i] = self._already_here(source, present[0])
                continue
            existing = self.lifecycle.claim(self.collection_name, doc_id, source.name, size, sha)
            if existing is not None:
                results[i] = self._already_here(source, existing)
                continue
            claimed.append((i, DocState(source, doc_id, size, started, sha, [d.doc_id for d in present])))
        return results, claimed

    def _extract(self, results: list[FileResult | None], claimed: list[tuple[int, DocState]]) -> None:
        """Read, chunk, embed and commit the claimed documents, filling in their ``results``."""
        pool = self._pool()
        ahead = max(1, self.settings.workers) + 1
        queue: deque = deque()
        pending = deque(claimed)

        def fill() -> None:
            while pending and len(queue) < ahead:
                i, doc = pending.popleft()
                job = pool.submit(doc.source.path, doc.source.name, doc.source.password, ocr_mode=self.ocr)
                queue.append((i, doc, job))

        fill()
        taken = itertools.count(1)
        total = len(claimed)

        def later_file_ready() -> bool:
            return any(job.finished.is_set() for _, _, job in queue)

        # One writer thread: a batch goes into the store while the next one is embedded.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        current = None
        try:
            while queue or current is not None:
                if current is None:
                    current = queue.popleft()
                    fill()
                    current[1].index = next(taken)
                    self.progress.file_started(current[1].source.name, current[1].index, total)
                i, doc, job = current
                result = self._ingest_one(doc, job, yield_to=later_file_ready)
                if result is None:
                    # This file waits on its extraction (a scan being OCR'd, page by page) while a later file is
                    # fully read: that one goes in first rather than waiting minutes behind the scan.
                    k = next(k for k, (_, _, other) in enumerate(queue) if other.finished.is_set())
                    ri, rdoc, rjob = queue[k]
                    del queue[k]
                    fill()
                    rdoc.index = next(taken)
                    self.progress.file_started(rdoc.source.name, rdoc.index, total)
                    results[ri] = self._ingest_one(rdoc, rjob)
                    self.progress.file_finished(results[ri])
                    self._resume_progress(doc, total)
                    continue
                results[i] = result
                self.progress.file_finished(result)
                current = None
        finally:
            self._writer.shutdown(wait=True)
            # An aborted batch (Ctrl-C, a stopped app) must not leave the files it had not reached claimed as
            # pending: in a long-running app they would read as "being ingested by another session" until restart.
            for i, doc in claimed:
                if results[i] is None:
                    self._rollback(doc)

    def _resume_progress(self, doc: DocState, total: int) -> None:
        """Progress back on a paused file, with what it had done."""
        name = doc.source.name
        self.progress.file_started(name, doc.index, total)
        if doc.n_pages is not None:
            self.progress.file_opened(name, doc.n_pages)
        if doc.pages:
            self.progress.pages_done(name, doc.pages)
        if doc.chunks + len(doc.buffer):
            self.progress.chunks_found(name, doc.chunks + len(doc.buffer))
        if doc.chunks:
            self.progress.chunks_embedded(name, doc.chunks)
            self.progress.chunks_done(name, doc.chunks)

    def _ingest_one(self, doc: DocState, job, yield_to: Callable[[], bool] | None = None) -> FileResult | None:
        """Ingest one document to its end; or None, paused, when its next event is not there yet and
        ``yield_to()`` says another file should go first (call again to go on)."""
        try:
            if doc.events is None:
                doc.started = time.monotonic()  # time spent queued behind other files is not this file's
                doc.chunker = Chunker(
                    self.embedder,
                    doc.doc_id,
                    doc.source.name,
                    max_tokens=self.settings.chunk_tokens,
                    overlap=self.settings.chunk_overlap,
                )
                doc.events = job.events()
            while True:
                if yield_to is not None:
                    while not job.wait(0.1):
                        if yield_to():
                            return None
                event = next(doc.events, None)
                if event is None:
                    break
                if isinstance(event, Opened):
                    doc.n_pages = event.n_pages
                    self.progress.file_opened(doc.source.name, event.n_pages)
                    continue
                if isinstance(event, OcrStarted):
                    self.progress.ocr_started(doc.source.name, event.page)
                    continue
                cut = doc.chunker.add_page(self._accept(doc, event))
                doc.buffer.extend(cut)
                if cut:
                    self.progress.chunks_found(doc.source.name, len(cut))
                self.progress.pages_done(doc.source.name, 1)
                if len(doc.buffer) >= _WRITE_BATCH:
                    self._write(doc, doc.buffer)
                    doc.buffer = []
            cut = doc.chunker.finish()
            doc.buffer.extend(cut)
            if cut:
                self.progress.chunks_found(doc.source.name, len(cut))
            if doc.buffer:
                self._write(doc, doc.buffer)
                doc.buffer = []
            self._written(doc)
            return self._finish(doc)
        except DocumentError as e:
            self._rollback(doc)
            return self._failed(doc.source, e, doc.doc_id, doc.started)
        except (RagError, OSError) as e:
            # The store, the embedder or the disk failed on this file: it goes back out whole, and the
            # batch goes on (the next file may well succeed: a transient lock, a full disk freed).
            return self._store_failed(doc, e)
        except BaseException:
            # Anything else (Ctrl-C, a bug) still must not leave half a document.
            self._rollback(doc)
            raise

    def _store_failed(self, doc: DocState, e: Exception) -> FileResult:
        log.error("ingesting %s failed: %s", doc.source.name, e)
        self._rollback(doc)
        reason = f"it could not be stored ({e}); nothing of it was kept, try again"
        return self._failed(doc.source, DocumentError(doc.source.name, reason, kind="store"), doc.doc_id, doc.started)

    def _accept(self, doc: DocState, page: Page) -> Page:
        doc.pages += 1
        if page.ocr:
            if page.quality == "empty":
                doc.ocr_blank.append(page.index)
            elif page.quality == "garbled":
                doc.ocr_garbled.append(page.index)
            else:
                doc.ocr_pages.append(page.index)
                if page.ocr_confidence is not None:
                    doc.ocr_confidences.append(page.ocr_confidence)
        if page.quality == "empty":
            doc.empty_pages.append(page.index)
        elif page.quality == "garbled":
            doc.garbled_pages.append(page.index)
        if page.quality != "empty":
            doc.page_flags.append(page.quality == "garbled")
        if page.quality == "garbled" and self.settings.garbled_pages == "skip":
            return Page(page.index, page.label, "", "garbled")
        return page

    def _write(self, doc: DocState, chunks: list[Chunk]) -> None:
        texts = [indexed_text(c, self.settings.title_header) for c in chunks]
        parts = []
        for start in range(0, len(texts), _EMBED_STEP):  # reported step by step: the page's count moves
            step = texts[start : start + _EMBED_STEP]
            parts.append(np.asarray(self.embedder.embed_documents(step)))
            self.progress.chunks_embedded(doc.source.name, len(step))
        vectors = np.vstack(parts)
        self._written(doc)  # at most one batch in flight: memory stays bounded, errors surface here
        doc.writing = self._writer.submit(self.store.add, self.collection, chunks, vectors)
        doc.chunks += len(chunks)
        doc.written.extend(chunks)
        self.progress.chunks_done(doc.source.name, len(chunks))

    def _finish(self, doc: DocState) -> FileResult:
        name = doc.source.name
        if self.settings.garbled_pages == "skip" and document_garbled(doc.page_flags):
            raise NoTextError(
                name,
                f"the text layer is garbled on {len(doc.garbled_pages)} of {len(doc.page_flags)} text pages "
                "(broken font encoding); OCR needed" + self.notes.garbled_advice(doc),
                kind="garbled",
            )
        if doc.chunks == 0:
            if doc.garbled_pages:
                raise NoTextError(
                    name,
                    "the text extracts as garbage (broken font encoding); OCR needed" + self.notes.garbled_advice(doc),
                    kind="garbled",
                )
            raise NoTextError(name, self.notes.no_text_reason(doc))
        if self.settings.keep_originals:
            self.lifecycle.keep_original(doc.source.path, doc.sha256)
        same_name = [d for d in self.catalog.by_name(self.collection_name, name) if d.doc_id != doc.doc_id]
        # Two files of one batch with one name (a/report.pdf, b/report.pdf) are two documents, not versions.
        replaced = [] if self.keep_both else [d.doc_id for d in same_name if d.doc_id not in self._committed]
        replaced += [x for x in doc.rereads if x not in replaced]
        warnings = self.notes.warnings(doc)
        if doc.rereads:
            warnings.insert(0, "re-read with OCR (every page, text layers ignored); replaces the earlier reading")
        if not self.keep_both and len(replaced) < len(same_name):
            warnings.append(f"another file named {name!r} in this batch was kept too: both are in the collection")
        self.catalog.commit(
            self.collection_name,
            doc.doc_id,
            pages=doc.pages,
            chunks=doc.chunks,
            warnings=warnings,
            replaces=replaced,
            ocr_pages=len(doc.ocr_pages),
            ocr_confidence=doc.mean_ocr_confidence,
        )
        self._committed.add(doc.doc_id)
        try:
            self.lexical.committed(self.collection_name, doc.written, replaced)
        except RagError as e:  # the index is checked before every search and rebuilt when out of step
            log.error("lexical index update for %s failed: %s", name, e)
        for old in replaced:
            self.lifecycle.purge(self.collection_name, old)
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

    def _written(self, doc: DocState) -> None:
        """Wait for the document's store write in flight; raises what it raised."""
        writing, doc.writing = doc.writing, None
        if writing is not None:
            writing.result()

    def _rollback(self, doc: DocState) -> None:
        try:
            self._written(doc)  # the purge must come after the last write, or it would miss chunks
        except Exception as e:  # the write's own failure; the purge below still runs
            log.error("store write for %s failed: %s", doc.source.name, e)
        try:
            self.lifecycle.purge(self.collection_name, doc.doc_id)
        except RagError as e:  # the next start's recovery finishes the job
            log.error("could not roll back %s: %s", doc.source.name, e)
