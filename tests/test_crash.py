"""kill -9 a real ingest process mid-document: after a restart nothing half-written is visible."""

import os
import signal
import subprocess
import sys

from rag.library import Library
from tests.conftest import ROOT, shared_path

KEPT = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
BIG = ("pdfs", "financebench", "JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf")


def _kill_after(settings, pdf, chunks_before_kill: int) -> int:
    """Run an ingest in a child process and SIGKILL it once it has stored that many chunks."""
    env = {**os.environ, "RAG_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(pdf)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stored = 0
    try:
        for line in child.stdout:
            if line.startswith("chunks "):
                stored += int(line.rsplit(" ", 1)[1])
                if stored >= chunks_before_kill:
                    os.kill(child.pid, signal.SIGKILL)
                    break
            elif line.startswith("finished"):
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    return stored


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
    lib = Library(settings, embedder=embedder)
    [first] = lib.ingest([kept])
    lib.close()

    stored = _kill_after(settings, big, chunks_before_kill=64)
    assert stored >= 64, "the child died before writing anything: nothing was tested"

    lib = Library(settings, embedder=embedder)  # the restart: recovery runs here
    _consistent(lib)
    assert [d.doc_id for d in lib.documents("documents")] == [first.doc_id]
    assert lib.search("attention heads", k=1)[0].chunk.doc_id == first.doc_id

    [again] = lib.ingest([big])
    assert again.status == "ingested" and again.chunks > stored
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
