"""Drawing chat messages: the answer with its own sources beside it, passage cards, page previews."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from rag.errors import LLMError, RagError
from rag.library import Library
from rag.llm import OllamaLLM
from rag.preview import PreviewError, render_page_png
from rag.ui_state import (
    answer_notices,
    best_span,
    escape_markdown,
    highlight_reference,
    pages_label,
    passage_markdown,
    safe_answer_markdown,
    source_rows,
)
from ui import resources

PASSWORDS_KEY = "doc_passwords"  # doc_id -> password typed in this session (memory only)

_NOTICE = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
_SCORE_HELP = {
    "dense": "Semantic similarity (cosine, -1 to 1) between the question and the passage.",
    "lexical": "Keyword match score (BM25).",
    "rerank": "Cross-encoder relevance score.",
    "score": "The score the final ranking used.",
}


def sources_table(message: dict) -> None:
    rows = source_rows(message.get("sources") or [])
    if not rows:
        return
    frame = pd.DataFrame(rows)
    drop = [c for c in ("dense", "lexical", "rerank", "score") if frame[c].isna().all()]
    if "score" not in drop and "dense" not in drop and frame["score"].equals(frame["dense"]):
        drop.append("score")  # plain dense search: the final score is the dense one
    if message.get("mode") != "answer":
        drop.append("cited")
    st.dataframe(
        frame.drop(columns=drop),
        hide_index=True,
        key=f"srctable-{message['id']}",
        column_config={
            "#": st.column_config.NumberColumn("#", width="small", help="Source number, as cited in the answer"),
            "cited": st.column_config.CheckboxColumn("Cited", width="small", help="The answer cites this source"),
            "file": st.column_config.TextColumn("File", width="medium"),
            "page": st.column_config.TextColumn("Page", width="small"),
            **{
                name: st.column_config.NumberColumn(name.capitalize(), format="%.3f", help=_SCORE_HELP[name])
                for name in ("dense", "lexical", "rerank", "score")
            },
        },
    )


def _scores(source: dict) -> str:
    parts = []
    for name in ("dense", "lexical", "rerank"):
        value = source.get(f"{name}_score")
        if value is not None:
            parts.append(f"{name} {value:.3f}")
    return " · ".join(parts)


def page_preview(library: Library, source: dict, key: str) -> None:
    """The cited page as an image, rendered on demand."""
    page = int(source.get("page", 0))
    doc_id = str(source.get("doc_id", ""))
    if not st.toggle(f"Show page {page + 1}", key=f"pv-{key}"):
        return
    path = library.original_path(doc_id) if doc_id else None
    if path is None:
        st.caption("The original PDF is not stored (RAG_KEEP_ORIGINALS is off, or the document was deleted).")
        return
    passwords = st.session_state.setdefault(PASSWORDS_KEY, {})
    try:
        png = _render(str(path), path.stat().st_mtime, page, passwords.get(doc_id))
    except PreviewError as e:
        if e.kind != "password_required":
            st.warning(f"No preview: {e}")
            return
        typed = st.text_input("PDF password", type="password", key=f"pvpw-{key}", help=str(e))
        if not typed:
            return
        try:
            png = _render(str(path), path.stat().st_mtime, page, typed)
        except PreviewError as again:
            st.warning(f"No preview: {again}")
            return
        passwords[doc_id] = typed
    st.image(png, caption=f"{source.get('file_name', '')}, page {page + 1}", width="stretch")


@st.cache_data(max_entries=48, show_spinner="Rendering the page…")
def _render(path: str, mtime: float, page: int, password: str | None) -> bytes:
    return render_page_png(Path(path), page, password=password)


def passage_cards(library: Library, message: dict) -> None:
    for source in message.get("sources") or []:
        n = source.get("n")
        cited = " · ✅ cited" if source.get("cited") else ""
        label = f"[{n}] {source.get('file_name', '?')}, p. {pages_label(source)}"
        with st.expander(escape_markdown(label) + cited, expanded=False):
            scores = _scores(source)
            if scores:
                st.caption(scores)
            text = str(source.get("text", ""))
            span = best_span(text, highlight_reference(message, source))
            st.markdown(passage_markdown(text, span))
            if span is not None:
                st.caption("Highlighted: the sentence closest to " + (
                    "the answer's claim citing it." if source.get("cited") and message.get("mode") == "answer"
                    else "the question."
                ))
            page_preview(library, source, f"{message['id']}-{n}")


def answer_body(message: dict) -> None:
    for notice in answer_notices(message):
        _NOTICE[notice.level](escape_markdown(notice.text))
    if message.get("content"):
        st.markdown(safe_answer_markdown(message["content"]))
        if message.get("incomplete"):
            st.caption("⚠️ incomplete: the answer stopped early")


def answer_sources(library: Library, message: dict) -> None:
    sources = message.get("sources") or []
    if not sources:
        st.caption("No passages were found in this collection.")
        return
    question, searched = message.get("question") or "", message.get("standalone_query") or ""
    heading = "Nearest passages" if message.get("mode") in ("not_found", "search_only", "error") else "Sources"
    st.markdown(f"**{heading}**")
    if searched and searched.strip() != question.strip():
        st.caption("Searched for (follow-up rewritten): " + escape_markdown(searched))
    sources_table(message)
    passage_cards(library, message)


def assistant_message(library: Library, llm: OllamaLLM | None, message: dict) -> None:
    """An answer (left) with its own sources (right)."""
    left, right = st.columns([3, 2], gap="medium")
    with left:
        answer_body(message)
        if message.get("error_kind") == "model_not_found" and llm is not None:
            pull_button(llm, llm.model, key=f"pull-{message['id']}")
    with right:
        answer_sources(library, message)


def user_message(message: dict) -> None:
    st.markdown(escape_markdown(message["content"]))


def pull_button(llm: OllamaLLM, model: str, key: str) -> None:
    """A button that pulls ``model`` into Ollama, showing the download's progress."""
    if not st.button(f"Pull {model}", key=key, icon="⬇️", help="Download the model into Ollama (may take minutes)"):
        return
    with st.status(f"Pulling {escape_markdown(model)}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting…")
        try:
            for step in llm.pull_model(model):
                fraction = step.fraction
                text = escape_markdown(step.status)
                if step.total:
                    text += f" · {(step.completed or 0) / 1e6:,.0f} of {step.total / 1e6:,.0f} MB"
                bar.progress(fraction if fraction is not None else 0.0, text=text)
        except LLMError as e:
            status.update(label=f"Pulling {escape_markdown(model)} failed", state="error")
            st.error(str(e))
            return
        status.update(label=f"{escape_markdown(model)} is installed", state="complete")
    resources.ollama_models.clear()
    st.rerun()


def history_markdown(history, chat_id: str) -> str:
    try:
        return history.export_markdown(chat_id)
    except RagError as e:
        return f"Export failed: {e}\n"
