"""A document's lifecycle across the catalogue, the vector store, the BM25 indexes and the kept originals:
claimed for ingestion, purged, deleted, and recovered after a crash. Ordered so that a document is fully
present or absent at every step, and each step is safe to repeat."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.encoders.embedder import Embedder
from rag.errors import NotFoundError, StoreError
from rag.index.catalog import Catalog
from rag.index.lexical_indexes import LexicalIndexes
from rag.index.store import VectorStore
from rag.models import DocumentInfo, content_hash

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)


class DocumentLifecycle:
    """The documents of one data directory: what is stored where, and how it is added and removed."""

    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        lexical: LexicalIndexes,
        files_dir: Path,
        embedder: Callable[[], Embedder],
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.lexical = lexical
        self.files_dir = files_dir
        self.embedder = embedder  # called when needed: deleting and recovering load no model

    def open_collection(self, name: str, *, create: bool = False) -> Collection:
        """The collection for searching or adding to: refuses one built with another embedding model."""
        embedder = self.embedder()
        return self.store.open(name, embedder.name, embedder.dim, create=create)

    def find(self, collection: str, ref: str) -> DocumentInfo:
        """A ready document by id, unique id prefix (4+ characters) or file name."""
        docs = self.catalog.documents(collection)
        exact = [d for d in docs if d.doc_id == ref or d.file_name == ref]
        matches = exact or ([d for d in docs if d.doc_id.startswith(ref)] if len(ref) >= 4 else [])
        if not matches:
            raise NotFoundError(f"no document {ref!r} in collection {collection!r}")
        if len(matches) > 1:
            raise NotFoundError(f"{ref!r} names {len(matches)} documents in {collection!r}: use the document id")
        return matches[0]

    def claim(
        self, collection: str, doc_id: str, file_name: str, size: int, sha256: str | None = None
    ) -> DocumentInfo | None:
        """Reserve a document for ingestion, or return the row that already holds it."""
        existing = self.catalog.begin(collection, doc_id, file_name, size, self.embedder().name, sha256)
        if existing is None:
            # A row taken over from a dead writer may have left chunks behind.
            self.store.delete_document(self.open_collection(collection, create=True), doc_id)
        return existing

    def delete(self, collection: str, ref: str) -> DocumentInfo:
        doc = self.find(collection, ref)
        self.catalog.mark_deleting(collection, doc.doc_id)
        self.lexical.removed(collection, doc.doc_id)
        self.purge(collection, doc.doc_id)
        return doc

    def delete_collection(self, name: str) -> None:
        for doc in self.catalog.documents(name, statuses=("pending", "ready", "deleting")):
            self.catalog.mark_deleting(name, doc.doc_id)
        self.store.drop(name)
        self.lexical.dropped(name)
        docs = self.catalog.documents(name, statuses=("deleting",))
        self.catalog.remove_collection(name)
        for doc in docs:
            self._drop_original(doc.sha256)

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

    def original_path(self, doc_id: str) -> Path | None:
        path = self.files_dir / f"{content_hash(doc_id)}.pdf"
        return path if path.exists() else None

    def keep_original(self, src: Path, doc_id: str) -> None:
        dest = self.files_dir / f"{doc_id}.pdf"
        if not dest.exists():
            copy_atomic(src, dest)

    def _drop_original(self, sha256: str) -> None:
        if not self.catalog.sha_in_use(sha256):
            (self.files_dir / f"{sha256}.pdf").unlink(missing_ok=True)


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy so that ``dest`` is either absent or complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
