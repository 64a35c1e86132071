import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag.encoders.embedder import Embedder
from rag.errors import ModelMismatchError, NotFoundError
from rag.library import Library
from tests.conftest import ROOT, shared_path

ATTENTION = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
DPR = ("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")


def _chunk_count(lib: Library, collection: str = "documents") -> int:
    return lib.open_collection(collection).count()


def test_ingest_search_and_page_numbers(library):
    pdf = shared_path(*ATTENTION)
    [result] = library.ingest([pdf])
    assert result.status == "ingested" and result.pages == 15 and result.chunks > 20
    assert result.doc_id == __import__("hashlib").sha256(pdf.read_bytes()).hexdigest()
    hits = library.search(
        "What BLEU score does the big Transformer reach on WMT 2014 English-to-German?", k=5, mode="dense"
    )
    assert hits and all(h.chunk.file_name == pdf.name for h in hits)
    assert any("28.4" in h.chunk.text for h in hits)
    ranks = [h.dense_rank for h in hits]
    assert ranks[0] == 1 and ranks == sorted(set(ranks))  # increasing; pages already shown are skipped
    assert hits[0].score >= hits[-1].score
    [doc] = library.documents("documents")
    assert (doc.pages, doc.chunks, doc.status) == (15, result.chunks, "ready")
    assert _chunk_count(library) == result.chunks
    assert library.original_path(result.doc_id).read_bytes() == pdf.read_bytes()


def test_same_bytes_again_are_a_duplicate_no_op(library, tmp_path):
    pdf = shared_path(*ATTENTION)
    first = library.ingest([pdf])[0]
    copy = tmp_path / "another-name.pdf"
    shutil.copy(pdf, copy)
    again = library.ingest([pdf, copy])
    assert [r.status for r in again] == ["duplicate", "duplicate"]
    assert "already in the collection" in again[0].reason
    assert _chunk_count(library) == first.chunks
    assert len(library.documents("documents")) == 1


def test_same_name_new_bytes_replaces_unless_keep_both(library, tmp_path):
    v1 = tmp_path / "v1" / "paper.pdf"
    v2 = tmp_path / "v2" / "paper.pdf"
    for src, dest in ((ATTENTION, v1), (DPR, v2)):
        dest.parent.mkdir()
        shutil.copy(shared_path(*src), dest)
    old = library.ingest([v1])[0]
    new = library.ingest([v2])[0]
    assert new.status == "replaced" and new.replaced_doc_id == old.doc_id
    [doc] = library.documents("documents")
    assert doc.doc_id == new.doc_id
    assert _chunk_count(library) == new.chunks
    assert library.original_path(old.doc_id) is None

    v1_again = library.ingest([v1], keep_both=True)[0]
    assert v1_again.status == "ingested"
    assert {d.doc_id for d in library.documents("documents")} == {new.doc_id, old.doc_id}
    assert _chunk_count(library) == new.chunks + v1_again.chunks


def test_two_files_of_one_batch_with_one_name_are_both_kept(library, tmp_path):
    for folder, parts in (("a", ATTENTION), ("b", DPR)):
        (tmp_path / folder).mkdir()
        shutil.copy(shared_path(*parts), tmp_path / folder / "report.pdf")
    first, second = library.ingest([tmp_path])  # a folder: a/report.pdf, then b/report.pdf
    assert (first.status, second.status) == ("ingested", "ingested")
    # Whichever went in second (a file read sooner may go first) says the other was kept too.
    warned = [r for r in (first, second) if any("in this batch was kept too" in w for w in r.warnings)]
    assert len(warned) == 1
    assert sorted(d.doc_id for d in library.documents("documents")) == sorted([first.doc_id, second.doc_id])
    [newer] = library.ingest([tmp_path / "a" / "report.pdf"])  # a later batch: the same bytes, a duplicate
    assert newer.status == "duplicate"


def test_delete_by_name_and_by_id_prefix(library):
    a, b = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    library.delete_document("documents", a.file_name)
    library.delete_document("documents", b.doc_id[:10])
    assert library.documents("documents") == []
    assert _chunk_count(library) == 0
    with pytest.raises(NotFoundError):
        library.delete_document("documents", "nothing-like-this")


class _OtherModel(Embedder):
    """The real model under another name and a wider vector: what a different model looks like."""

    def __init__(self, real: Embedder) -> None:
        self.real = real
        self.name, self.dim, self.max_tokens = "example/other-model", real.dim * 2, real.max_tokens

    def count_tokens(self, texts):
        return self.real.count_tokens(texts)

    def token_offsets(self, text):
        return self.real.token_offsets(text)

    def embed_documents(self, texts):
        v = self.real.embed_documents(texts)
        return np.hstack([v, v]) / np.sqrt(2)

    def embed_query(self, text):
        v = self.real.embed_query(text)
        return np.concatenate([v, v]) / np.sqrt(2)


def test_a_collection_refuses_another_embedding_model(library, settings, embedder):
    library.ingest([shared_path(*ATTENTION)])
    other = Library(settings, embedder=_OtherModel(embedder))
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2") as info:
        other.search("attention", "documents")
    assert "example/other-model" in str(info.value)
    with pytest.raises(ModelMismatchError):
        other.ingest([shared_path(*DPR)], "documents")
    # The other model gets its own collection instead.
    [result] = other.ingest([shared_path(*DPR)], "wide-vectors")
    assert result.status == "ingested"
    assert other.search("dense passage retrieval", "wide-vectors", k=1)[0].chunk.file_name.startswith("dpr")
    other.close()


def test_a_second_process_sees_what_the_first_wrote(library, settings):
    [result] = library.ingest([shared_path(*ATTENTION)], "papers")
    env = {**os.environ, "RAG_DATA_DIR": str(settings.storage.data_dir), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "rag", "list", "--json"], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    [collection] = json.loads(out.stdout)
    assert collection["name"] == "papers" and collection["chunks"] == result.chunks
    assert [(d["doc_id"], d["chunks"]) for d in collection["documents"]] == [(result.doc_id, result.chunks)]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag",
            "search",
            "scaled dot-product attention",
            "--collection",
            "papers",
            "-k",
            "3",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    hits = json.loads(out.stdout)
    assert len(hits) == 3
    assert {"doc_id", "file_name", "page", "chunk_id", "score", "dense_score", "text"} <= set(hits[0])
    assert hits[0]["doc_id"] == result.doc_id and 0 <= hits[0]["page"] < 15


def test_delete_collection_removes_everything(library):
    library.ingest([shared_path(*ATTENTION)], "temp-collection")
    library.delete_collection("temp-collection")
    assert "temp-collection" not in [c.name for c in library.collections()]
    assert library.documents("temp-collection") == []


def test_limits_on_file_size_and_page_count_are_clear_errors(library, settings):
    pdf = shared_path(*ATTENTION)
    small_files = Library(settings.with_(max_file_mb=1), embedder=library.embedder)
    [too_big] = small_files.ingest([pdf])
    assert too_big.status == "failed" and too_big.error_kind == "resource_limit"
    assert f"{pdf.stat().st_size / 2**20:.1f} MB, more than the limit of 1 MB (RAG_MAX_FILE_MB)" in too_big.reason
    small_files.close()
    short_files = Library(settings.with_(max_pages=10), embedder=library.embedder)
    [too_long] = short_files.ingest([pdf])
    assert too_long.error_kind == "resource_limit" and "15 pages, more than the limit of 10" in too_long.reason
    assert short_files.documents("documents") == []
    short_files.close()


def test_not_a_pdf_and_empty_files_fail_with_reasons(library, tmp_path):
    text = tmp_path / "notes.pdf"
    text.write_text("just some text pretending to be a PDF")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.pdf"
    results = {r.file_name: r for r in library.ingest([text, empty, missing])}
    assert "not a valid PDF" in results["notes.pdf"].reason
    assert results["empty.pdf"].reason == "the file is empty (0 bytes)"
    assert "cannot read the file" in results["missing.pdf"].reason
    assert library.documents("documents") == []


def test_a_store_write_failing_mid_document_leaves_nothing_behind(library, monkeypatch):
    """Store writes overlap the next batch's embedding; a failed one still rolls the document back."""
    from rag.errors import StoreError
    from rag.index.store import VectorStore
    from rag.ingest import pipeline as ingest

    class FailingStore(VectorStore):
        """The real store, except that its third write fails (the disk filled up, say)."""

        writes = 0

        def add(self, collection, chunks, vectors):
            FailingStore.writes += 1
            if FailingStore.writes == 3:
                raise StoreError("the vector store failed to add: disk full")
            return super().add(collection, chunks, vectors)

    monkeypatch.setattr(ingest, "_WRITE_BATCH", 8)  # many batches from one paper
    library.store.__class__ = FailingStore
    failed, other = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    assert FailingStore.writes >= 3
    # The file being written fails whole, with the reason; the batch goes on with the next file.
    assert failed.status == "failed" and failed.error_kind == "store" and "disk full" in failed.reason
    assert other.status == "ingested" and _chunk_count(library) == other.chunks
    assert [d.file_name for d in library.documents("documents")] == [other.file_name]
    library.store.__class__ = VectorStore
    [again] = library.ingest([shared_path(*ATTENTION)])  # and the next try goes through whole
    assert again.status == "ingested" and _chunk_count(library) == again.chunks + other.chunks


def test_an_aborted_batch_leaves_no_file_claimed(library, monkeypatch):
    """Ctrl-C (or a stopped app) mid-batch: the files not reached are not left 'being ingested'."""
    from rag.index.store import VectorStore

    class Interrupted(BaseException):
        pass

    class InterruptingStore(VectorStore):
        def add(self, collection, chunks, vectors):
            raise Interrupted

    library.store.__class__ = InterruptingStore
    with pytest.raises(Interrupted):
        library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    library.store.__class__ = VectorStore
    assert library.catalog.documents("documents", statuses=("pending", "deleting")) == []
    assert library.documents("documents") == []
    results = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])  # same process, same library
    assert [r.status for r in results] == ["ingested", "ingested"], [r.reason for r in results]


def test_a_catalogue_from_before_the_ocr_columns_opens_and_keeps_its_rows(tmp_path):
    import sqlite3

    from rag.index.catalog import Catalog

    path = tmp_path / "catalog.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE documents (collection TEXT NOT NULL, doc_id TEXT NOT NULL, file_name TEXT NOT NULL,
        sha256 TEXT NOT NULL, pages INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, ingested_at TEXT NOT NULL,
        embedding_model TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', owner TEXT,
        PRIMARY KEY (collection, doc_id));
        INSERT INTO documents VALUES ('c', 'abc', 'old.pdf', 'abc', 3, 7, 100, 'ready', '2026-01-01T00:00:00+00:00',
        'm', '["a warning"]', NULL);"""
    )
    old.close()
    catalog = Catalog(path)
    [doc] = catalog.documents("c")
    assert (doc.file_name, doc.pages, doc.chunks, doc.warnings) == ("old.pdf", 3, 7, ("a warning",))
    assert (doc.ocr_pages, doc.ocr_confidence) == (0, None)
    assert catalog.begin("c", "new", "new.pdf", 5, "m") is None
    catalog.commit("c", "new", pages=2, chunks=4, warnings=[], replaces=[], ocr_pages=2, ocr_confidence=81.5)
    new = catalog.get("c", "new")
    assert (new.status, new.ocr_pages, new.ocr_confidence) == ("ready", 2, 81.5)
    assert catalog.begin("c", "abc", "old.pdf", 100, "m").file_name == "old.pdf"  # still a duplicate


def test_a_document_deletes_at_once_whatever_embedding_model_is_configured(library, settings, embedder, monkeypatch):
    """Deleting needs no vectors: it neither checks the collection's model nor loads the configured one."""
    a, b = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    monkeypatch.setenv("HF_HOME", str(settings.storage.data_dir / "empty-hf-cache"))  # loading any model would fail
    not_installed = Library(settings.with_(embedding_model="example-org/no-such-model"))
    assert not_installed.delete_document("documents", a.file_name).doc_id == a.doc_id
    # Gone now, not at the next start: no row left 'deleting', no chunks, no original.
    left = not_installed.catalog.documents("documents", statuses=("pending", "ready", "deleting"))
    assert [d.doc_id for d in left] == [b.doc_id]
    assert library.store.count_document(library.open_collection("documents"), a.doc_id) == 0
    assert library.original_path(a.doc_id) is None
    not_installed.close()

    other = Library(settings, embedder=_OtherModel(embedder))
    other.delete_document("documents", b.doc_id)  # a loaded model of another kind deletes too
    assert other.documents("documents") == [] and _chunk_count(library) == 0
    # Searching and adding still refuse the collection built with another model.
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2"):
        other.search("attention", "documents")
    with pytest.raises(ModelMismatchError):
        other.ingest([shared_path(*DPR)], "documents")
    other.close()


def test_an_interrupted_delete_finishes_at_start_under_another_embedding_model(library, settings, embedder):
    [doc] = library.ingest([shared_path(*ATTENTION)])
    library.catalog.mark_deleting("documents", doc.doc_id)  # as a crash between the mark and the purge leaves it
    other = Library(settings, embedder=_OtherModel(embedder))
    assert other.catalog.get("documents", doc.doc_id) is None
    assert _chunk_count(library) == 0 and library.original_path(doc.doc_id) is None
    other.close()


def test_openings_are_the_first_chunks_of_each_hit_document_once(library):
    # The not-found gate's evidence beside the hits: a paper's title page names what its later pages do not.
    [result] = library.ingest([shared_path(*ATTENTION)])
    hits = library.search("BLEU score of the big Transformer on WMT 2014", k=4, mode="dense")
    assert len(hits) >= 2  # several hits of one document: its opening is read once
    openings = library.openings("documents")(hits)
    chunks = library.document_chunks("documents", result.doc_id)
    assert sorted(openings) == sorted(c.text for c in chunks[:3])  # one document: its first three chunks, once
    assert any("Attention Is All You Need" in text for text in openings)
