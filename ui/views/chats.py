"""The chat page's conversation: the chats list in the sidebar, and asking a question so that no exchange
is ever lost (stored as it is asked, the answer when it ends or is cut off)."""

from __future__ import annotations

import streamlit as st

from rag.answer.chat import Answer, AnswerStream, ChatSession, record_exchange
from rag.answer.export import export_filename
from rag.answer.history import ChatHistory, ChatSummary
from rag.answer.llm import OllamaLLM
from rag.errors import RagError
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message
from rag.settings import AnswerSettings
from ui.state.messages import answer_message, interrupted_message, stored_messages, user_message
from ui.views import chat as chat_view

ASKED_KEY = "asked"  # the question the chat input handed over, answered by the next run
SHOWN = 30  # chats listed in the sidebar; older ones behind "Older chats"


def take_question() -> None:
    """The chat input's callback: runs before the script, so the run that answers draws the input disabled
    (a second question cannot cut the first one's answer short)."""
    question = (st.session_state.get("question") or "").strip()
    if question:
        st.session_state[ASKED_KEY] = question


def open_chat(history: ChatHistory, collection: str, chat_id: str | None) -> None:
    """Show ``chat_id`` (None: a new, empty chat) of ``collection``."""
    state = st.session_state
    state.update(chat_collection=collection, chat_id=None, messages=[])
    if chat_id is None:
        return
    try:
        state.update(chat_id=chat_id, messages=stored_messages(history.get_chat(chat_id).messages))
    except RagError as e:
        state.chat_error = f"Cannot reopen that chat: {e}"


def open_last_chat(history: ChatHistory, collection: str) -> None:
    """On a new session or another collection: its most recent chat, where the user left off."""
    chats = list_chats(history, collection)
    open_chat(history, collection, chats[0].id if chats else None)


def ask(
    library: Library,
    history: ChatHistory,
    collection: str,
    question: str,
    *,
    llm: OllamaLLM,
    config: AnswerSettings,
    mode: str,
) -> None:
    """Store the question, stream the answer, store the answer (marked incomplete if the run stops first)."""
    state = st.session_state
    notes: list[str] = []
    question_id = None
    try:
        state.chat_id = state.chat_id or history.create_chat(collection)
        question_id = history.append_message(state.chat_id, "user", question).id
    except RagError as e:
        notes.append(f"This exchange could not be saved to the chat history: {e}")
    chat_id: str | None = state.chat_id
    earlier = list(state.messages)
    # The session's message list from now on; the answer is appended to this very list, because once a run
    # is stopped every session-state access raises the stop again.
    shown = state.messages = [*earlier, user_message(question)]
    streams: list[AnswerStream] = []
    answer: Answer | None = None
    retriever = library.retriever(collection, mode)  # as `rag ask` retrieves
    # page context and the not-found gate's evidence, as `rag ask`
    session = ChatSession(retriever, llm, config, library.expander(collection), library.openings(collection))
    try:
        with st.chat_message("user"):
            chat_view.user_message(shown[-1])
        with st.chat_message("assistant"):
            answer = chat_view.answer_live(library, session, question, earlier, on_stream=streams.append)
    finally:
        # A reload, a closed tab or another widget stops this run at its next drawing call: keep what came.
        if answer is None and streams:
            streams[0].close()
            answer = streams[0].result()
        shown.append(_store(history, chat_id, answer, question, question_id, [*notes, *retriever.notes]))


def _store(
    history: ChatHistory,
    chat_id: str | None,
    answer: Answer | None,
    question: str,
    question_id: int | None,
    notes: list[str],
) -> dict:
    """Store an answer as its question's reply; the message to show. No Streamlit call: this runs while
    a stopped run unwinds."""
    if answer is None:  # stopped before the search ended: the question stays, unanswered, and says so
        return interrupted_message(question)
    try:
        if chat_id is not None:
            record_exchange(history, chat_id, answer, notes=notes, question_id=question_id)
    except RagError as e:
        notes.append(f"This answer could not be saved to the chat history: {e}")
    return answer_message(answer, notes=notes)


def chats_sidebar(history: ChatHistory, collection: str) -> None:
    """New chat; the collection's chats, most recent first; rename, download or delete the open one."""
    state = st.session_state
    st.subheader("Chats")
    st.button(
        "New chat",
        icon=":material/add:",
        key="new_chat",
        width="stretch",
        on_click=open_chat,
        args=(history, collection, None),
    )
    chats = list_chats(history, collection)
    if state.get("chat_error"):
        st.error(escape_message(state.pop("chat_error")))
    for chat in chats[:SHOWN]:
        _chat_button(history, collection, chat)
    if len(chats) > SHOWN:
        with st.expander(f"Older chats ({len(chats) - SHOWN})"):
            for chat in chats[SHOWN:]:
                _chat_button(history, collection, chat)
    current = next((c for c in chats if c.id == state.get("chat_id")), None)
    if current is not None:
        _chat_actions(history, collection, current)


def chat_toolbar(history: ChatHistory, collection: str) -> None:
    """New chat, reopen one, download this one: in the main area too, because on a phone the sidebar is
    collapsed and nobody finds them there."""
    state = st.session_state
    chats = list_chats(history, collection)
    current = next((c for c in chats if c.id == state.get("chat_id")), None)
    with st.container(horizontal=True, gap="small", key="chat_toolbar"):
        st.button(
            "New chat",
            icon=":material/add:",
            key="new_chat_top",
            disabled=current is None and not state.get("messages"),  # this is a new chat already
            on_click=open_chat,
            args=(history, collection, None),
        )
        if chats:
            with st.popover("Chats", icon=":material/history:", key="reopen_chats", help="Reopen an earlier chat"):
                for chat in chats[:SHOWN]:
                    st.button(
                        escape_markdown(chat.title),
                        key=f"reopen-{chat.id}",
                        type="secondary" if chat.id == state.get("chat_id") else "tertiary",
                        on_click=open_chat,
                        args=(history, collection, chat.id),
                    )
        if current is not None:
            _download(
                history,
                current.id,
                "Download",
                "download_chat_top",
                "This chat as Markdown, with each answer's sources (rename or delete it in the sidebar)",
            )


def _download(history: ChatHistory, chat_id: str, label: str, key: str, help: str | None = None) -> None:
    name, markdown = export(history, chat_id)
    st.download_button(
        label, markdown, file_name=name, mime="text/markdown", key=key, icon=":material/download:", help=help
    )


def _chat_button(history: ChatHistory, collection: str, chat: ChatSummary) -> None:
    is_open = chat.id == st.session_state.get("chat_id")
    st.button(
        escape_markdown(chat.title),
        key=f"chat-{chat.id}",
        icon=":material/chat_bubble:" if is_open else None,
        type="secondary" if is_open else "tertiary",
        width="stretch",
        help=f"Last message {chat.updated_at[:16].replace('T', ' ')} UTC",
        on_click=open_chat,
        args=(history, collection, chat.id),
    )


def _chat_actions(history: ChatHistory, collection: str, chat: ChatSummary) -> None:
    with st.expander("This chat: rename, download, delete"):
        title = st.text_input("Title", chat.title, key=f"title-{chat.id}", max_chars=120)
        if st.button("Rename", key="rename_chat", disabled=not title.strip() or title.strip() == chat.title):
            try:
                history.rename_chat(chat.id, title)
            except RagError as e:
                st.error("Cannot rename the chat: " + escape_message(str(e)))
            else:
                st.rerun()
        _download(history, chat.id, "Download as Markdown", "download_chat")
        if st.button("Delete this chat", icon=":material/delete:", key="delete_chat"):
            try:
                history.delete_chat(chat.id)
            except RagError as e:
                st.error("Cannot delete the chat: " + escape_message(str(e)))
                return
            open_chat(history, collection, None)
            st.rerun()


def list_chats(history: ChatHistory, collection: str) -> list[ChatSummary]:
    try:
        return history.list_chats(collection)
    except RagError as e:
        st.error("Cannot read the chat history: " + escape_message(str(e)))
        return []


def export(history: ChatHistory, chat_id: str) -> tuple[str, str]:
    """(file name, Markdown) of a chat."""
    try:
        return export_filename(history.get_chat(chat_id)), history.export_markdown(chat_id)
    except RagError as e:
        return "chat-export-failed.md", f"Export failed: {e}\n"
