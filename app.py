"""Chat with your PDFs, locally: `streamlit run app.py`. This file is the chat page and the navigation."""

from pathlib import Path

import streamlit as st


def chat_page() -> None:
    from rag.mdsafe import escape_markdown
    from ui.views import chat, chats, common, jobs

    st.title("Chat with your PDFs")  # first: on a cold start the page shows while the library opens
    settings, library = common.boot()
    collection = common.collection_picker(library, settings)
    config, history = common.chat_setup(settings)
    state = st.session_state
    if state.get("chat_collection") != collection:  # a new session, or another collection: where it left off
        chats.open_last_chat(history, collection)
    if about := state.pop(common.ASK_ABOUT_KEY, None):  # sent here after an upload: a new chat about those files
        chats.open_chat(history, collection, None)

    ollama = common.ollama_status(settings.ollama.host)
    with st.sidebar:
        llm = chat.model_picker(settings, config, ollama)
        config, mode = chat.retrieval_settings(settings, config)
        common.status_line(library, settings, collection, ollama, llm.model)
        chats.chats_sidebar(history, collection)

    jobs.password_notice(settings)  # an upload's locked file stays visible from every page
    has_documents = bool(library.documents(collection))
    question = state.pop(chats.ASKED_KEY, None)
    st.chat_input(
        "Ask about your documents" if has_documents else "Add documents first (Documents page)",
        key="question",
        disabled=not has_documents or question is not None,  # no second question while one is answered
        on_submit=chats.take_question,
    )
    if has_documents:  # New chat, reopen, download also here: a phone's sidebar is collapsed
        chats.chat_toolbar(history, collection)
    if not has_documents:
        chat.getting_started(collection)
    elif not state.messages and question is None:
        st.caption(
            ("Just added: " + ", ".join(escape_markdown(name) for name in about) + ". " if about else "")
            + "Ask a question about your documents. Every answer shows the passages it used, with file, page "
            "and scores, so you can check it."
        )
    for message in state.messages:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                chat.user_message(message)
            else:
                chat.assistant_message(library, llm, message)
    if question is not None and has_documents:
        chats.ask(library, history, collection, question, llm=llm, config=config, mode=mode)
        st.rerun()  # the input enabled again, the answer drawn in full (page previews)


def main() -> None:
    from ui import resources

    st.set_page_config(page_title="Chat with your PDFs", page_icon=resources.favicon(), layout="wide")
    from ui.views.common import PAGES

    pages = [st.Page(chat_page, title="Chat", icon=":material/chat:", default=True)]
    PAGES["chat"] = pages[0]
    for path in sorted((Path(__file__).parent / "pages").glob("*.py")):  # every file page, also future ones
        title = path.stem.split("_", 1)[-1].replace("_", " ")
        pages.append(st.Page(str(path.relative_to(Path(__file__).parent)), title=title, icon=ICONS.get(title)))
    st.navigation(pages).run()


ICONS = {"Documents": ":material/description:"}
# Streamlit runs this file as __main__. The PDF reader processes are started with "spawn", which runs the
# main module again in each of them as __mp_main__: without this guard every reader ran the app (a "missing
# ScriptRunContext" warning per Streamlit call); the app's own modules are imported in the functions, so a
# reader does not load them either.
if __name__ == "__main__":
    main()
