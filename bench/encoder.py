"""Encoder throughput by backend and batch size, on the real chunks of a PDF (the embedder alone).

    python bench/encoder.py [PDF] [--backends torch,onnx-int8] [--batch-sizes 8,16,32,64,128]

The chunks are made once (the app's chunker, default settings); each backend then embeds all of
them at each batch size, after a warm-up batch. The row with the app's default (RAG_EMBED_BATCH=32)
is the baseline the others are compared with.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PDF = ROOT.parent / "shared" / "data" / "pdfs" / "financebench" / "CVSHEALTH_2018_10K.pdf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--backends", default="torch,onnx-int8")
    parser.add_argument("--batch-sizes", default="8,16,32,64,128")
    args = parser.parse_args()

    from rag.encoders.loading import load_embedder
    from rag.ingest.chunker import chunk_pages, indexed_text
    from rag.ingest.loader import iter_pages, open_pdf
    from rag.settings import Settings

    settings = Settings.from_env()
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    texts: list[str] = []
    print(f"{args.pdf.name}: ", end="", flush=True)
    for backend in args.backends.split(","):
        seconds: dict[int, float] = {}
        embedder = load_embedder(settings.with_(embed_backend=backend))
        for size in sizes:
            embedder.batch_size = size  # both backends read it at each call
            if not texts:
                pages = list(iter_pages(open_pdf(args.pdf), args.pdf.name))
                texts = [indexed_text(c) for c in chunk_pages(pages, embedder, "d", args.pdf.name)]
                print(f"{len(pages)} pages, {len(texts)} chunks")
                print(f"{'backend':<10} {'batch':>5} {'seconds':>8} {'chunks/s':>9} {'vs batch 32':>11}")
            embedder.embed_documents(texts[:size])  # warm-up
            started = time.perf_counter()
            embedder.embed_documents(texts)
            seconds[size] = time.perf_counter() - started
        base = seconds.get(32, next(iter(seconds.values())))
        for size, s in seconds.items():
            print(f"{backend:<10} {size:>5} {s:>8.1f} {len(texts) / s:>9.1f} {base / s:>10.2f}x")


if __name__ == "__main__":
    main()
