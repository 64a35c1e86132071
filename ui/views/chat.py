"""Drawing chat messages: the answer with its own sources beside it, passage cards, page previews."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from rag.answer.chat import Answer, AnswerStream, ChatSession
from rag.answer.llm import OllamaLLM, normalise_model_name
from rag.errors import LLMError
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message, safe_answer_markdown, safe_stream
from rag.models import ocr_label
from rag.preview import PreviewError, render_page_png
from rag.retrieve.modes import offered_modes
from rag.settings import AnswerSettings, Settings
from ui import resources
from ui.state.highlight import passage_highlight, passage_markdown
from ui.state.messages import history_turns, live_message
from ui.state.notices import MODE_LABELS, answer_notices, pages_label, scores_text, short_name, table_rows
from ui.views.common import Ollama

ANSWER_COLUMNS = [1, 1]  # answer | its sources (the table needs about 300 px)
PASSWORDS_KEY = "doc_passwords"  # doc_id -> password typed in this session (memory only)

_OCR_HELP = (
    "OCR: the page was an image, and its text was machine-read (mean word confidence). Check such passages"
    " against the page preview."
)
_SUPPORT_MARK = {
    "supported": " · :green[✓ supports the claim]",
    "not_found": " · :orange[claim not in this source]",
    "partly": " · :orange[supports some claims]",
}
_HIGHLIGHT_CAPTION = {
    "claim": "Highlighted: the sentence closest to the answer's claim citing it.",
    "question": "Highlighted: the sentence closest to the question.",
}
_NOTICE = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
_MATCH_HELP = (
    "How close the passage's meaning is to the question: cosine similarity of their embeddings, -1 to 1"
    " (about 0.4 and above is close; below the relevance threshold, 0.25 by default, counts as not found)."
)
_FILE_HELP = "Without .pdf, long names shortened in the middle; the passage card below gives the full name."
_CITED_HELP = (
    "Whether the answer cites this source, and the app's check of the answer's sentences citing it:"
    " ✓ holds: the source holds their figures and most of their words; ⚠ check: it does not, check the claim;"
    " ◐ partly: it holds some of them."
)
_TABLE_CAPTION = (
    "Match: cosine similarity of meaning, -1 to 1. Each card below also gives the keyword score (BM25: counts"
    " the question's words in the passage, weighted by rarity; no fixed scale, so 4.5 is not 'more' than 0.72)"
    " and the ranking score the order came from."
)


def sources_table(message: dict) -> None:
    """A compact table (it must fit a phone: the answer's columns stack there) and what its figures mean."""
    answered = message.get("mode") == "answer"
    rows = table_rows(message.get("sources") or [], answered=answered)
    if not rows:
        return
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key=f"srctable-{message['id']}",
        placeholder="—",  # a score a retriever did not give: a dash, never the word None
        column_config={
            "#": st.column_config.NumberColumn("#", width=26, help="Source number, as cited in the answer"),
            "file": st.column_config.TextColumn("File", width=116, help=_FILE_HELP),
            "page": st.column_config.TextColumn("Page", width=40, help="Page in the PDF (1 = first page)"),
            "cited": st.column_config.TextColumn("Cited", width=60, help=_CITED_HELP),
            "ocr": st.column_config.TextColumn("Read by", width=64, help=_OCR_HELP),
            "match": st.column_config.NumberColumn("Match", width=52, format="%.2f", help=_MATCH_HELP),
        },
    )
    st.caption(_TABLE_CAPTION)


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
            st.warning("No preview: " + escape_message(str(e)))
            return
        typed = st.text_input("PDF password", type="password", key=f"pvpw-{key}", help=str(e))
        if not typed:
            return
        try:
            png = _render(str(path), path.stat().st_mtime, page, typed)
        except PreviewError as again:
            st.warning("No preview: " + escape_message(str(again)))
            return
        passwords[doc_id] = typed
    st.image(png, caption=escape_markdown(f"{source.get('file_name', '')}, page {page + 1}"), width="stretch")


@st.cache_data(max_entries=48, show_spinner="Rendering the page…")
def _render(path: str, mtime: float, page: int, password: str | None) -> bytes:
    return render_page_png(Path(path), page, password=password)


def passage_cards(library: Library, message: dict, *, previews: bool = True) -> None:
    for source in message.get("sources") or []:
        n = source.get("n")
        cited = " · :green[:material/check: cited]" if source.get("cited") else ""
        cited += _SUPPORT_MARK.get(str(source.get("support")), "")
        ocr = ocr_label(bool(source.get("ocr")), source.get("ocr_confidence"))
        label = f"[{n}] p. {pages_label(source)} · {short_name(str(source.get('file_name', '?')))}"
        with st.expander(escape_markdown(label + (f" · {ocr}" if ocr else "")) + cited, expanded=False):
            scores = scores_text(source)
            st.caption(escape_markdown(str(source.get("file_name", "?"))) + (" · " + scores if scores else ""))
            if source.get("missing_numbers"):
                missing = ", ".join(str(m) for m in source["missing_numbers"])
                st.caption(":orange[Cited for figures this passage does not contain: " + escape_markdown(missing) + "]")
            if ocr:
                st.caption(
                    f":orange[:material/document_scanner: Machine-read text ({ocr} confidence):"
                    " the page is an image; check the passage against the page preview.]"
                )
            mark = passage_highlight(message, source)
            st.markdown(passage_markdown(str(source.get("text", "")), mark.span, numbers=mark.numbers))
            caption = _HIGHLIGHT_CAPTION.get(mark.basis, "")
            if mark.numbers:
                caption += " In bold: the figures the answer cites."
            if caption.strip():
                st.caption(caption.strip())
            if previews:  # not while the answer streams: that run's widgets are replaced right after
                page_preview(library, source, f"{message['id']}-{n}")


def answer_body(message: dict) -> None:
    for notice in answer_notices(message):
        _NOTICE[notice.level](escape_message(notice.text))
    said = message.get("mode") == "not_found" or message.get("declined")
    if message.get("content") and not said:  # a not-found notice says it already
        st.markdown(safe_answer_markdown(message["content"]))
        if message.get("incomplete"):
            st.caption(":orange[:material/warning: incomplete: the answer stopped early]")


def answer_sources(library: Library, message: dict) -> None:
    sources = message.get("sources") or []
    if not sources:
        if message.get("error_kind") != "interrupted":  # a question never answered was never searched either
            st.caption("No passages were found in this collection.")
        return
    question, searched = message.get("question") or "", message.get("standalone_query") or ""
    heading = "Nearest passages" if message.get("mode") in ("not_found", "search_only", "error") else "Sources"
    st.markdown(f"**{heading}**")
    if searched and searched.strip() != question.strip():
        st.caption("Searched for (follow-up rewritten): " + escape_markdown(searched))
    sources_table(message)
    passage_cards(library, message, previews=message.get("mode") != "streaming")


def assistant_message(library: Library, llm: OllamaLLM | None, message: dict) -> None:
    """An answer (left) with its own sources (right)."""
    left, right = st.columns(ANSWER_COLUMNS, gap="medium")
    with left:
        answer_body(message)
        if message.get("error_kind") == "model_not_found" and llm is not None:
            pull_button(llm, llm.model, key=f"pull-{message['id']}")
    with right:
        answer_sources(library, message)


def answer_live(
    library: Library,
    session: ChatSession,
    question: str,
    messages: list[dict],
    on_stream: Callable[[AnswerStream], None] | None = None,
) -> Answer:
    """Search, show the sources at once, stream the answer beside them; returns the final answer.

    ``on_stream`` gets the stream before it is read: whoever stores the answer can close it and keep
    the text so far when the run is stopped mid-answer (a reload, a closed tab).
    """
    left, right = st.columns(ANSWER_COLUMNS, gap="medium")
    with left, st.spinner("Searching your documents…"):
        stream = session.ask(question, history_turns(messages))
    if on_stream is not None:
        on_stream(stream)
    with right:
        answer_sources(library, live_message(stream))
    with left:
        st.write_stream(safe_stream(stream))
    return stream.result()


def user_message(message: dict) -> None:
    st.markdown(escape_markdown(message["content"]))


def pull_button(llm: OllamaLLM, model: str, key: str) -> None:
    """A button that pulls ``model`` into Ollama, showing the download's progress."""
    if not st.button(
        f"Pull {escape_markdown(model)}",
        key=key,
        icon=":material/download:",
        help="Download the model into Ollama (may take minutes)",
    ):
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
            st.error(escape_message(str(e)))
            return
        status.update(label=f"{escape_markdown(model)} is installed", state="complete")
    resources.ollama_models.clear()
    st.rerun()


def getting_started(collection: str) -> None:
    st.info(
        f"**Your collection “{escape_markdown(collection)}” has no documents yet.**\n\n"
        "1. Open **Documents** and drop your PDFs there. They are read and indexed on this computer; "
        "nothing is sent anywhere.\n"
        "2. Come back here and ask a question in English or Korean.\n"
        "3. Every answer shows, beside it, the passages it used: file, page and scores, with a preview "
        "of the page, so you can check it.",
        icon=":material/waving_hand:",
    )
    st.page_link("pages/1_Documents.py", label="Add PDFs on the Documents page", icon=":material/upload_file:")


def retrieval_settings(settings: Settings, config: AnswerSettings) -> tuple[AnswerSettings, str]:
    """The sidebar's retrieval settings: the answering config as chosen, and the search mode."""
    with st.expander("Retrieval settings"):
        modes = offered_modes(settings.retrieval.search_mode, settings.retrieval.rerank_model)
        mode = st.selectbox(
            "Search",
            modes,
            format_func=MODE_LABELS.get,
            key="search_mode",
            help="Hybrid finds both exact terms (names, figures) and paraphrases; it is the best on every test set"
            " measured (README, How retrieval works)."
            + ("" if settings.retrieval.rerank_model else " Reranking needs a model in RAG_RERANK_MODEL."),
        )
        top_k = st.slider("Passages per question (top-k)", 1, 20, min(20, config.top_k), key="top_k")
        threshold = st.slider(
            "Relevance threshold",
            0.0,
            1.0,
            min(1.0, max(0.0, config.min_score)),
            0.05,
            key="min_score",
            help="When no passage is this similar to the question (cosine), the answer is 'not found' and the"
            " model is not asked.",
        )
        evidence = st.toggle(
            "Not found when no passage names the subject",
            config.evidence_gate,
            key="evidence_gate",
            help="When most names in the question (a company, a product, a year) appear in none of the passages"
            " found or their documents' first pages, the answer is 'not found' and the model is not asked.",
        )
        rewrite = st.toggle(
            "Rewrite follow-up questions",
            config.rewrite_followups,
            key="rewrite_followups",
            help="A follow-up ('and in 2019?') is rewritten into a standalone question before searching; the"
            " rewritten question is shown with the sources.",
        )
    chosen = replace(config, top_k=top_k, min_score=threshold, rewrite_followups=rewrite, evidence_gate=evidence)
    return chosen, mode


def model_picker(settings: Settings, config: AnswerSettings, ollama: Ollama) -> OllamaLLM:
    """The model selectbox (installed models), and a way to pull one; returns the client for the choice."""
    installed = ollama.models
    wanted = normalise_model_name(settings.ollama.model)
    options = installed or [settings.ollama.model]
    default = next((m for m in options if normalise_model_name(m) == wanted), options[0])
    model = st.selectbox(
        "Model",
        options,
        index=options.index(default),
        key="model",
        disabled=not installed,
        help="Models installed in Ollama. RAG_LLM_MODEL sets the default.",
    )
    llm = resources.llm(settings.ollama.host, model, config.timeout_s, settings.ollama.seed)
    if not ollama.reachable:
        return llm
    if not installed:
        pull_button(llm, settings.ollama.model, key="pull-sidebar")
    with st.expander("Get another model"):
        name = st.text_input(
            "Model name",
            settings.ollama.model if wanted not in map(normalise_model_name, installed) else "",
            key="pull_name",
            placeholder="e.g. qwen2.5:3b",
            help="Any name from ollama.com/library; the download goes to your Ollama.",
        )
        if name.strip():
            pull_button(llm, name.strip(), key="pull-named")
    return llm
