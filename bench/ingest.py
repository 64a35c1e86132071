"""Ingestion benchmark: the whole pipeline against the embedding model alone, in one run.

    python bench/ingest.py                      # a 392-page 10-K from ../shared/data
    python bench/ingest.py --docugami           # the 20 Docugami 10-Qs as one batch
    python bench/ingest.py FILE_OR_FOLDER ...   # anything else

Prints wall time, pages/s, chunks/s, peak RSS (this process and the extraction workers), the
time the embedder alone needs for the same chunk texts, and last the ratio of the two.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "pdfs"


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--docugami", action="store_true", help="the 20 Docugami 10-Q filings as one batch")
    parser.add_argument("--workers", type=int, default=None, help="extraction processes (default: settings)")
    args = parser.parse_args()
    paths = args.paths or (
        [SHARED / "docugami-sec10q"] if args.docugami else [SHARED / "financebench" / "CVSHEALTH_2018_10K.pdf"]
    )

    from rag.embedder import load_embedder
    from rag.library import Library
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        settings = Settings.from_env().with_(data_dir=Path(tmp), keep_originals=False)
        if args.workers:
            settings = settings.with_(workers=args.workers)
        embedder = load_embedder(settings)
        embedder.embed_documents(["warm-up"])  # first call pays one-off kernel set-up
        lib = Library(settings, embedder=embedder)

        started = time.perf_counter()
        results = lib.ingest(paths)
        wall = time.perf_counter() - started
        lib.close()
        failed = [r for r in results if r.status == "failed"]
        pages = sum(r.pages for r in results)
        texts = [
            c.text
            for r in results
            if r.doc_id and r.status != "failed"
            for c in lib.document_chunks(settings.collection, r.doc_id)
        ]

        started = time.perf_counter()
        embedder.embed_documents(texts)
        encode = time.perf_counter() - started

    print(f"files:               {len(results)} ({len(failed)} failed)")
    for r in failed:
        print(f"  failed: {r.file_name}: {r.reason}")
    print(f"pages:               {pages}")
    print(f"chunks:              {len(texts)}")
    print(f"embedding model:     {embedder.name} (batch {settings.embed_batch_size}, device {settings.device})")
    print(f"pipeline wall time:  {wall:.1f} s")
    print(f"pages/s:             {pages / wall:.1f}")
    print(f"chunks/s:            {len(texts) / wall:.1f}")
    print(f"peak RSS main:       {_peak_mb(resource.RUSAGE_SELF):.0f} MB")
    print(f"peak RSS worker:     {_peak_mb(resource.RUSAGE_CHILDREN):.0f} MB")
    print(f"encode-only time:    {encode:.1f} s ({len(texts) / encode:.1f} chunks/s)")
    print(f"pipeline/encode-only ratio: {wall / encode:.2f}")


if __name__ == "__main__":
    main()
