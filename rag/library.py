"""The library facade: one object that owns the catalogue, the vector store and the embedder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.context import page_context
from rag.encoders.embedder import Embedder, load_embedder
from rag.encoders.rerank import Reranker, load_reranker
from rag.errors import ConfigError, NotFoundError, StoreError
from rag.index.catalog import Catalog
from rag.index.store import CollectionInfo, VectorStore
from rag.ingest.pipeline import Ingestor, Progress, Source, copy_atomic, expand_paths
from rag.ingest.worker import ExtractionPool
from rag.models import Chunk, DocumentInfo, FileResult, Hit, content_hash
from rag.retrieve.search import Searcher
from rag.settings import Settings

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)


class Library:
    """Everything a user does with documents: ingest, list, delete, search.

    Heavy parts (embedding model, Chroma client, worker processes) are created on first use
    and shared; build one Library per process and pass it around.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(settings.catalog_path)
        self.store = VectorStore.from_settings(settings)
        self._embedder = embedder
        self._pool: ExtractionPool | None = None
        self._lock = threading.Lock()
        self.searcher = Searcher(
            self,
            settings.lexical_dir,
            rrf_k=settings.rrf_k,
            lexical_weight=settings.lexical_weight,
            doc_weight=settings.doc_weight,
            max_per_page=settings.max_per_page,
            title_header=settings.title_header,
            rerank_top_n=settings.rerank_top_n,
        )
        self._reranker: Reranker | None = None
        self._reranker_error: ConfigError | None = None
        self.recover()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    @property
    def reranker(self) -> Reranker | None:
        """The cross-encoder RAG_RERANK_MODEL names, loaded on first use; None when reranking is off."""
        with self._lock:
            if self._reranker_error is not None:  # the settings do not change: neither would a retry
                raise ConfigError(str(self._reranker_error)) from self._reranker_error
            if self._reranker is None and self.settings.rerank_model:
                try:
                    self._reranker = load_reranker(self.settings.rerank_model, device=self.settings.device)
                except ConfigError as e:
                    self._reranker_error = e
                    raise
            return self._reranker

    def extraction_pool(self) -> ExtractionPool:
        with self._lock:
            if self._pool is None:
                self._pool = ExtractionPool.from_settings(self.settings)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # -- collections -------------------------------------------------------------------------

    def open_collection(self, name: str, *, create: bool = False) -> Collection:
        """The collection for searching or adding to: refuses one built with another embedding model."""
        return self.store.open(name, self.embedder.name, self.embedder.dim, create=create)

    def collections(self) -> list[CollectionInfo]:
        return self.store.collections()

    def delete_collection(self, name: str) -> None:
        for doc in self.catalog.documents(name, statuses=("pending", "ready", "deleting")):
            self.catalog.mark_deleting(name, doc.doc_id)
        self.store.drop(name)
        self.searcher.dropped(name)
        docs = self.catalog.documents(name, statuses=("deleting",))
        self.catalog.remove_collection(name)
        for doc in docs:
            self._drop_original(doc.sha256)

    # -- documents ---------------------------------------------------------------------------

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        return self.catalog.documents(collection)

    def find_document(self, collection: str, ref: str) -> DocumentInfo:
        """A ready document by id, unique id prefix (4+ characters) or file name."""
        docs = self.catalog.documents(collection)
        exact = [d for d in docs if d.doc_id == ref or d.file_name == ref]
        matches = exact or ([d for d in docs if d.doc_id.startswith(ref)] if len(ref) >= 4 else [])
        if not matches:
            raise NotFoundError(f"no document {ref!r} in collection {collection!r}")
        if len(matches) > 1:
            raise NotFoundError(f"{ref!r} names {len(matches)} documents in {collection!r}: use the document id")
        return matches[0]

    def delete_document(self, collection: str, ref: str) -> DocumentInfo:
        doc = self.find_document(collection, ref)
        self.catalog.mark_deleting(collection, doc.doc_id)
        self.searcher.removed(collection, doc.doc_id)
        self.purge(collection, doc.doc_id)
        return doc

    def document_chunks(self, collection: str, doc_id: str) -> list[Chunk]:
        return self.store.document_chunks(self.open_collection(collection), doc_id)

    def original_path(self, doc_id: str) -> Path | None:
        path = self.settings.files_dir / f"{content_hash(doc_id)}.pdf"
        return path if path.exists() else None

    # -- ingestion ---------------------------------------------------------------------------

    def claim(
        self, collection: str, doc_id: str, file_name: str, size: int, sha256: str | None = None
    ) -> DocumentInfo | None:
        """Reserve a document for ingestion, or return the row that already holds it."""
        existing = self.catalog.begin(collection, doc_id, file_name, size, self.embedder.name, sha256)
        if existing is None:
            # A row taken over from a dead writer may have left chunks behind.
            self.store.delete_document(self.open_collection(collection, create=True), doc_id)
        return existing

    def ingest(
        self,
        paths: Sequence[str | Path] | Sequence[Source],
        collection: str | None = None,
        *,
        password: str | None = None,
        keep_both: bool = False,
        progress: Progress | None = None,
        ocr: str | None = None,
    ) -> list[FileResult]:
        """Ingest files and folders (or ``Source``s with display names); one result per file.

        ``ocr`` overrides RAG_OCR for this batch; "force" also re-reads documents already in the collection.
        """
        # Duck-typed: Streamlit's reloader can leave objects of an older Source class around.
        given = list(paths)
        if given and all(hasattr(p, "path") and hasattr(p, "name") and hasattr(p, "password") for p in given):
            sources = given
        else:
            sources = [Source(p, p.name, password) for p in expand_paths(given)]
        ingestor = Ingestor(
            self, collection or self.settings.collection, keep_both=keep_both, progress=progress, ocr=ocr
        )
        return ingestor.run(sources)

    def keep_original(self, src: Path, doc_id: str) -> None:
        dest = self.settings.files_dir / f"{doc_id}.pdf"
        if not dest.exists():
            copy_atomic(src, dest)

    def _drop_original(self, sha256: str) -> None:
        if not self.catalog.sha_in_use(sha256):
            (self.settings.files_dir / f"{sha256}.pdf").unlink(missing_ok=True)

    def purge(self, collection: str, doc_id: str) -> None:
        """Remove a document's chunks, then its row (safe to repeat after a crash)."""
        try:
            # Deleting needs no vectors: not checking the model lets a document go whatever model is
            # configured now, and spares loading the embedder for it.
            self.store.delete_document(self.store.get_collection(collection), doc_id)
        except NotFoundError:
            pass
        self.catalog.remove(collection, doc_id)
        self._drop_original(content_hash(doc_id))

    def recover(self) -> int:
        """Finish what a crashed process left: half-written and half-deleted documents."""
        stale = self.catalog.stale()
        for doc in stale:
            log.warning("cleaning up %s %s in %r left by an interrupted run", doc.status, doc.file_name, doc.collection)
            try:
                collection = self.store.get_collection(doc.collection)  # no model check: see purge
                self.store.delete_document(collection, doc.doc_id)
            except NotFoundError:
                pass
            except StoreError as e:
                log.error("cleanup of %s failed: %s", doc.file_name, e)
                continue
            self.catalog.remove(doc.collection, doc.doc_id)
            self._drop_original(doc.sha256)
        return len(stale)

    # -- search ------------------------------------------------------------------------------

    def search(self, query: str, collection: str | None = None, k: int = 5, *, mode: str | None = None) -> list[Hit]:
        """The best chunks for a query among the ready documents of a collection.

        ``mode``: "hybrid" (BM25 and dense fused by reciprocal rank), "dense", "lexical" or
        "hybrid+rerank" (hybrid re-ordered by the cross-encoder); the default comes from the settings.
        """
        return self.searcher.search(query, collection or self.settings.collection, k, mode or self.settings.search_mode)

    def page_context(self, collection: str, hits: Sequence[Hit], budget: int | None = None) -> list[Hit]:
        """The model's sources for ranked hits: each hit's page read around it, within ``budget`` tokens
        (RAG_CONTEXT_TOKENS by default; see ``rag.answer.context``)."""
        col = self.open_collection(collection)
        budget = self.settings.context_tokens if budget is None else budget
        return page_context(hits, lambda ids: self.store.chunks_by_id(col, ids), budget)

    def expander(self, collection: str) -> Callable[[Sequence[Hit]], list[Hit]] | None:
        """What the chat gives a question's hits to make the model's sources; None when RAG_CONTEXT_TOKENS is 0."""
        if self.settings.context_tokens <= 0:
            return None
        return lambda hits: self.page_context(collection, hits)
