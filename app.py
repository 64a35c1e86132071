"""Chat with your PDFs, locally: `streamlit run app.py`. This file is the chat page and the navigation."""

from dataclasses import replace
from pathlib import Path

import streamlit as st

from rag.chat import ChatSession, record_exchange
from rag.errors import RagError
from rag.ui_state import (
    Retriever,
    answer_message,
    history_turns,
    live_message,
    safe_stream,
    stored_messages,
    user_message,
)
from ui import chat_view, common, resources


def chat_page() -> None:
    settings, library = common.boot()
    collection = common.collection_picker(library, settings)
    config, history = resources.chat_config(), resources.history(str(settings.data_dir / "history.sqlite3"))
    state = st.session_state
    if state.get("chat_collection") != collection:  # a chat belongs to one collection
        state.update(chat_collection=collection, chat_id=None, messages=[], chat_picker=None)
    if "next_chat_pick" in state:  # set before the picker exists: a widget's state is read-only after
        state.chat_picker = state.pop("next_chat_pick")

    ollama = common.ollama_status(settings.ollama_host)
    with st.sidebar:
        models = ollama.models or [settings.llm_model]
        default = next((m for m in models if m.split(":")[0] == settings.llm_model.split(":")[0]), models[0])
        model = st.selectbox("Model", models, index=models.index(default), key="model", disabled=not ollama.models)
        llm = resources.llm(settings.ollama_host, model, config.timeout_s)
        if ollama.reachable and not ollama.models:
            chat_view.pull_button(llm, settings.llm_model, key="pull-sidebar")
        with st.expander("Retrieval settings"):
            top_k = st.slider("Passages per question (top-k)", 1, 20, min(20, config.top_k), key="top_k")
            threshold = st.slider("Relevance threshold", 0.0, 1.0, min(1.0, max(0.0, config.min_score)), 0.05,
                                  key="min_score", help="Below this similarity a question gets 'not found'.")
            hybrid = st.toggle("Hybrid search (keywords + semantic)", key="hybrid",
                               help="Falls back to semantic search, with a note, where hybrid is not available.")
        common.status_line(library, settings, collection, ollama, model)

        st.subheader("Chats")
        if st.button("New chat", icon="➕", key="new_chat", width="stretch"):
            state.update(chat_id=None, messages=[], chat_picker=None)
        chats = {c.id: c for c in history.list_chats(collection)}

        def reopen() -> None:
            chosen = state.get("chat_picker")
            if chosen:
                state.update(chat_id=chosen, messages=stored_messages(history.get_chat(chosen).messages))

        st.selectbox("Reopen a chat", list(chats), key="chat_picker", on_change=reopen, placeholder="Earlier chats",
                     format_func=lambda i: f"{chats[i].title} · {chats[i].updated_at[:10]}", index=None)
        if state.chat_id and state.chat_id in chats:
            st.download_button("Download as Markdown", chat_view.history_markdown(history, state.chat_id),
                               file_name=f"chat-{state.chat_id[:8]}.md", mime="text/markdown", key="download_chat")
            if st.button("Delete this chat", icon="🗑️", key="delete_chat"):
                history.delete_chat(state.chat_id)
                state.update(chat_id=None, messages=[], next_chat_pick=None)
                st.rerun()

    st.title("Chat with your PDFs")
    if not library.documents(collection):
        st.info("This collection has no documents yet. Add PDFs on the Documents page, then ask here.")
        st.page_link("pages/1_Documents.py", label="Go to Documents", icon="📄")
    elif not state.messages:
        st.caption("Ask a question about your documents. Every answer shows the passages it used, with file, page "
                   "and scores, so you can check it.")
    for message in state.messages:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                chat_view.user_message(message)
            else:
                chat_view.assistant_message(library, llm, message)

    if question := st.chat_input("Ask about your documents", key="question"):
        if not question.strip():
            st.rerun()
        with st.chat_message("user"):
            chat_view.user_message(user_message(question))
        with st.chat_message("assistant"):
            retriever = Retriever(library, collection, hybrid=hybrid)
            session = ChatSession(retriever, llm, replace(config, top_k=top_k, min_score=threshold))
            left, right = st.columns([3, 2], gap="medium")
            with left, st.spinner("Searching your documents…"):
                stream = session.ask(question, history_turns(state.messages))
            with right:
                chat_view.answer_sources(library, live_message(stream))
            with left:
                st.write_stream(safe_stream(stream))
            answer = stream.result()
        state.messages += [user_message(question), answer_message(answer, notes=retriever.notes)]
        try:
            state.chat_id = state.chat_id or history.create_chat(collection)
            record_exchange(history, state.chat_id, answer)
            state.next_chat_pick = state.chat_id
        except RagError as e:
            st.error(f"The chat could not be saved: {e}")
        st.rerun()


st.set_page_config(page_title="Chat with your PDFs", page_icon="📄", layout="wide")
extra = [
    st.Page(str(p.relative_to(Path(__file__).parent)), title=p.stem.split("_", 1)[-1].replace("_", " "))
    for p in sorted((Path(__file__).parent / "pages").glob("*.py"))
]
st.navigation([st.Page(chat_page, title="Chat", icon="💬", default=True), *extra]).run()
