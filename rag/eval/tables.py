"""An evaluation's report as a printed table: one row per metric, one column per search mode."""

from __future__ import annotations

import math

from rag.eval.report import EvalReport

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
