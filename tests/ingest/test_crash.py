"""kill -9 a real ingest process mid-document: after a restart nothing half-written is visible."""

import os
import signal
import subprocess
import sys

from rag.index.catalog import Catalog
from rag.index.store import VectorStore
from rag.ingest.pipeline import _WRITE_BATCH
from rag.ingest.sources import sha256_file
from rag.library import Library
from tests.conftest import ROOT, shared_path

KEPT = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
BIG = ("pdfs", "general", "rag_survey_gao2023_arxiv2312.10997.pdf")  # ~180 chunks: three write batches


def _kill_after(settings, pdf, batches_before_kill: int) -> tuple[int, int]:
    """Run an ingest in a child process and SIGKILL it once it has handed that many batches to its writer.

    Returns (batches, chunks) reported before the kill. A batch is reported when its write is
    submitted, not when it is stored; the ingestor waits for the previous write before submitting
    the next, so once batch n is reported batches 1..n-1 are in Chroma.
    """
    env = {**os.environ, "RAG_DATA_DIR": str(settings.storage.data_dir), "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(pdf)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    batches = chunks = 0
    try:
        for line in child.stdout:
            if line.startswith("chunks "):
                batches += 1
                chunks += int(line.rsplit(" ", 1)[1])
                if batches >= batches_before_kill:
                    os.kill(child.pid, signal.SIGKILL)
                    break
            elif line.startswith("finished"):
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    return batches, chunks


def _consistent(lib: Library, collection: str = "documents") -> None:
    """Catalogue and Chroma agree: no orphan chunks, no document without all of its chunks."""
    col = lib.open_collection(collection)
    docs = lib.documents(collection)
    assert lib.catalog.stale() == []
    assert lib.catalog.documents(collection, statuses=("pending", "deleting")) == []
    assert lib.store.doc_ids(col) == {d.doc_id for d in docs}
    for d in docs:
        assert lib.store.count_document(col, d.doc_id) == d.chunks
    assert col.count() == sum(d.chunks for d in docs)


def test_kill_mid_ingest_leaves_no_half_document(settings, embedder):
    kept = shared_path(*KEPT)
    big = shared_path(*BIG)
    big_id, _ = sha256_file(big)
    lib = Library(settings, embedder=embedder)
    [first] = lib.ingest([kept])
    lib.close()

    batches, reported = _kill_after(settings, big, batches_before_kill=2)
    assert batches >= 2 and reported >= 2 * _WRITE_BATCH, (
        f"the child reported only {batches} batch(es), {reported} chunks before it was killed or finished: its"
        " first batch may not have been stored yet, so cleanup of orphan chunks would go untested (file too small?)"
    )

    # What the crash left, read without Library, whose constructor would already have cleaned it up.
    raw_catalog = Catalog(settings.storage.catalog_path)
    pending = [d for d in raw_catalog.documents("documents", statuses=("pending",)) if d.doc_id == big_id]
    assert [d.file_name for d in pending] == [BIG[-1]], "the killed ingest left no pending row: it had committed"
    assert [d.doc_id for d in raw_catalog.stale()] == [big_id]  # its writer is dead: recovery will take it
    raw_store = VectorStore.from_settings(settings)
    orphans = raw_store.count_document(raw_store.open("documents", embedder.name, embedder.dim), big_id)
    assert orphans >= _WRITE_BATCH, f"only {orphans} chunks of the killed ingest reached Chroma"

    lib = Library(settings, embedder=embedder)  # the restart: recovery runs here
    _consistent(lib)
    col = lib.open_collection("documents")
    assert lib.catalog.get("documents", big_id) is None
    assert lib.store.count_document(col, big_id) == 0
    assert [d.doc_id for d in lib.documents("documents")] == [first.doc_id]
    assert lib.store.count_document(col, first.doc_id) == first.chunks
    assert lib.search("attention heads", k=1)[0].chunk.doc_id == first.doc_id

    [again] = lib.ingest([big])
    assert again.status == "ingested" and again.doc_id == big_id and again.chunks > reported
    _consistent(lib)
    lib.close()


def test_a_live_writer_is_not_cleaned_up_by_another_process(settings, embedder):
    """Recovery only takes over rows whose writer is dead, not another session's ingest in flight."""
    lib = Library(settings, embedder=embedder)
    assert lib.claim("documents", "f" * 64, "in-flight.pdf", 10) is None  # this process is alive
    other = Library(settings, embedder=embedder)
    assert other.catalog.stale() == []
    assert other.claim("documents", "f" * 64, "in-flight.pdf", 10).status == "pending"
    lib.close()
    other.close()
