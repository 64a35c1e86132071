"""Chat with your PDFs, locally: `streamlit run app.py`. This file is the chat page and the navigation."""

from pathlib import Path

import streamlit as st

from rag.chat import ChatSession, record_exchange
from rag.errors import RagError
from rag.ui_state import Retriever, answer_message, user_message
from ui import chat_view, common, resources


def chat_page() -> None:
    settings, library = common.boot()
    collection = common.collection_picker(library, settings)
    config, history = common.chat_setup(settings)
    state = st.session_state
    if state.get("chat_collection") != collection:  # a chat belongs to one collection
        state.update(chat_collection=collection, chat_id=None, messages=[], chat_picker=None)
    if "next_chat_pick" in state:  # set before the picker exists: a widget's state is read-only after
        state.chat_picker = state.pop("next_chat_pick")

    ollama = common.ollama_status(settings.ollama_host)
    with st.sidebar:
        llm = chat_view.model_picker(settings, config, ollama)
        config, mode = chat_view.retrieval_settings(settings, config)
        common.status_line(library, settings, collection, ollama, llm.model)

        chat_view.chats_sidebar(history, collection)

    st.title("Chat with your PDFs")
    has_documents = bool(library.documents(collection))
    if not has_documents:
        chat_view.getting_started(collection)
    elif not state.messages:
        st.caption(
            "Ask a question about your documents. Every answer shows the passages it used, with file, page "
            "and scores, so you can check it."
        )
    for message in state.messages:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                chat_view.user_message(message)
            else:
                chat_view.assistant_message(library, llm, message)

    placeholder = "Ask about your documents" if has_documents else "Add documents first (Documents page)"
    if question := st.chat_input(placeholder, key="question", disabled=not has_documents):
        if not question.strip():
            st.rerun()
        with st.chat_message("user"):
            chat_view.user_message(user_message(question))
        with st.chat_message("assistant"):
            retriever = Retriever(library, collection, mode=mode)
            answer = chat_view.answer_live(library, ChatSession(retriever, llm, config), question, state.messages)
        notes = list(retriever.notes)
        try:
            state.chat_id = state.chat_id or history.create_chat(collection)
            record_exchange(history, state.chat_id, answer, notes=notes)
            state.next_chat_pick = state.chat_id
        except RagError as e:
            notes.append(f"This exchange could not be saved to the chat history: {e}")
        state.messages += [user_message(question), answer_message(answer, notes=notes)]
        st.rerun()


st.set_page_config(page_title="Chat with your PDFs", page_icon=resources.favicon(), layout="wide")
ICONS = {"Documents": ":material/description:"}
pages = [st.Page(chat_page, title="Chat", icon=":material/chat:", default=True)]
for path in sorted((Path(__file__).parent / "pages").glob("*.py")):  # every file page, also future ones
    title = path.stem.split("_", 1)[-1].replace("_", " ")
    pages.append(st.Page(str(path.relative_to(Path(__file__).parent)), title=title, icon=ICONS.get(title)))
st.navigation(pages).run()
