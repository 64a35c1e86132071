"""Retrieval evaluation: each search mode run over a QA set (``qa``), scored with ``metrics``, with latencies.

The report holds every question's ranked hits, so its metrics can be recomputed; ``eval_cli`` is the command
line (``python -m rag eval``), ``ui/views/evaluate`` the Evaluate page.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import EvalDataError, RagError
from rag.eval.metrics import Scores, doc_matches, mean, page_matches, percentile, score
from rag.eval.qa import Question, file_key
from rag.models import FileResult, Hit
from rag.retrieve.modes import SEARCH_MODES

if TYPE_CHECKING:
    from rag.ingest.pipeline import Progress
    from rag.library import Library
    from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
PREVIEW_CHARS = 160


def default_modes(settings: Settings) -> tuple[str, ...]:
    """The modes compared by default: the three retrievers, plus reranking when a reranker is set."""
    return DEFAULT_MODES + (("hybrid+rerank",) if settings.retrieval.rerank_model else ())


#: called after each question with (questions done, total)
EvalProgress = Callable[[int, int], None]


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedHit:
    """A retrieved chunk as the report keeps it: where it is, and every retriever's score."""

    rank: int
    file_name: str
    page: int
    page_end: int
    chunk_id: str
    doc_id: str
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    rerank_score: float | None = None
    #: the chunk's first characters, whitespace collapsed (plain text; never render it as markup)
    preview: str = ""

    @classmethod
    def from_hit(cls, rank: int, hit: Hit) -> RankedHit:
        c = hit.chunk
        text = " ".join(c.text.split())
        return cls(
            rank,
            c.file_name,
            c.page,
            c.page_end,
            c.chunk_id,
            c.doc_id,
            hit.score,
            hit.dense_score,
            hit.dense_rank,
            hit.lexical_score,
            hit.lexical_rank,
            hit.rerank_score,
            text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else ""),
        )

    @classmethod
    def from_dict(cls, d: Mapping) -> RankedHit:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class ModeRun:
    """One question searched in one mode."""

    mode: str
    hits: tuple[RankedHit, ...]
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    runs: tuple[ModeRun, ...]

    def run(self, mode: str) -> ModeRun:
        for r in self.runs:
            if r.mode == mode:
                return r
        raise KeyError(mode)

    def doc_scores(self, mode: str, ks: Sequence[int]) -> Scores:
        q = self.question
        return score(doc_matches(self.run(mode).hits, q.docs), len(q.docs), ks)

    def page_scores(self, mode: str, ks: Sequence[int]) -> Scores | None:
        q = self.question
        if not q.pages:
            return None
        return score(page_matches(self.run(mode).hits, q.pages), len(q.pages), ks)


@dataclass(frozen=True)
class LevelMetrics:
    """Means over the questions that have gold items at this level."""

    n: int
    recall: Mapping[int, float]
    hit: Mapping[int, float]
    mrr: float

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "recall": {str(k): v for k, v in self.recall.items()},
            "hit": {str(k): v for k, v in self.hit.items()},
            "mrr": self.mrr,
        }


@dataclass(frozen=True)
class ModeMetrics:
    mode: str
    n_questions: int
    doc: LevelMetrics
    page: LevelMetrics | None  # None when no question has evidence pages
    latency_p50_ms: float
    latency_p95_ms: float
    latency_mean_ms: float
    errors: int

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "n_questions": self.n_questions,
            "doc": self.doc.to_dict(),
            "page": self.page.to_dict() if self.page else None,
            "latency_ms": {"p50": self.latency_p50_ms, "p95": self.latency_p95_ms, "mean": self.latency_mean_ms},
            "errors": self.errors,
        }


def _level(scores: Sequence[Scores], ks: Sequence[int]) -> LevelMetrics:
    return LevelMetrics(
        len(scores),
        {k: mean([s.recall[k] for s in scores]) for k in ks},
        {k: mean([s.hit[k] for s in scores]) for k in ks},
        mean([s.rr for s in scores]),
    )


def mode_metrics(results: Sequence[QuestionResult], mode: str, ks: Sequence[int]) -> ModeMetrics:
    """Mean scores of one mode over the questions; page level only over questions with evidence pages."""
    doc = [r.doc_scores(mode, ks) for r in results]
    page = [s for s in (r.page_scores(mode, ks) for r in results) if s is not None]
    ms = [r.run(mode).seconds * 1000 for r in results if r.run(mode).error is None]
    return ModeMetrics(
        mode,
        len(results),
        _level(doc, ks),
        _level(page, ks) if page else None,
        percentile(ms, 50),
        percentile(ms, 95),
        mean(ms),
        sum(r.run(mode).error is not None for r in results),
    )


@dataclass(frozen=True)
class EvalReport:
    collection: str
    modes: tuple[str, ...]
    ks: tuple[int, ...]
    metrics: tuple[ModeMetrics, ...]
    questions: tuple[QuestionResult, ...]
    #: the gold documents (file names) that are not ready in the collection: every search misses them
    missing_docs: tuple[str, ...] = ()
    ingest: tuple[FileResult, ...] = ()
    #: what the numbers depend on: embedding model, chunking, fusion constant, collection size
    setup: Mapping[str, object] = field(default_factory=dict)
    source: str = ""
    created_at: str = ""

    def metric(self, mode: str) -> ModeMetrics:
        for m in self.metrics:
            if m.mode == mode:
                return m
        raise KeyError(mode)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "created_at": self.created_at,
            "collection": self.collection,
            "modes": list(self.modes),
            "ks": list(self.ks),
            "setup": dict(self.setup),
            "missing_docs": list(self.missing_docs),
            "ingest": [
                {"file_name": r.file_name, "status": r.status, "chunks": r.chunks, "reason": r.reason}
                for r in self.ingest
            ],
            "metrics": {m.mode: m.to_dict() for m in self.metrics},
            "questions": [
                {
                    "id": r.question.id,
                    "lang": r.question.lang,
                    "question": r.question.question,
                    "answer": r.question.answer,
                    "gold_docs": list(r.question.docs),
                    "gold_pages": [{"file_name": g.file_name, "page": g.page} for g in r.question.pages],
                    "runs": {
                        run.mode: {
                            "ms": run.seconds * 1000,
                            "error": run.error,
                            "hits": [h.__dict__ for h in run.hits],
                        }
                        for run in r.runs
                    },
                }
                for r in self.questions
            ],
        }

    def to_json(self, indent: int | None = 1) -> str:
        """The report as JSON; NaN (a mode with no timed search) is written as null."""
        return json.dumps(_no_nan(self.to_dict()), indent=indent, ensure_ascii=False)


def _no_nan(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


@dataclass(frozen=True)
class Miss:
    """A question whose gold items are (not all) in a mode's top k."""

    result: QuestionResult
    level: str  # "page" or "doc"
    found: float  # recall@k at that level
    hits: tuple[RankedHit, ...]


def misses(report: EvalReport, mode: str, k: int, *, partial: bool = False) -> list[Miss]:
    """Questions with no gold item in the top k (``partial``: also those missing some), at page level
    where the question has evidence pages, else at document level."""
    out = []
    for r in report.questions:
        s = r.page_scores(mode, (k,))
        level = "page"
        if s is None:
            s, level = r.doc_scores(mode, (k,)), "doc"
        if s.hit[k] == 0.0 or (partial and s.recall[k] < 1.0):
            out.append(Miss(r, level, s.recall[k], r.run(mode).hits[:k]))
    return out


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
        "rerank_model": s.retrieval.rerank_model,
        "rerank_top_n": s.retrieval.rerank_top_n,
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
    }
    return setup, {file_key(d.file_name) for d in docs}


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
        results.append(QuestionResult(q, tuple(runs)))
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


# -- presentation -----------------------------------------------------------------------------


def _multi(report: EvalReport, level: str) -> bool:
    """Whether some question has several gold items at this level (then hit@k differs from recall@k)."""
    if level == "doc":
        return any(len(r.question.docs) > 1 for r in report.questions)
    return any(len(r.question.pages) > 1 for r in report.questions)


def metric_rows(report: EvalReport) -> list[tuple[str, dict[str, float]]]:
    """(metric name, {mode: value}) in display order: document, then page level, then latency."""
    rows: list[tuple[str, dict[str, float]]] = []
    for level in ("doc", "page"):
        per_mode = {m.mode: (m.doc if level == "doc" else m.page) for m in report.metrics}
        if any(v is None for v in per_mode.values()):
            continue
        n = next(iter(per_mode.values())).n
        for k in report.ks:
            rows.append((f"{level} recall@{k}", {mode: v.recall[k] for mode, v in per_mode.items()}))
        if _multi(report, level):
            for k in report.ks:
                rows.append((f"{level} hit@{k}", {mode: v.hit[k] for mode, v in per_mode.items()}))
        rows.append((f"{level} MRR@{report.ks[-1]}", {mode: v.mrr for mode, v in per_mode.items()}))
        rows.append((f"{level} questions", {mode: float(n) for mode in per_mode}))
    rows.append(("latency p50 ms", {m.mode: m.latency_p50_ms for m in report.metrics}))
    rows.append(("latency p95 ms", {m.mode: m.latency_p95_ms for m in report.metrics}))
    if any(m.errors for m in report.metrics):
        rows.append(("search errors", {m.mode: float(m.errors) for m in report.metrics}))
    return rows


def _cell(name: str, value: float) -> str:
    if math.isnan(value):
        return "-"
    if name.startswith("latency"):
        return f"{value:.1f}"
    if name.endswith(("questions", "errors")):
        return f"{value:.0f}"
    return f"{value:.3f}"


def format_table(report: EvalReport) -> str:
    """The metrics as a text table, one column per mode."""
    rows = metric_rows(report)
    width = max(len(name) for name, _ in rows) + 2
    col = max(9, *(len(m) + 2 for m in report.modes))
    s = report.setup
    lines = [
        f"{report.source or 'QA set'}: {len(report.questions)} questions, collection {report.collection!r}"
        + (f" ({s.get('documents')} documents, {s.get('chunks')} chunks, {s.get('embedding_model')})" if s else ""),
        "metric".ljust(width) + "".join(m.rjust(col) for m in report.modes),
    ]
    for name, values in rows:
        lines.append(name.ljust(width) + "".join(_cell(name, values[m]).rjust(col) for m in report.modes))
    lines.append("latency: one search (query embedding included) with top-k = " + str(report.ks[-1]))
    if report.missing_docs:
        shown = ", ".join(report.missing_docs[:5]) + (" …" if len(report.missing_docs) > 5 else "")
        lines.append(f"warning: {len(report.missing_docs)} gold documents are not in the collection: {shown}")
    return "\n".join(lines)
