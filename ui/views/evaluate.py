"""Drawing the Evaluate page: the run form, the report, and the misses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from rag.errors import RagError
from rag.eval import evaluate as ev
from rag.eval import qa
from rag.eval.report import EvalReport, misses
from rag.eval.tables import metric_rows
from rag.ingest.sources import Progress
from rag.library import Library
from rag.mdsafe import escape_markdown
from rag.retrieve.modes import offered_modes
from rag.settings import Settings


class IngestBar(Progress):
    """Ingestion of the QA set's PDFs on the page's progress bar."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def file_started(self, name: str, index: int, total: int) -> None:
        self.bar.progress((index - 1) / total, text=f"Ingesting {index}/{total}: {name}")


def run_form(library: Library, settings: Settings, current: str, shared: Path) -> EvalReport | None:
    """The QA set, collection, modes and k to evaluate; a report once the run button is pressed."""
    dev_sets = sorted((shared / "qa").glob("*.jsonl"))
    picked = st.selectbox(
        "Shared dev set",
        [p.name for p in dev_sets],
        index=None,
        key="eval_set",
        placeholder="none found" if not dev_sets else "pick one, or upload below",
    )
    upload = st.file_uploader("…or upload a QA file (JSON Lines)", type=["jsonl", "json"], key="eval_upload")
    left, right = st.columns(2)
    collection = left.text_input("Collection", value=current, key="eval_collection")
    offered = offered_modes(settings.retrieval.search_mode, settings.retrieval.rerank_model)
    modes = left.multiselect("Modes", offered, default=list(ev.default_modes(settings)), key="eval_modes")
    ks = right.multiselect("k", [1, 3, 5, 10, 20], default=list(ev.DEFAULT_KS), key="eval_ks")
    limit = right.number_input("Only the first N questions (0: all)", min_value=0, value=0, key="eval_limit")
    base = st.text_input("Folder the QA file's pdf paths start from", value=str(shared), key="eval_base")
    ingest = st.checkbox("Ingest the referenced PDFs into the collection first", key="eval_ingest")
    ready = (picked or upload) and modes and ks
    if not st.button("Run evaluation", type="primary", key="eval_run", disabled=not ready):
        return None
    bar = st.progress(0.0, text="Starting…")
    try:
        if upload is not None:
            lines = upload.getvalue().decode("utf-8-sig").splitlines()
            questions = qa.parse_questions(lines, Path(base), source=upload.name)
        else:
            questions = qa.load_questions(shared / "qa" / picked, base_dir=base)
        return ev.evaluate(
            library,
            questions[: int(limit)] if limit else questions,
            collection.strip(),
            modes,
            ks,
            ingest=ingest,
            ingest_progress=IngestBar(bar),
            progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} questions"),
            source=upload.name if upload is not None else picked,
        )
    except (RagError, UnicodeDecodeError) as e:
        st.error(escape_markdown(f"The evaluation failed: {e}"))
        return None
    finally:
        bar.empty()


def report_view(report: EvalReport) -> None:
    """The metrics table, recall@k per mode as a chart, and the JSON download."""
    st.subheader(escape_markdown(f"{report.source}: {len(report.questions)} questions in {report.collection}"))
    st.caption(escape_markdown(", ".join(f"{k} {v}" for k, v in report.setup.items())))
    if report.missing_docs:
        st.warning(escape_markdown(f"Not in the collection (always missed): {', '.join(report.missing_docs)}"))
    rows = metric_rows(report)
    st.dataframe(pd.DataFrame({m: [v[m] for _, v in rows] for m in report.modes}, index=[n for n, _ in rows]))
    level = "page" if report.metrics[0].page is not None else "doc"
    recall = pd.DataFrame(
        {m.mode: [(m.page if level == "page" else m.doc).recall[k] for k in report.ks] for m in report.metrics},
        index=[f"@{k:02d}" for k in report.ks],
    )
    st.caption(f"{level.capitalize()}-level recall@k per mode")
    st.bar_chart(recall, stack=False, y_label="recall")
    st.download_button(
        "Download the report (JSON)", report.to_json(), "eval-report.json", "application/json", key="eval_download"
    )


def misses_view(report: EvalReport) -> None:
    """The questions a mode missed at k, each with its gold items and the hits it got instead."""
    st.subheader("Misses")
    c1, c2, c3 = st.columns(3)
    mode = c1.selectbox("Mode", report.modes, key="miss_mode")
    k = c2.selectbox("Top k", report.ks, index=len(report.ks) - 1, key="miss_k")
    partial = c3.toggle("Also partly missed", key="miss_partial", help="Questions that found only some gold items")
    found = misses(report, mode, k, partial=partial)
    st.caption(f"{len(found)} of {len(report.questions)} questions without (all) their gold items in the top {k}")
    for miss in found[:100]:
        q = miss.result.question
        with st.expander(escape_markdown(f"{q.id} · {miss.level} recall@{k} {miss.found:.2f} · {q.question[:80]}")):
            st.text(f"Question: {q.question}\nAnswer: {q.answer[:500]}\nGold documents: {', '.join(q.docs)}")
            if q.pages:
                st.text("Gold pages (0-based): " + ", ".join(f"{g.file_name} p{g.page}" for g in q.pages))
            st.dataframe(pd.DataFrame([h.__dict__ for h in miss.hits]), hide_index=True)  # cells are plain text
