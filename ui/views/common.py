"""Pieces every page uses: start-up, the collection picker, the status line."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from rag.answer.history import ChatHistory
from rag.errors import RagError
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message
from rag.settings import AnswerSettings, Settings
from ui import resources

COLLECTION_KEY = "collection"  # survives page switches (widget keys are dropped with their page)
ASK_ABOUT_KEY = "ask_about"  # file names the Documents page just added: the chat opens a new chat about them
#: The app's pages by name, set by app.py's navigation each run (a page links to another through these).
PAGES: dict[str, StreamlitPage] = {}


@dataclass(frozen=True)
class Ollama:
    host: str
    reachable: bool
    models: list[str]
    error: str | None


def _use_app_navigation() -> None:
    """Make a deep link (e.g. /Documents) in a fresh server run through app.py's navigation.

    Until some session has run app.py, Streamlit serves a file in pages/ on its own (its old
    multipage mode): no page config, the chat page listed as "app". app.py's st.navigation switches
    the mode for the whole process, so here we switch it and rerun, which lands on the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        if len(st.session_state) == 0:  # a new session's first run: nothing (no click) is lost by rerunning
            st.rerun()


def boot() -> tuple[Settings, Library]:
    """Settings and the shared Library, or a clear error and a stopped page."""
    _use_app_navigation()
    try:
        settings = resources.settings()
        return settings, resources.library(settings)
    except RagError as e:
        st.error("The app cannot start: " + escape_message(str(e)))
        st.stop()
        raise  # unreachable: st.stop() ends the run


def chat_setup(settings: Settings) -> tuple[AnswerSettings, ChatHistory]:
    """Answering settings and the chat history, or a clear error and a stopped page."""
    try:
        return settings.answer, resources.history(str(settings.storage.data_dir / "history.sqlite3"))
    except RagError as e:
        st.error("The chat cannot start: " + escape_message(str(e)))
        st.stop()
        raise


def collection_picker(library: Library, settings: Settings) -> str:
    """Sidebar selectbox of collections; the choice is shared by all pages."""
    current = st.session_state.get(COLLECTION_KEY) or settings.storage.collection
    try:
        names = sorted({c.name for c in library.collections()} | {current})
    except RagError as e:
        st.sidebar.error("Cannot list collections: " + escape_message(str(e)))
        names = [current]

    def picked() -> None:
        st.session_state[COLLECTION_KEY] = st.session_state["collection_picker"]

    st.session_state[COLLECTION_KEY] = current
    st.session_state["collection_picker"] = current
    st.sidebar.selectbox(
        "Collection",
        names,
        key="collection_picker",
        on_change=picked,
        help="A collection is a separate set of documents. Manage collections on the Documents page.",
    )
    return current


def ollama_status(host: str) -> Ollama:
    reachable, models, error = resources.ollama_models(host)
    return Ollama(host, reachable, models, error)


def status_line(library: Library, settings: Settings, collection: str, ollama: Ollama, model: str | None) -> None:
    """The sidebar's status: LLM reachable or search-only, embedding model, what the collection holds."""
    if not ollama.reachable:
        st.sidebar.error(
            f"**Ollama not reachable** at `{ollama.host}`: search-only mode (best passages, no generated "
            "answers). Start Ollama (`ollama serve`) or set OLLAMA_HOST.",
            icon=":material/cloud_off:",
        )
    elif ollama.error:
        st.sidebar.warning(
            "**Ollama answered with an error**: " + escape_message(ollama.error), icon=":material/warning:"
        )
    elif not ollama.models:
        st.sidebar.warning(
            "**Ollama is running but has no models**: search-only until you pull one.", icon=":material/warning:"
        )
    else:
        st.sidebar.success(f"**Ollama ready** · model `{model}`", icon=":material/check_circle:")
    try:
        docs = library.documents(collection)
        chunks = sum(d.chunks for d in docs)
        holds = f"{len(docs)} document{'s' if len(docs) != 1 else ''} · {chunks:,} chunk{'s' if chunks != 1 else ''}"
    except RagError as e:
        holds = f"unavailable ({e})"
    st.sidebar.caption(
        f"Embedding model: {escape_markdown(settings.embedding.model)}  \n"  # its name: no need to load it
        f"Collection “{escape_markdown(collection)}”: {holds}  \n"
        f"Data folder: {escape_markdown(str(settings.storage.data_dir))}"
    )
