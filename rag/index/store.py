"""The vector store: Chroma collections of chunk vectors, tied to the model that made them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import ModelMismatchError, NotFoundError, StoreError
from rag.index.names import check_collection_name
from rag.models import Chunk

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from rag.settings import Settings

log = logging.getLogger(__name__)

_MODEL_KEY = "embedding_model"
_DIM_KEY = "embedding_dim"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    embedding_model: str
    embedding_dim: int
    chunks: int


def _chroma_error(action: str, e: Exception) -> StoreError:
    return StoreError(f"the vector store failed to {action}: {e}")


def _is_store_failure(e: Exception) -> bool:
    """Whether ``e`` is the store failing (Chroma, its disk or its server), not a bug in the caller."""
    import httpx
    from chromadb.errors import ChromaError

    # The HTTP client raises a bare Exception for a status it has no ChromaError for (a proxy's 502, say);
    # no programming error is exactly Exception, so matching the type exactly lets TypeError & co. through.
    return isinstance(e, ChromaError | httpx.HTTPError | OSError) or type(e) is Exception


@contextmanager
def _failing_to(action: str) -> Iterator[None]:
    """Raise the store's own failures inside the block as a StoreError that names ``action``."""
    try:
        yield
    except Exception as e:
        if not _is_store_failure(e):
            raise
        raise _chroma_error(action, e) from e


class VectorStore:
    """A Chroma client (embedded and persistent, or a Chroma server); methods take a collection."""

    def __init__(self, client: ClientAPI, where: str) -> None:
        self.client = client
        self.where = where
        try:
            self.max_batch = int(client.get_max_batch_size())
        except Exception as e:  # chromadb raises assorted types when its files or server are unusable
            raise _chroma_error(f"open {where}", e) from e

    @classmethod
    def persistent(cls, path: Path) -> VectorStore:
        import chromadb

        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
        except Exception as e:
            raise _chroma_error(f"open {path}", e) from e
        return cls(client, str(path))

    @classmethod
    def server(
        cls, host: str, port: int, *, ssl: bool = False, token: str = "", database: str = "default_database"
    ) -> VectorStore:
        """A Chroma server (``chroma run``), for a team sharing one store; the database is created if new."""
        import chromadb

        where = f"{'https' if ssl else 'http'}://{host}:{port}/{database}"
        headers = {"Authorization": f"Bearer {token}", "X-Chroma-Token": token} if token else None
        settings = chromadb.Settings(anonymized_telemetry=False)
        try:
            admin = chromadb.AdminClient(
                chromadb.Settings(
                    anonymized_telemetry=False,
                    chroma_api_impl="chromadb.api.fastapi.FastAPI",
                    chroma_server_host=host,
                    chroma_server_http_port=port,
                    chroma_server_ssl_enabled=ssl,
                    chroma_server_headers=headers,
                )
            )
            try:
                admin.get_database(database)
            except Exception:  # the server answers "not found" with assorted error types
                admin.create_database(database)
            client = chromadb.HttpClient(
                host=host, port=port, ssl=ssl, headers=headers, settings=settings, database=database
            )
        except Exception as e:
            raise _chroma_error(f"reach the Chroma server at {where} (is `chroma run` up?)", e) from e
        return cls(client, where)

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        if settings.chroma.host:
            return cls.server(
                settings.chroma.host,
                settings.chroma.port,
                ssl=settings.chroma.ssl,
                token=settings.chroma.token,
                database=settings.chroma.database,
            )
        return cls.persistent(settings.storage.chroma_dir)

    def get_collection(self, name: str) -> Collection:
        """The collection as stored, its embedding model unchecked: enough to read metadata or delete chunks.

        Everything that embeds (search, ingest) goes through ``open`` instead, which refuses another model.
        """
        from chromadb.errors import NotFoundError as ChromaNotFound

        with _failing_to(f"open collection {name!r}"):
            try:
                return self.client.get_collection(name, embedding_function=None)
            except ChromaNotFound as e:
                raise NotFoundError(f"collection {name!r} does not exist") from e

    def open(self, name: str, model: str, dim: int, *, create: bool = False) -> Collection:
        """The collection, checked against the embedding model in use; created on request."""
        try:
            collection = self.get_collection(name)
        except NotFoundError:
            if not create:
                raise
            check_collection_name(name)  # the app's one rule, in plain words (Chroma's message is raw)
            with _failing_to(f"create collection {name!r}"):
                collection = self.client.get_or_create_collection(
                    name,
                    # Vectors are normalised, so cosine distance is 1 - cosine similarity.
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={_MODEL_KEY: model, _DIM_KEY: dim},
                    embedding_function=None,
                )
        meta = collection.metadata or {}
        if meta.get(_MODEL_KEY) != model or int(meta.get(_DIM_KEY, -1)) != dim:
            raise ModelMismatchError(
                f"collection {name!r} was built with the embedding model {meta.get(_MODEL_KEY)!r} "
                f"({meta.get(_DIM_KEY)} dimensions), but {model!r} ({dim} dimensions) is configured. "
                f"Set RAG_EMBEDDING_MODEL={meta.get(_MODEL_KEY)} to use it, or pick another collection."
            )
        return collection

    def collections(self) -> list[CollectionInfo]:
        with _failing_to(f"list the collections in {self.where}"):
            return sorted((self._info(c) for c in self.client.list_collections()), key=lambda c: c.name)

    def info(self, name: str) -> CollectionInfo:
        return self._info(self.get_collection(name))

    @staticmethod
    def _info(c: Collection) -> CollectionInfo:
        meta = c.metadata or {}
        with _failing_to(f"count the chunks of collection {c.name!r}"):
            chunks = c.count()
        return CollectionInfo(c.name, str(meta.get(_MODEL_KEY, "?")), int(meta.get(_DIM_KEY, 0)), chunks)

    def drop(self, name: str) -> None:
        self.get_collection(name)
        with _failing_to(f"delete collection {name!r}"):
            self.client.delete_collection(name)

    def add(self, collection: Collection, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Write chunks in batches no larger than the client accepts."""
        for start in range(0, len(chunks), self.max_batch):
            part = chunks[start : start + self.max_batch]
            try:
                collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[start : start + len(part)],
                    documents=[c.text for c in part],
                    metadatas=[c.metadata() for c in part],
                )
            except Exception as e:
                raise _chroma_error("store chunks", e) from e

    def delete_document(self, collection: Collection, doc_id: str) -> None:
        try:
            collection.delete(where={"doc_id": doc_id})
        except Exception as e:
            raise _chroma_error(f"delete document {doc_id[:12]}", e) from e

    def count_document(self, collection: Collection, doc_id: str) -> int:
        with _failing_to(f"count the chunks of document {doc_id[:12]}"):
            return len(collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    def document_chunks(self, collection: Collection, doc_id: str) -> list[Chunk]:
        with _failing_to(f"read the chunks of document {doc_id[:12]}"):
            got = collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        chunks = [Chunk.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.position)

    def chunks_by_id(self, collection: Collection, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        with _failing_to("read chunks by id"):
            got = collection.get(ids=list(ids), include=["documents", "metadatas"])
        return [Chunk.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def vectors_by_id(self, collection: Collection, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with _failing_to("read chunk vectors by id"):
            got = collection.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def doc_ids(self, collection: Collection) -> set[str]:
        """Every document id that has chunks (a full scan: for consistency checks, not hot paths)."""
        with _failing_to(f"list the documents of collection {collection.name!r}"):
            got = collection.get(include=["metadatas"])
        return {str(m["doc_id"]) for m in got["metadatas"]}

    def query(
        self, collection: Collection, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with their cosine similarity, limited to the given documents."""
        if doc_ids is not None and not doc_ids:
            return []
        where = None
        if doc_ids is not None:
            where = {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
        try:
            res = collection.query(
                query_embeddings=[vector], n_results=k, where=where, include=["documents", "metadatas", "distances"]
            )
        except Exception as e:
            raise _chroma_error("search", e) from e
        return [
            (Chunk.from_record(i, t, m), 1.0 - float(d))
            for i, t, m, d in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]
