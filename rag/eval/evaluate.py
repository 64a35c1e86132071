"""Retrieval evaluation: each search mode run over a QA set (``qa``), scored with ``metrics``, with latencies.

The report holds every question's ranked hits, so its metrics can be recomputed; ``eval_cli`` is the command
line (``python -m rag eval``), ``ui/views/evaluate`` the Evaluate page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import EvalDataError, RagError
from rag.eval.qa import Question, file_key
from rag.models import FileResult
from rag.retrieve.modes import SEARCH_MODES

if TYPE_CHECKING:
    from rag.ingest.sources import Progress
    from rag.library import Library
    from rag.settings import Settings
from rag.eval.report import EvalReport, ModeRun, QuestionResult, RankedHit, mode_metrics

log = logging.getLogger(__name__)

DEFAULT_MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)


def default_modes(settings: Settings) -> tuple[str, ...]:
    """The modes compared by default: the three retrievers, plus reranking when a reranker is set."""
    return DEFAULT_MODES + (("hybrid+rerank",) if settings.retrieval.rerank_model else ())


#: called after each question with (questions done, total)
EvalProgress = Callable[[int, int], None]


# -- running ----------------------------------------------------------------------------------


def ingest_questions(
    lib: Library,
    questions: Sequence[Question],
    collection: str,
    *,
    extra: Sequence[Path | str] = (),
    progress: Progress | None = None,
) -> list[FileResult]:
    """Ingest the questions' gold PDFs (each once) and ``extra`` files or folders into the collection."""
    paths = list(dict.fromkeys(p for q in questions for p in q.pdf_paths))
    missing = [str(p) for p in paths if not p.is_file()]
    missing += [str(p) for p in map(Path, extra) if not p.exists()]
    if missing:
        raise EvalDataError(
            f"{len(missing)} PDF(s) to ingest not found, e.g. {missing[0]} (gold pdf paths are resolved "
            "against the parent of the QA file's folder; pass another base folder if they live elsewhere)"
        )
    targets: list[Path] = [*paths, *map(Path, extra)]
    if not targets:
        return []
    log.info("ingesting %d gold PDFs and %d extra paths into %r", len(paths), len(extra), collection)
    return lib.ingest(targets, collection, progress=progress)


def _collection_setup(lib: Library, collection: str) -> tuple[dict, set[str]]:
    docs = lib.documents(collection)
    s = lib.settings
    setup = {
        "embedding_model": lib.embedder.name,
        "chunk_tokens": s.ingest.chunk_tokens,
        "chunk_overlap": s.ingest.chunk_overlap,
        "rrf_k": s.retrieval.rrf_k,
        "lexical_weight": s.retrieval.lexical_weight,
        "doc_weight": s.retrieval.doc_weight,
        "year_weight": s.retrieval.year_weight,
        "statement_pages": s.retrieval.statement_pages,
        "rerank_model": s.retrieval.rerank_model,
        "rerank_top_n": s.retrieval.rerank_top_n,
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
    }
    return setup, {file_key(d.file_name) for d in docs}


def _search_question(lib: Library, q: Question, collection: str, modes: Sequence[str], depth: int) -> QuestionResult:
    """One question searched in every mode, each search timed; a failed search is an empty run with its error."""
    runs = []
    for mode in modes:
        started = time.perf_counter()
        try:
            hits = lib.search(q.question, collection, k=depth, mode=mode)
            error = None
        except RagError as e:
            hits, error = [], str(e)
            log.error("question %s, %s search failed: %s", q.id, mode, e)
        elapsed = time.perf_counter() - started
        ranked = tuple(RankedHit.from_hit(i, h) for i, h in enumerate(hits, 1))
        runs.append(ModeRun(mode, ranked, elapsed, error))
    return QuestionResult(q, tuple(runs))


def evaluate(
    lib: Library,
    questions: Sequence[Question],
    collection: str,
    modes: Sequence[str] = DEFAULT_MODES,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    ingest: bool = False,
    extra: Sequence[Path | str] = (),
    ingest_progress: Progress | None = None,
    progress: EvalProgress | None = None,
    source: str = "",
) -> EvalReport:
    """Search every question in every mode (top ``max(ks)``) and score the ranked lists.

    ``ingest``: first ingest the gold PDFs (and ``extra`` paths, which are ingested whenever given).
    Each mode gets one untimed warm-up search, so one-off costs (loading the BM25 index) stay out
    of the latencies; the timed latency includes embedding the query.
    """
    modes = tuple(dict.fromkeys(modes))
    ks = tuple(sorted(set(ks)))
    if not modes or any(m not in SEARCH_MODES for m in modes):
        raise RagError(f"modes must be among {', '.join(SEARCH_MODES)}, got {list(modes)}")
    if not ks or ks[0] <= 0:
        raise RagError(f"k values must be positive integers, got {list(ks)}")
    if not questions:
        raise EvalDataError("no questions to evaluate")
    results_ingest: list[FileResult] = []
    if ingest or extra:
        results_ingest = ingest_questions(
            lib, questions if ingest else [], collection, extra=extra, progress=ingest_progress
        )
    lib.open_collection(collection)  # a missing collection or another embedding model: fail now, once
    setup, present = _collection_setup(lib, collection)
    missing = tuple(sorted({d for q in questions for d in q.docs} - present))
    if missing:
        log.warning("%d gold documents are not in %r; every search misses them", len(missing), collection)
    depth = ks[-1]
    for mode in modes:  # warm-up, untimed
        try:
            lib.search(questions[0].question, collection, k=depth, mode=mode)
        except RagError as e:
            log.warning("warm-up %s search failed: %s", mode, e)
    results = []
    for n, q in enumerate(questions, 1):
        results.append(_search_question(lib, q, collection, modes, depth))
        if progress is not None:
            progress(n, len(questions))
    return EvalReport(
        collection=collection,
        modes=modes,
        ks=ks,
        metrics=tuple(mode_metrics(results, m, ks) for m in modes),
        questions=tuple(results),
        missing_docs=missing,
        ingest=tuple(results_ingest),
        setup=setup,
        source=source,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


