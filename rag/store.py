"""The vector store: Chroma collections of chunk vectors, tied to the model that made them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelMismatchError, NotFoundError, StoreError
from .models import Chunk

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


class VectorStore:
    """A Chroma client (embedded and persistent, or a Chroma server); methods take a collection."""

    def __init__(self, client, where: str) -> None:
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
    def from_settings(cls, settings) -> VectorStore:
        if settings.chroma_host:
            return cls.server(
                settings.chroma_host,
                settings.chroma_port,
                ssl=settings.chroma_ssl,
                token=settings.chroma_token,
                database=settings.chroma_database,
            )
        return cls.persistent(settings.chroma_dir)

    def _get(self, name: str):
        from chromadb.errors import NotFoundError as ChromaNotFound

        try:
            return self.client.get_collection(name, embedding_function=None)
        except (ChromaNotFound, ValueError) as e:
            raise NotFoundError(f"collection {name!r} does not exist") from e

    def open(self, name: str, model: str, dim: int, *, create: bool = False):
        """The collection, checked against the embedding model in use; created on request."""
        try:
            collection = self._get(name)
        except NotFoundError:
            if not create:
                raise
            try:
                collection = self.client.get_or_create_collection(
                    name,
                    # Vectors are normalised, so cosine distance is 1 - cosine similarity.
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={_MODEL_KEY: model, _DIM_KEY: dim},
                    embedding_function=None,
                )
            except Exception as e:  # invalid names and storage failures alike
                raise _chroma_error(f"create collection {name!r}", e) from e
        meta = collection.metadata or {}
        if meta.get(_MODEL_KEY) != model or int(meta.get(_DIM_KEY, -1)) != dim:
            raise ModelMismatchError(
                f"collection {name!r} was built with the embedding model {meta.get(_MODEL_KEY)!r} "
                f"({meta.get(_DIM_KEY)} dimensions), but {model!r} ({dim} dimensions) is configured. "
                f"Set RAG_EMBEDDING_MODEL={meta.get(_MODEL_KEY)} to use it, or pick another collection."
            )
        return collection

    def collections(self) -> list[CollectionInfo]:
        out = []
        for c in self.client.list_collections():
            meta = c.metadata or {}
            out.append(CollectionInfo(c.name, str(meta.get(_MODEL_KEY, "?")), int(meta.get(_DIM_KEY, 0)), c.count()))
        return sorted(out, key=lambda c: c.name)

    def info(self, name: str) -> CollectionInfo:
        c = self._get(name)
        meta = c.metadata or {}
        return CollectionInfo(c.name, str(meta.get(_MODEL_KEY, "?")), int(meta.get(_DIM_KEY, 0)), c.count())

    def drop(self, name: str) -> None:
        self._get(name)
        self.client.delete_collection(name)

    def add(self, collection, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
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

    def delete_document(self, collection, doc_id: str) -> None:
        try:
            collection.delete(where={"doc_id": doc_id})
        except Exception as e:
            raise _chroma_error(f"delete document {doc_id[:12]}", e) from e

    def count_document(self, collection, doc_id: str) -> int:
        return len(collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    def document_chunks(self, collection, doc_id: str) -> list[Chunk]:
        got = collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        chunks = [Chunk.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.position)

    def chunks_by_id(self, collection, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        got = collection.get(ids=list(ids), include=["documents", "metadatas"])
        return [Chunk.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def vectors_by_id(self, collection, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = collection.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def doc_ids(self, collection) -> set[str]:
        """Every document id that has chunks (a full scan: for consistency checks, not hot paths)."""
        got = collection.get(include=["metadatas"])
        return {str(m["doc_id"]) for m in got["metadatas"]}

    def query(
        self, collection, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
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
