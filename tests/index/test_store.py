"""The vector store against real Chroma: its failures come out as the project's own errors."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import ModelMismatchError, NotFoundError, StoreError
from rag.index.store import VectorStore
from rag.models import Chunk
from rag.settings import Settings


def _chunk(i: int) -> Chunk:
    return Chunk(f"doc-a:{i}", "doc-a", "a.pdf", i, i, i, str(i + 1), f"text {i}", 2)


@pytest.fixture
def store(settings: Settings) -> VectorStore:
    return VectorStore.from_settings(settings)


def test_reads_of_a_collection_dropped_by_another_client_are_store_errors(store, settings):
    col = store.open("papers", "example/model", 3, create=True)
    store.add(col, [_chunk(0), _chunk(1)], np.eye(3, dtype=np.float32)[:2])
    assert store.count_document(col, "doc-a") == 2
    VectorStore.from_settings(settings).drop("papers")  # another process, say, while this one holds the handle

    reads = {
        "count the chunks of document doc-a": lambda: store.count_document(col, "doc-a"),
        "read the chunks of document doc-a": lambda: store.document_chunks(col, "doc-a"),
        "read chunks by id": lambda: store.chunks_by_id(col, ["doc-a:0"]),
        "read chunk vectors by id": lambda: store.vectors_by_id(col, ["doc-a:0"]),
        "list the documents of collection 'papers'": lambda: store.doc_ids(col),
    }
    for action, read in reads.items():
        with pytest.raises(StoreError, match=f"failed to {action}: .*does not exist") as info:
            read()
        assert type(info.value.__cause__).__module__ == "chromadb.errors"  # Chroma's own error, kept as the cause
    for missing in (lambda: store.info("papers"), lambda: store.drop("papers"), lambda: store.get_collection("papers")):
        with pytest.raises(NotFoundError, match="collection 'papers' does not exist"):
            missing()
    assert store.collections() == []


def test_an_invalid_collection_name_is_refused_in_plain_words(store):
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot create collection 'x': .* at least 3 characters"):
        store.open("x", "example/model", 3, create=True)
    assert store.collections() == []


def test_programming_errors_are_not_disguised_as_store_failures(store):
    col = store.open("papers", "example/model", 3, create=True)
    with pytest.raises(ValueError, match="Expected ID to be a str"):
        store.chunks_by_id(col, [1])  # type: ignore[list-item]


def test_get_collection_skips_the_model_check_that_open_makes(store):
    store.open("papers", "example/model", 3, create=True)
    with pytest.raises(ModelMismatchError, match="example/model"):
        store.open("papers", "example/other", 6)
    col = store.get_collection("papers")  # what deleting uses: any configured model may delete
    assert col.name == "papers" and store.info("papers").embedding_model == "example/model"
