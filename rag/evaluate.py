"""Retrieval evaluation: recall@k and MRR of each search mode over a QA set, with latencies.

A QA set is JSON Lines, one question a line: ``id, lang, question, answer`` and its gold document(s),
``doc`` + ``pdf_path`` or ``docs`` + ``pdf_paths`` (paths relative to a base folder, by default the
parent of the QA file's folder), optionally ``evidence: [{doc, page_index0}]`` for page-level scores.

Matching: a hit finds a gold document when its file name equals the basename of the gold pdf path, and
a gold page when, in that document, ``hit.page <= page <= hit.page_end`` (0-based pypdf page indices).
Per question, recall@k is the fraction of its gold items found in the top k, hit@k whether any was,
and the reciprocal rank that of the first hit matching any gold item (0 when none in the list).

    python -m rag eval QA.jsonl [--collection NAME] [-k 1,3,5,10] [--modes dense,lexical,hybrid,hybrid+rerank]
                                [--ingest] [--extra PATH ...] [--json FILE] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import EvalDataError, RagError
from .models import FileResult, Hit
from .search import MODES

if TYPE_CHECKING:
    from .ingest import Progress
    from .library import Library
    from .settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
PREVIEW_CHARS = 160


def default_modes(settings: Settings) -> tuple[str, ...]:
    """The modes compared by default: the three retrievers, plus reranking when a reranker is set."""
    return DEFAULT_MODES + (("hybrid+rerank",) if settings.rerank_model else ())


#: called after each question with (questions done, total)
EvalProgress = Callable[[int, int], None]


# -- QA data ----------------------------------------------------------------------------------


def _name(path_or_name: str) -> str:
    """A file name as compared by the metrics: basename, Unicode NFC (macOS file names come NFD)."""
    return unicodedata.normalize("NFC", Path(str(path_or_name).replace("\\", "/")).name)


@dataclass(frozen=True, order=True)
class GoldPage:
    """An evidence page: a document's file name and its 0-based pypdf page index."""

    file_name: str
    page: int


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    question: str
    answer: str
    #: gold documents' file names (basenames of the gold pdf paths), in file order, no repeats
    docs: tuple[str, ...]
    #: gold pdf paths resolved against the base folder
    pdf_paths: tuple[Path, ...]
    #: evidence pages (empty when the set has none for this question)
    pages: tuple[GoldPage, ...] = ()


def _evidence_file(ev_doc: str | None, docs: tuple[str, ...], qid: str) -> str:
    if ev_doc:
        wanted = unicodedata.normalize("NFC", str(ev_doc))
        matches = [d for d in docs if d == wanted or Path(d).stem == wanted or Path(d).stem == Path(wanted).stem]
        if len(matches) == 1:
            return matches[0]
    if len(docs) == 1:
        return docs[0]
    raise EvalDataError(f"question {qid}: evidence document {ev_doc!r} is none of its gold documents {list(docs)}")


def parse_question(row: Mapping, base_dir: Path) -> Question:
    """One QA record (a decoded JSON line) as a Question; raises EvalDataError when malformed."""
    qid = str(row.get("id") or "").strip()
    text = row.get("question")
    if not qid or not isinstance(text, str) or not text.strip():
        raise EvalDataError(f"a QA record needs a non-empty 'id' and 'question': {str(dict(row))[:120]}")
    raw_paths = row.get("pdf_paths") or ([row["pdf_path"]] if row.get("pdf_path") else [])
    raw_docs = row.get("docs") or ([row["doc"]] if row.get("doc") else [])
    if not isinstance(raw_paths, list) or not isinstance(raw_docs, list):
        raise EvalDataError(f"question {qid}: 'pdf_paths' and 'docs' must be lists")
    names = [_name(p) for p in raw_paths] or [_name(d) for d in raw_docs]
    if not names:
        raise EvalDataError(f"question {qid}: no gold document ('doc'/'pdf_path' or 'docs'/'pdf_paths')")
    docs = tuple(dict.fromkeys(names))
    paths = tuple(dict.fromkeys((base_dir / str(p)).resolve() for p in raw_paths))
    pages: set[GoldPage] = set()
    for ev in row.get("evidence") or []:
        if not isinstance(ev, Mapping) or ev.get("page_index0") is None:
            continue
        try:
            index = int(ev["page_index0"])
        except (TypeError, ValueError) as e:
            raise EvalDataError(f"question {qid}: page_index0 must be an integer, got {ev['page_index0']!r}") from e
        if index < 0:
            raise EvalDataError(f"question {qid}: negative page_index0 {index}")
        pages.add(GoldPage(_evidence_file(ev.get("doc"), docs, qid), index))
    return Question(
        id=qid,
        lang=str(row.get("lang") or ""),
        question=text.strip(),
        answer=str(row.get("answer") or ""),
        docs=docs,
        pdf_paths=paths,
        pages=tuple(sorted(pages)),
    )


def parse_questions(lines: Iterable[str], base_dir: Path | str, *, source: str = "QA data") -> list[Question]:
    """Questions from JSON Lines text (blank lines skipped); ids must be unique."""
    out: list[Question] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalDataError(f"{source}, line {n}: not JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise EvalDataError(f"{source}, line {n}: expected a JSON object")
        try:
            q = parse_question(row, Path(base_dir))
        except EvalDataError as e:
            raise EvalDataError(f"{source}, line {n}: {e}") from e
        if q.id in seen:
            raise EvalDataError(f"{source}, line {n}: duplicate question id {q.id!r}")
        seen.add(q.id)
        out.append(q)
    return out


def default_base_dir(qa_path: Path | str) -> Path:
    """Where a QA file's pdf paths start: the parent of the QA file's folder (``data/qa/x.jsonl`` -> ``data``)."""
    return Path(qa_path).resolve().parent.parent


def load_questions(path: Path | str, *, base_dir: Path | str | None = None, limit: int | None = None) -> list[Question]:
    """The questions of a QA JSONL file (the first ``limit`` of them if given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise EvalDataError(f"cannot read the QA file {path}: {e.strerror or e}") from e
    questions = parse_questions(text.splitlines(), base_dir or default_base_dir(path), source=path.name)
    if not questions:
        raise EvalDataError(f"{path} holds no questions")
    return questions[:limit] if limit else questions


# -- metrics (pure) ---------------------------------------------------------------------------


class Located(Protocol):
    """What the metrics read of a hit."""

    @property
    def file_name(self) -> str: ...

    @property
    def page(self) -> int: ...

    @property
    def page_end(self) -> int: ...


def doc_matches(hits: Sequence[Located], gold_docs: Iterable[str]) -> list[frozenset[str]]:
    """For each ranked hit, the gold documents it finds (an empty set for a miss)."""
    gold = {_name(d) for d in gold_docs}
    out = []
    for h in hits:
        name = _name(h.file_name)
        out.append(frozenset({name} & gold))
    return out


def page_matches(hits: Sequence[Located], gold_pages: Iterable[GoldPage]) -> list[frozenset[GoldPage]]:
    """For each ranked hit, the gold pages inside its page span in the same document."""
    gold = [GoldPage(_name(g.file_name), g.page) for g in gold_pages]
    out = []
    for h in hits:
        name = _name(h.file_name)
        out.append(frozenset(g for g in gold if g.file_name == name and h.page <= g.page <= h.page_end))
    return out


def recall_at_k(matches: Sequence[frozenset], n_gold: int, k: int) -> float:
    """Fraction of the ``n_gold`` gold items found by the first ``k`` hits."""
    if n_gold <= 0:
        raise ValueError("recall needs at least one gold item")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return len(frozenset().union(*matches[:k])) / n_gold


def hit_at_k(matches: Sequence[frozenset], k: int) -> float:
    """1.0 when any of the first ``k`` hits finds a gold item, else 0.0."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return 1.0 if any(matches[:k]) else 0.0


def reciprocal_rank(matches: Sequence[frozenset]) -> float:
    """1 / rank of the first hit that finds any gold item; 0.0 when none does."""
    for rank, m in enumerate(matches, 1):
        if m:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class Scores:
    """One question's scores at one level (document or page) for one ranked list."""

    recall: Mapping[int, float]
    hit: Mapping[int, float]
    rr: float


def score(matches: Sequence[frozenset], n_gold: int, ks: Sequence[int]) -> Scores:
    return Scores(
        {k: recall_at_k(matches, n_gold, k) for k in ks},
        {k: hit_at_k(matches, k) for k in ks},
        reciprocal_rank(matches),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


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
        "chunk_tokens": s.chunk_tokens,
        "chunk_overlap": s.chunk_overlap,
        "rrf_k": s.rrf_k,
        "lexical_weight": s.lexical_weight,
        "doc_weight": s.doc_weight,
        "rerank_model": s.rerank_model,
        "rerank_top_n": s.rerank_top_n,
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
    }
    return setup, {_name(d.file_name) for d in docs}


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
    if not modes or any(m not in MODES for m in modes):
        raise RagError(f"modes must be among {', '.join(MODES)}, got {list(modes)}")
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


# -- command line -----------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"k values must be positive, got {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from e
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _mode_list(text: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    bad = [m for m in values if m not in MODES]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"modes must be among {', '.join(MODES)}, got {text!r}")
    return values


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``python -m rag eval``: print the metrics table and write the JSON report."""
    from tqdm import tqdm

    from .cli import BarProgress, _library, _summary

    questions = load_questions(args.qa, base_dir=args.base, limit=args.limit)
    collection = args.collection or settings.collection
    lib = _library(settings)
    bars: list = []

    def advance(done: int, total: int) -> None:
        if not bars:  # created on the first answer, so ingestion time does not count as question time
            bars.append(tqdm(total=total, desc="questions", unit="q", file=sys.stderr, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        report = evaluate(
            lib,
            questions,
            collection,
            args.modes or default_modes(settings),
            args.k,
            ingest=args.ingest,
            extra=args.extra or (),
            ingest_progress=BarProgress(),
            progress=advance,
            source=Path(args.qa).name,
        )
    finally:
        for bar in bars:
            bar.close()
        lib.close()
    if report.ingest:
        print(_summary(list(report.ingest)))
        print()
    print(format_table(report))
    if args.json:
        try:
            Path(args.json).write_text(report.to_json(), encoding="utf-8")
        except OSError as e:
            raise RagError(f"cannot write the report to {args.json}: {e.strerror or e}") from e
        print(f"report written to {args.json}")
    return 1 if any(m.errors for m in report.metrics) else 0


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` on the CLI's subcommands."""
    p = subparsers.add_parser("eval", help="retrieval quality (recall@k, MRR) and latency of each mode on a QA set")
    p.add_argument("qa", metavar="QA.jsonl", help="questions with their gold documents (and evidence pages)")
    p.add_argument("--collection", help="collection to search (default: RAG_COLLECTION)")
    p.add_argument("-k", type=_int_list, default=DEFAULT_KS, help="cut-offs, comma-separated (default 1,3,5,10)")
    p.add_argument(
        "--modes",
        type=_mode_list,
        help="comma-separated (default: dense,lexical,hybrid, and hybrid+rerank with a reranker)",
    )
    p.add_argument("--ingest", action="store_true", help="first ingest the gold PDFs the questions name")
    p.add_argument("--extra", nargs="+", action="extend", metavar="PATH", help="also ingest these PDFs/folders")
    p.add_argument("--base", type=Path, help="folder the QA file's pdf paths start from (default: its folder's parent)")
    p.add_argument("--json", metavar="FILE", help="write the full report (metrics and every ranked list) here")
    p.add_argument("--limit", type=_positive, help="only the first N questions")
    p.set_defaults(func=cmd_eval)
    return p
