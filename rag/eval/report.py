"""An evaluation's report: each question's ranked hits per search mode, the metrics per mode, and the misses."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rag.eval.metrics import Scores, doc_matches, mean, page_matches, percentile, score
from rag.eval.qa import Question
from rag.models import FileResult, Hit

PREVIEW_CHARS = 160

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
