"""The BM25 indexes of one data directory, one per collection, kept in step with the catalogue.

Each collection's index is updated after every commit and delete, checked against the ready documents
before each search, reloaded when another process changed it, and rebuilt from the stored chunks when
missing or out of step. A rebuild runs in the background while the old index (its hits limited to ready
documents) keeps serving; only a collection with no index at all waits for it.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from rag.encoders.embedder import Embedder
from rag.errors import RagError
from rag.index.catalog import Catalog
from rag.index.lexical import LexicalIndex
from rag.index.store import VectorStore
from rag.ingest.chunker import indexed_text
from rag.models import Chunk

log = logging.getLogger(__name__)


class LexicalIndexes:
    """Owns the lexical indexes under ``directory``; rebuilds read the chunks back from the vector store."""

    def __init__(
        self,
        directory: Path,
        catalog: Catalog,
        store: VectorStore,
        embedder: Callable[[], Embedder],
        *,
        title_header: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.catalog = catalog
        self.store = store
        self.embedder = embedder  # called when a rebuild needs the collection: the model loads on first use
        self.title_header = title_header
        self._indexes: dict[str, LexicalIndex] = {}
        self._lock = threading.Lock()
        self._rebuilding: dict[str, threading.Thread] = {}

    def _path(self, collection: str) -> Path:
        return self.directory / collection

    def index(self, collection: str, *, wait: bool = True) -> LexicalIndex:
        """The collection's BM25 index, brought in step with its ready documents.

        ``wait=False``: an out-of-step index that still holds chunks is returned at once and
        rebuilt in the background; hits of documents it should no longer hold are the caller's
        to drop. An empty one is always rebuilt first.
        """
        ids, total = self.catalog.ready_summary(collection)
        with self._lock:
            idx = self._indexes.get(collection)
            if idx is not None and idx.in_step_with(ids, total):
                return idx
            idx = LexicalIndex.open(self._path(collection))  # another process may have written it
            self._indexes[collection] = idx
            if idx.in_step_with(ids, total):  # also False while a rebuild is due
                return idx
            if not wait and len(idx) > 0:
                if collection not in self._rebuilding:
                    thread = threading.Thread(
                        target=self._rebuild, args=(collection, idx, ids, True), name=f"bm25-{collection}", daemon=True
                    )
                    self._rebuilding[collection] = thread
                    thread.start()
                return idx
        self._rebuild(collection, idx, ids)
        return idx

    def _rebuild(self, collection: str, idx: LexicalIndex, ids: Sequence[str], background: bool = False) -> None:
        log.info("rebuilding the lexical index of %r (%d documents)", collection, len(ids))
        try:
            idx.rebuild(self._records(collection, ids))
        except RagError as e:
            if not background:
                raise
            log.error("rebuilding the lexical index of %r failed (retried at the next search): %s", collection, e)
        finally:
            if background:
                with self._lock:
                    self._rebuilding.pop(collection, None)

    def wait_for_rebuilds(self, timeout: float | None = None) -> None:
        """Block until background rebuilds end (tests, shutdown)."""
        with self._lock:
            threads = list(self._rebuilding.values())
        for thread in threads:
            thread.join(timeout)

    def _records(self, collection: str, ids: Sequence[str]) -> Iterator[tuple[str, str, str]]:
        embedder = self.embedder()
        col = self.store.open(collection, embedder.name, embedder.dim)
        for doc_id in ids:
            for chunk in self.store.document_chunks(col, doc_id):
                yield chunk.chunk_id, chunk.doc_id, indexed_text(chunk, self.title_header)

    def committed(self, collection: str, chunks: Sequence[Chunk], removed: Sequence[str]) -> None:
        """A document became ready (and ``removed`` ones went): update the index in one write."""
        with self._lock:
            idx = self._indexes.get(collection) or LexicalIndex.open(self._path(collection))
            self._indexes[collection] = idx
            idx.apply(add=[replace(c, text=indexed_text(c, self.title_header)) for c in chunks], remove=removed)

    def removed(self, collection: str, doc_id: str) -> None:
        with self._lock:
            idx = self._indexes.get(collection) or LexicalIndex.open(self._path(collection))
            self._indexes[collection] = idx
            idx.remove(doc_id)

    def dropped(self, collection: str) -> None:
        with self._lock:
            self._indexes.pop(collection, None)
            shutil.rmtree(self._path(collection), ignore_errors=True)
