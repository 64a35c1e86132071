"""Fault injection: kill -9 a real ingest at random moments, restart, check nothing is half there.

    python bench/crash_ingest.py [-n 20] [--seed 1] [--max-delay 40]

Builds a 528-page PDF from two real filings in ../shared/data, ingests a small document that must
survive every crash, then N times: start an ingest of the big PDF in a child process, SIGKILL it
after a random delay, reopen the library (recovery runs) and check that the catalogue, the Chroma
collection and the BM25 index agree: no orphan chunks, no document without all of its chunks, no
pending rows, the kept document intact. Finally the big PDF is ingested to completion.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("RAG_SHARED_DATA", ROOT.parent / "shared" / "data")) / "pdfs"
PARTS = [SHARED / "financebench" / "CVSHEALTH_2018_10K.pdf", SHARED / "financebench" / "BOEING_2018_10K.pdf"]
KEPT = SHARED / "general" / "attention_vaswani2017_arxiv1706.03762.pdf"


def build_big_pdf(dest: Path) -> int:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in PARTS:
        writer.append(str(part))
    with open(dest, "wb") as f:
        writer.write(f)
    return len(writer.pages)


def check(lib, collection: str, kept_id: str, kept_chunks: int) -> list[str]:
    """Every way the store could be inconsistent, as sentences; empty when all is well."""
    problems = []
    col = lib.open_collection(collection)
    docs = lib.documents(collection)
    leftovers = lib.catalog.documents(collection, statuses=("pending", "deleting"))
    if leftovers:
        problems.append(f"{len(leftovers)} pending/deleting rows after recovery")
    stored = lib.store.doc_ids(col)
    ready = {d.doc_id for d in docs}
    if stored - ready:
        problems.append(f"orphan chunks of {len(stored - ready)} documents")
    for d in docs:
        n = lib.store.count_document(col, d.doc_id)
        if n != d.chunks:
            problems.append(f"{d.file_name}: {n} chunks stored, catalogue says {d.chunks}")
    if kept_id not in ready or lib.store.count_document(col, kept_id) != kept_chunks:
        problems.append("the kept document was lost or damaged")
    ids, total = lib.catalog.ready_summary(collection)
    if not lib.lexical.index(collection).in_step_with(ids, total):
        problems.append("BM25 index out of step after its check")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=40.0, help="latest kill, seconds after start")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from rag.encoders.loading import load_embedder
    from rag.library import Library
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rag-crash-") as tmp:
        big = Path(tmp) / "merged_filings.pdf"
        pages = build_big_pdf(big)
        settings = Settings.from_env().with_(data_dir=Path(tmp) / "data")
        embedder = load_embedder(settings)
        lib = Library(settings, embedder=embedder)
        [kept] = lib.ingest([KEPT])
        lib.close()
        env = {**os.environ, "RAG_DATA_DIR": str(settings.storage.data_dir), "PYTHONPATH": str(ROOT)}
        code = "import sys; from rag.cli.main import main; sys.exit(main(['ingest', '-q', sys.argv[1]]))"
        survived, lost, problems_seen, finished_early = 0, 0, [], 0
        print(f"big PDF: {pages} pages; kept document: {kept.file_name} ({kept.chunks} chunks)")
        for i in range(args.kills):
            delay = rng.uniform(0.5, args.max_delay)
            child = subprocess.Popen(
                [sys.executable, "-c", code, str(big)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                child.wait(timeout=delay)
                finished_early += 1  # it completed before the kill: delete it to crash again next time
                outcome = "finished before the kill"
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                outcome = "killed"
            lib = Library(settings, embedder=embedder)
            problems = check(lib, settings.storage.collection, kept.doc_id, kept.chunks)
            if outcome != "killed":
                lib.delete_document(settings.storage.collection, big.name)
            lib.close()
            survived += not problems
            lost += any("kept document" in p for p in problems)
            problems_seen.extend(problems)
            print(f"kill {i + 1:2d}: after {delay:5.1f} s, {outcome}; {'consistent' if not problems else problems}")
        lib = Library(settings, embedder=embedder)
        started = time.perf_counter()
        [final] = lib.ingest([big])
        problems = check(lib, settings.storage.collection, kept.doc_id, kept.chunks)
        lib.close()
    print(
        f"final ingest: {final.status}, {final.pages} pages, {final.chunks} chunks,"
        f" {time.perf_counter() - started:.0f} s; {'consistent' if not problems else problems}"
    )
    print(f"kills: {args.kills}, consistent after restart: {survived}, finished before the kill: {finished_early}")
    print(f"documents lost: {lost}")
    sys.exit(0 if survived == args.kills and not problems and lost == 0 else 1)


if __name__ == "__main__":
    main()
