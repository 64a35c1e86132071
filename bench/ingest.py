"""Ingestion benchmark: the whole pipeline against the embedding model alone, per backend, in one run.

    python bench/ingest.py                      # a 392-page 10-K from ../shared/data
    python bench/ingest.py --docugami           # the 20 Docugami 10-Qs as one batch
    python bench/ingest.py FILE_OR_FOLDER ...   # anything else
    python bench/ingest.py --backends torch     # only one backend; --engine pdfium|pypdf

For each embedding backend (default: torch fp32, the previous default, then onnx-int8) it ingests
the files into a fresh store and prints wall time, pages/s, chunks/s, peak RSS, the time that
backend alone needs to embed the same chunk texts, and their ratio. The last line is the
pipeline/encode-only ratio of the last backend, for scripts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "pdfs"


class PeakRss:
    """Samples this process's RSS and its largest child's while a block runs.

    ``getrusage(RUSAGE_CHILDREN)`` cannot tell worker memory: a spawned worker is forked before it
    execs, and its ``ru_maxrss`` keeps the parent's size at the fork.
    """

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.main_mb = self.worker_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.every_s):
            try:
                self.main_mb = max(self.main_mb, me.memory_info().rss / 2**20)
                for child in me.children(recursive=True):
                    self.worker_mb = max(self.worker_mb, child.memory_info().rss / 2**20)
            except psutil.Error:  # a worker ended between listing and reading it
                continue

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run(settings, paths: list[Path]) -> dict:
    from rag.encoders.loading import load_embedder
    from rag.library import Library

    embedder = load_embedder(settings)  # exported once per backend beforehand; loading is not timed
    embedder.embed_documents(["warm-up"])
    lib = Library(settings, embedder=embedder)
    with PeakRss() as rss:
        started = time.perf_counter()
        results = lib.ingest(paths)
        wall = time.perf_counter() - started
        lib.close()
    from rag.ingest.chunker import indexed_text

    # The same text the pipeline embedded: each chunk under its document's title.
    texts = [
        indexed_text(c, settings.ingest.title_header)
        for r in results
        if r.status in ("ingested", "replaced")
        for c in lib.document_chunks(settings.storage.collection, r.doc_id)
    ]
    started = time.perf_counter()
    embedder.embed_documents(texts)
    encode = time.perf_counter() - started
    return {
        "files": len(results),
        "failed": [r for r in results if r.status == "failed"],
        "pages": sum(r.pages for r in results),
        "chunks": len(texts),
        "wall": wall,
        "encode": encode,
        "rss_main": rss.main_mb,
        "rss_worker": rss.worker_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--docugami", action="store_true", help="the 20 Docugami 10-Q filings as one batch")
    parser.add_argument("--backends", default="torch,onnx-int8", help="comma-separated embedding backends")
    parser.add_argument("--engine", default=None, help="PDF engine: pypdf or pdfium (default: settings)")
    parser.add_argument("--workers", type=int, default=None, help="extraction processes (default: settings)")
    args = parser.parse_args()
    default = [SHARED / "docugami-sec10q"] if args.docugami else [SHARED / "financebench" / "CVSHEALTH_2018_10K.pdf"]
    paths = args.paths or default

    from rag.settings import Settings

    base = Settings.from_env()
    if args.workers:
        base = base.with_(workers=args.workers)
    if args.engine:
        base = base.with_(pdf_engine=args.engine)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        for backend in args.backends.split(","):
            settings = base.with_(data_dir=Path(tmp) / backend, embed_backend=backend, keep_originals=False)
            figures[backend] = run(settings, paths)

    ingest = base.ingest
    print(f"inputs: {', '.join(str(p) for p in paths)}; PDF engine {ingest.pdf_engine}, {ingest.workers} workers")
    print("peak RSS: sampled every 0.2 s during each ingest; 'worker' is the largest extraction process")
    header = f"{'backend':<10} {'files':>5} {'pages':>6} {'chunks':>7} {'wall s':>7} {'pages/s':>8} {'chunks/s':>9}"
    print(header + f" {'encode-only s':>13} {'encode chunks/s':>15} {'ratio':>6} {'RSS MB':>7} {'worker MB':>9}")
    for backend, f in figures.items():
        wall, encode = f["wall"], f["encode"]
        print(
            f"{backend:<10} {f['files']:>5} {f['pages']:>6} {f['chunks']:>7} {wall:>7.1f} {f['pages'] / wall:>8.1f}"
            f" {f['chunks'] / wall:>9.1f} {encode:>13.1f} {f['chunks'] / encode:>15.1f} {wall / encode:>6.2f}"
            f" {f['rss_main']:>7.0f} {f['rss_worker']:>9.0f}"
        )
        for r in f["failed"]:
            print(f"  failed: {r.file_name}: {r.reason}")
    if len(figures) > 1:
        first, last = list(figures.values())[0], list(figures.values())[-1]
        print(
            f"speed-up of {list(figures)[-1]} over {list(figures)[0]}: pipeline {first['wall'] / last['wall']:.2f}x,"
            f" encoder alone {first['encode'] / last['encode']:.2f}x"
        )
    last = list(figures.values())[-1]
    print(f"pipeline/encode-only ratio: {last['wall'] / last['encode']:.2f}")


if __name__ == "__main__":
    main()
