"""Retrieval latency benchmark (no LLM): p50/p95 per search mode at 10k and 100k chunks.

    python bench/retrieval.py                       # 3 Docugami 10-Qs as seed, 10k and 100k chunks
    python bench/retrieval.py --scales 10000 --queries 50
    python bench/retrieval.py --pdfs FILE_OR_FOLDER ...

The scale collection is made of REAL chunks: a few real PDFs are ingested into a temp data folder,
then their chunks (text, page metadata and their real embeddings from Chroma, plus a little Gaussian
noise, renormalised) are copied under new document ids until the collection holds each target size.
Copies are registered like real documents (catalogue ``begin`` -> ``store.add`` -> ``commit``), so
search filters on ready documents as in the app. The BM25 index is then out of step and rebuilt on the
first search: that one-off rebuild is timed on its own. Queries: Docugami 10-Q questions.

Search latency is measured with the query vectors computed beforehand (so it is retrieval alone);
the query embedding time is measured and reported separately, as is peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
SEED = [SHARED / "pdfs" / "docugami-sec10q" / n for n in ("2022 Q3 AAPL.pdf", "2023 Q1 INTC.pdf", "2022 Q3 NVDA.pdf")]
COLLECTION = "bench-scale"

from rag.encoders.embedder import Embedder  # noqa: E402  (after the sys.path insert
from rag.models import Chunk  # noqa: E402


class PrecomputedQueries(Embedder):
    """The real embedder, except that queries embedded beforehand are answered from a table."""

    def __init__(self, inner: Embedder, queries: Sequence[str]) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.table: dict[str, np.ndarray] = {}
        for q in queries:
            self.table[q] = inner.embed_query(q)

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)

    def token_offsets(self, text):
        return self.inner.token_offsets(text)

    def embed_documents(self, texts):
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self.table.get(text)
        return vector if vector is not None else self.inner.embed_query(text)


def _pct(values: Sequence[float], q: float) -> float:
    from rag.eval.metrics import percentile

    return percentile(values, q)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def seed_chunks(lib) -> tuple[list[list[Chunk]], list[np.ndarray], list[int]]:
    """Every ready document's chunks (in order), their stored vectors and page counts."""
    col = lib.open_collection(COLLECTION)
    docs, vectors, pages = [], [], []
    for d in lib.documents(COLLECTION):
        chunks = lib.store.document_chunks(col, d.doc_id)
        by_id = lib.store.vectors_by_id(col, [c.chunk_id for c in chunks])
        docs.append(chunks)
        vectors.append(np.stack([by_id[c.chunk_id] for c in chunks]))
        pages.append(d.pages)
    return docs, vectors, pages


def grow(lib, target: int, seeds, state: dict, noise: float, rng: np.random.Generator) -> None:
    """Add copies of the seed documents until the collection holds at least ``target`` chunks."""
    docs, vectors, pages = seeds
    col = lib.open_collection(COLLECTION)
    batch_chunks: list[Chunk] = []
    batch_vectors: list[np.ndarray] = []
    batch_docs: list[tuple[str, int, int]] = []

    def flush() -> None:
        if not batch_chunks:
            return
        lib.store.add(col, batch_chunks, np.concatenate(batch_vectors))
        for doc_id, n_pages, n_chunks in batch_docs:
            lib.catalog.commit(COLLECTION, doc_id, pages=n_pages, chunks=n_chunks, warnings=[], replaces=[])
        batch_chunks.clear()
        batch_vectors.clear()
        batch_docs.clear()

    while state["chunks"] < target:
        i = state["copies"] % len(docs)
        state["copies"] += 1
        doc_id = hashlib.sha256(f"bench-copy-{state['copies']}".encode()).hexdigest()
        name = f"copy {state['copies']:05d} of {docs[i][0].file_name}"
        lib.catalog.begin(COLLECTION, doc_id, name, 0, lib.embedder.name)
        batch_chunks.extend(
            Chunk(
                f"{doc_id}:{c.position}", doc_id, name, c.position, c.page, c.page_end, c.page_label, c.text, c.n_tokens
            )
            for c in docs[i]
        )
        v = vectors[i] + rng.normal(0.0, noise, vectors[i].shape).astype(np.float32)
        batch_vectors.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        batch_docs.append((doc_id, pages[i], len(docs[i])))
        state["chunks"] += len(docs[i])
        if len(batch_chunks) >= lib.store.max_batch - max(len(d) for d in docs):
            flush()
    flush()


def measure(lib, queries: Sequence[str], modes: Sequence[str], k: int) -> dict[str, list[float]]:
    """Milliseconds per search for each mode, and (key "embed") per query embedding, timed alongside."""
    inner = lib.embedder.inner
    out: dict[str, list[float]] = {"embed": []}
    for q in queries:
        started = time.perf_counter()
        inner.embed_query(q)
        out["embed"].append((time.perf_counter() - started) * 1000)
    # Chroma alone, without the filter on ready documents that every real search passes.
    col = lib.open_collection(COLLECTION)
    out["chroma-nofilter"] = []
    for q in queries:
        vector = lib.embedder.embed_query(q)
        started = time.perf_counter()
        lib.store.query(col, vector, lib.searcher.candidates, None)
        out["chroma-nofilter"].append((time.perf_counter() - started) * 1000)
    for mode in modes:
        lib.search(queries[0], COLLECTION, k=k, mode=mode)  # warm-up
        times = []
        for q in queries:
            started = time.perf_counter()
            lib.search(q, COLLECTION, k=k, mode=mode)
            times.append((time.perf_counter() - started) * 1000)
        out[mode] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", nargs="+", type=Path, default=SEED, help="seed PDFs or folders (real chunks)")
    parser.add_argument("--scales", default="10000,100000", help="collection sizes in chunks (comma-separated)")
    parser.add_argument("--queries", type=int, default=100, help="Docugami questions to time (default 100)")
    parser.add_argument("-k", type=int, default=5, help="results per search (default 5)")
    parser.add_argument("--noise", type=float, default=0.01, help="Gaussian noise per vector component")
    parser.add_argument("--modes", default="dense,lexical,hybrid")
    args = parser.parse_args()
    scales = sorted(int(s) for s in args.scales.split(","))
    modes = [m.strip() for m in args.modes.split(",")]
    qa = SHARED / "qa" / "docugami_sec10q.jsonl"
    queries = [json.loads(line)["question"] for line in qa.read_text().splitlines() if line.strip()][: args.queries]

    from rag.encoders.loading import load_embedder
    from rag.library import Library
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rag-bench-retrieval-") as tmp:
        settings = Settings.from_env().with_(data_dir=Path(tmp), keep_originals=False, page_timeout_s=120.0)
        inner = load_embedder(settings)
        inner.embed_documents(["warm-up"])
        embedder = PrecomputedQueries(inner, queries)
        lib = Library(settings, embedder=embedder)
        started = time.perf_counter()
        results = lib.ingest(args.pdfs, COLLECTION)
        lib.close()  # the extraction processes are not needed any more
        ingest_s = time.perf_counter() - started
        seeds = seed_chunks(lib)
        n_seed = sum(len(d) for d in seeds[0])
        print(
            f"seed: {len([r for r in results if r.ok])} PDFs, {sum(seeds[2])} pages, {n_seed} chunks "
            f"(ingested in {ingest_s:.1f} s); {len(queries)} queries; k={args.k}; noise={args.noise}"
        )

        rng = np.random.default_rng(0)
        state = {"chunks": n_seed, "copies": 0}
        rows = []
        for scale in scales:
            started = time.perf_counter()
            grow(lib, scale, seeds, state, args.noise, rng)
            build_s = time.perf_counter() - started
            started = time.perf_counter()
            lib.lexical.index(COLLECTION)  # the one-off BM25 rebuild (out of step after the bulk add)
            rebuild_s = time.perf_counter() - started
            times = measure(lib, queries, modes, args.k)
            docs = len(lib.catalog.ready_ids(COLLECTION))
            rows.append((scale, state["chunks"], docs, build_s, rebuild_s, times, _rss_mb()))
            print(
                f"  {state['chunks']} chunks in {docs} documents: added in {build_s:.1f} s, "
                f"BM25 rebuild {rebuild_s:.1f} s, RSS {_rss_mb():.0f} MB",
                flush=True,
            )

        print()
        columns = [*modes, "embed", "chroma-nofilter"]

        def w(mode: str) -> int:
            return len(mode) + 6

        header = f"{'chunks':>8} {'docs':>5} " + "".join(f"{m + ' p50':>{w(m)}}{m + ' p95':>{w(m)}}" for m in columns)
        print(header + f"{'BM25 rebuild s':>16}{'add s':>8}{'RSS MB':>8}")
        for _scale, chunks, docs, build_s, rebuild_s, times, rss in rows:
            cells = "".join(f"{_pct(times[m], 50):>{w(m)}.1f}{_pct(times[m], 95):>{w(m)}.1f}" for m in columns)
            print(f"{chunks:>8} {docs:>5} {cells}{rebuild_s:>16.1f}{build_s:>8.1f}{rss:>8.0f}")
        print(
            "latencies in ms; the search columns are retrieval alone (query vectors computed beforehand), "
            "'embed' is embedding one query, timed in the same phase: a search in the app costs about both; "
            "'chroma-nofilter' is the Chroma query alone without the where-filter on ready documents"
        )
        print(f"peak RSS: {_peak_mb():.0f} MB (this process); extraction workers are separate processes")


if __name__ == "__main__":
    main()
