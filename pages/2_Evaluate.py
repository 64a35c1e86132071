"""Evaluate: recall@k, MRR and latency of each search mode on a QA set (JSON Lines with gold documents/pages)."""

import os
from pathlib import Path

import streamlit as st

from ui.views import common, evaluate

SHARED = Path(os.environ.get("RAG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

settings, library = common.boot()
current = common.collection_picker(library, settings)
st.title("Evaluate retrieval")
st.caption(
    "Each question is searched in every mode; a hit counts when it comes from the gold document (and, where "
    "the set gives evidence pages, covers a gold page). Pages are 0-based pypdf indices."
)
if (fresh := evaluate.run_form(library, settings, current, SHARED)) is not None:
    st.session_state.eval_report = fresh
if (report := st.session_state.get("eval_report")) is None:
    st.stop()
evaluate.report_view(report)
evaluate.misses_view(report)
