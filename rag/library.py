"""The composition root: builds the catalogue, the vector store, the BM25 indexes, the models and the
extraction workers from the settings, wires them into the parts that ingest and search, and gives the CLI
and the UI one object with thin methods over them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.context import page_context
from rag.encoders.embedder import Embedder
from rag.encoders.loading import load_embedder
from rag.encoders.rerank import Reranker, load_reranker
from rag.errors import ConfigError
from rag.index.catalog import Catalog
from rag.index.lexical_indexes import LexicalIndexes
from rag.index.lifecycle import DocumentLifecycle
from rag.index.store import CollectionInfo, VectorStore
from rag.ingest.pipeline import Ingestor
from rag.ingest.sources import Progress, Source, expand_paths
from rag.ingest.worker import ExtractionPool
from rag.models import Chunk, DocumentInfo, FileResult, Hit
from rag.retrieve.fallback import FallbackRetriever
from rag.retrieve.search import Searcher
from rag.settings import OcrMode, Settings

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

#: A document's first chunks, its title page or cover, read as not-found evidence (bench/notfound.py).
OPENING_CHUNKS = 3


class Library:
    """Everything a user does with documents: ingest, list, delete, search.

    Heavy parts (embedding model, Chroma client, worker processes) are created on first use
    and shared; build one Library per process and pass it around.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        self._embedder = embedder
        self._pool: ExtractionPool | None = None
        self._lock = threading.Lock()
        self._reranker: Reranker | None = None
        self._reranker_error: ConfigError | None = None
        self.catalog = Catalog(settings.storage.catalog_path)
        self.store = VectorStore.from_settings(settings)
        self.lexical = LexicalIndexes(
            settings.storage.lexical_dir,
            self.catalog,
            self.store,
            self._get_embedder,
            title_header=settings.ingest.title_header,
        )
        self.lifecycle = DocumentLifecycle(
            self.catalog, self.store, self.lexical, settings.storage.files_dir, self._get_embedder
        )
        self.searcher = Searcher(
            self.store,
            self.catalog,
            self.lexical,
            self._get_embedder,
            self._get_reranker,
            settings.retrieval,
            title_header=settings.ingest.title_header,
        )
        self.recover()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    def _get_embedder(self) -> Embedder:
        """What the parts call when they need the model (not before: it loads on first use)."""
        return self.embedder

    @property
    def reranker(self) -> Reranker | None:
        """The cross-encoder RAG_RERANK_MODEL names, loaded on first use; None when reranking is off."""
        with self._lock:
            if self._reranker_error is not None:  # the settings do not change: neither would a retry
                raise ConfigError(str(self._reranker_error)) from self._reranker_error
            if self._reranker is None and self.settings.retrieval.rerank_model:
                try:
                    self._reranker = load_reranker(
                        self.settings.retrieval.rerank_model, device=self.settings.embedding.device
                    )
                except ConfigError as e:
                    self._reranker_error = e
                    raise
            return self._reranker

    def _get_reranker(self) -> Reranker | None:
        """What the searcher calls for a reranked search: a model that fails to load says why then."""
        return self.reranker

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
        return self.lifecycle.open_collection(name, create=create)

    def collections(self) -> list[CollectionInfo]:
        return self.store.collections()

    def delete_collection(self, name: str) -> None:
        self.lifecycle.delete_collection(name)

    # -- documents ---------------------------------------------------------------------------

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        return self.catalog.documents(collection)

    def find_document(self, collection: str, ref: str) -> DocumentInfo:
        """A ready document by id, unique id prefix (4+ characters) or file name."""
        return self.lifecycle.find(collection, ref)

    def delete_document(self, collection: str, ref: str) -> DocumentInfo:
        return self.lifecycle.delete(collection, ref)

    def document_chunks(self, collection: str, doc_id: str) -> list[Chunk]:
        return self.store.document_chunks(self.open_collection(collection), doc_id)

    def original_path(self, doc_id: str) -> Path | None:
        return self.lifecycle.original_path(doc_id)

    def claim(
        self, collection: str, doc_id: str, file_name: str, size: int, sha256: str | None = None
    ) -> DocumentInfo | None:
        """Reserve a document for ingestion, or return the row that already holds it."""
        return self.lifecycle.claim(collection, doc_id, file_name, size, sha256)

    def purge(self, collection: str, doc_id: str) -> None:
        """Remove a document's chunks, then its row (safe to repeat after a crash)."""
        self.lifecycle.purge(collection, doc_id)

    def recover(self) -> int:
        """Finish what a crashed process left: half-written and half-deleted documents."""
        return self.lifecycle.recover()

    # -- ingestion ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | Path] | Sequence[Source],
        collection: str | None = None,
        *,
        password: str | None = None,
        keep_both: bool = False,
        progress: Progress | None = None,
        ocr: OcrMode | None = None,
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
            collection or self.settings.storage.collection,
            catalog=self.catalog,
            lifecycle=self.lifecycle,
            store=self.store,
            lexical=self.lexical,
            embedder=self.embedder,
            pool=self.extraction_pool,
            settings=self.settings.ingest,
            keep_both=keep_both,
            progress=progress,
            ocr=ocr,
        )
        return ingestor.run(sources)

    # -- search ------------------------------------------------------------------------------

    def search(self, query: str, collection: str | None = None, k: int = 5, *, mode: str | None = None) -> list[Hit]:
        """The best chunks for a query among the ready documents of a collection.

        ``mode``: "hybrid" (BM25 and dense fused by reciprocal rank), "dense", "lexical" or
        "hybrid+rerank" (hybrid re-ordered by the cross-encoder); the default comes from the settings.
        """
        return self.searcher.search(
            query, collection or self.settings.storage.collection, k, mode or self.settings.retrieval.search_mode
        )

    def retriever(self, collection: str, mode: str | None = None) -> FallbackRetriever:
        """What a chat retrieves with, in the app and in ``rag ask`` alike: ``mode`` (RAG_SEARCH_MODE by
        default), stepping down to a simpler mode, with a note, when this one cannot run."""
        return FallbackRetriever(self, collection, mode=mode or self.settings.retrieval.search_mode)

    def page_context(self, collection: str, hits: Sequence[Hit], budget: int | None = None) -> list[Hit]:
        """The model's sources for ranked hits: each hit's page read around it, within ``budget`` tokens
        (RAG_CONTEXT_TOKENS by default; see ``rag.answer.context``)."""
        col = self.open_collection(collection)
        budget = self.settings.answer.context_tokens if budget is None else budget
        return page_context(hits, lambda ids: self.store.chunks_by_id(col, ids), budget)

    def openings(self, collection: str) -> Callable[[Sequence[Hit]], list[str]]:
        """What the chat's not-found gate reads besides the hits: the first chunks of each hit's document
        (a filing's cover names the company its body pages call "we")."""
        col = self.open_collection(collection)

        def read(hits: Sequence[Hit]) -> list[str]:
            docs = dict.fromkeys(h.chunk.doc_id for h in hits)
            ids = [f"{doc}:{i}" for doc in docs for i in range(OPENING_CHUNKS)]
            return [c.text for c in self.store.chunks_by_id(col, ids)]

        return read

    def expander(self, collection: str) -> Callable[[Sequence[Hit]], list[Hit]] | None:
        """What the chat gives a question's hits to make the model's sources; None when RAG_CONTEXT_TOKENS is 0."""
        if self.settings.answer.context_tokens <= 0:
            return None
        return lambda hits: self.page_context(collection, hits)
