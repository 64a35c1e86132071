"""Drawing the Documents page: uploads and their ingestion, the documents table, chunks, collections."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from rag.errors import RagError
from rag.index.names import collection_name_problem
from rag.ingest.chunker import indexed_text
from rag.ingest.sources import Source
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message
from rag.models import DocumentInfo, ocr_label
from rag.settings import Settings
from ui.state.jobs import (
    human_size,
)
from ui.views.chat import PASSWORDS_KEY
from ui.views.common import COLLECTION_KEY
from ui.views.jobs import start_ingest


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def documents_table(docs: list[DocumentInfo]) -> None:
    frame = pd.DataFrame(
        [
            {
                "file": d.file_name,
                "pages": d.pages,
                "chunks": d.chunks,
                "size": human_size(d.size_bytes),
                "added": _local_time(d.ingested_at),
                "status": d.status,
                "ocr": d.ocr_summary,
                "warnings": " · ".join(d.warnings),
                "id": d.doc_id[:12],
            }
            for d in docs
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="documents_table",
        column_config={
            "file": st.column_config.TextColumn("File", width="large"),
            "pages": st.column_config.NumberColumn("Pages", width="small"),
            "chunks": st.column_config.NumberColumn("Chunks", width="small"),
            "size": st.column_config.TextColumn("Size", width="small"),
            "added": st.column_config.TextColumn("Added"),
            "status": st.column_config.TextColumn("Status", width="small"),
            "ocr": st.column_config.TextColumn(
                "OCR", width="small", help="Pages read by OCR (their text is machine-read) and the mean word confidence"
            ),
            "warnings": st.column_config.TextColumn(
                "Warnings", width="large", help="Pages without usable text, OCR'd pages, text that looks garbled"
            ),
            "id": st.column_config.TextColumn("ID", help="Content hash (SHA-256), first 12 characters"),
        },
    )


def _doc_label(docs: list[DocumentInfo]):
    by_id = {d.doc_id: d for d in docs}
    return lambda doc_id: f"{by_id[doc_id].file_name} ({doc_id[:8]})"


DELETED_KEY = "deleted_docs"  # what the last delete did, shown once on the next run
DELETE_FORM_KEY = "delete_form"  # the delete form's round: its widgets' keys change after each delete


def _delete_keys() -> tuple[str, str]:
    n = st.session_state.get(DELETE_FORM_KEY, 0)
    return f"delete_docs-{n}", f"delete_docs_sure-{n}"


def _delete_chosen(library: Library, collection: str, docs: list[DocumentInfo]) -> None:
    """The delete button's callback (it runs before the page is drawn): delete, then start the form over with
    new widgets. Setting the old ones' values is not enough: the browser kept showing the deleted file as a
    chosen chip and the box ticked."""
    state = st.session_state
    chosen_key, sure_key = _delete_keys()
    names = {d.doc_id: d.file_name for d in docs}
    deleted, failed = [], []
    for doc_id in state.get(chosen_key) or []:
        try:
            library.delete_document(collection, doc_id)
            deleted.append(names.get(doc_id, doc_id[:12]))
        except RagError as e:
            failed.append(f"Could not delete {names.get(doc_id, doc_id[:12])}: {e}")
    state[DELETED_KEY] = (deleted, failed)
    state[DELETE_FORM_KEY] = state.get(DELETE_FORM_KEY, 0) + 1


def deleted_notice() -> None:
    """The outcome of the last delete, once: which documents went, and any that could not be deleted."""
    deleted, failed = st.session_state.pop(DELETED_KEY, ([], []))
    if deleted:
        names = ", ".join(f"“{escape_markdown(n)}”" for n in deleted)
        st.success(f"Deleted {names} with {'its' if len(deleted) == 1 else 'their'} chunks.", icon=":material/delete:")
    for problem in failed:
        st.error(escape_message(problem))


def delete_documents(library: Library, collection: str, docs: list[DocumentInfo]) -> None:
    chosen_key, sure_key = _delete_keys()
    chosen = st.multiselect(
        "Documents to delete",
        [d.doc_id for d in docs],
        format_func=_doc_label(docs),
        key=chosen_key,
        placeholder="Choose documents",
    )
    sure = st.checkbox("Yes, delete them with their chunks and stored originals", key=sure_key, disabled=not chosen)
    st.button(
        f"Delete {len(chosen)} document{'' if len(chosen) == 1 else 's'}" if chosen else "Delete",
        key="delete_docs_go",
        disabled=not (chosen and sure),
        icon=":material/delete:",
        on_click=_delete_chosen,
        args=(library, collection, docs),
    )


def reocr_documents(library: Library, settings: Settings, collection: str, docs: list[DocumentInfo]) -> None:
    """Re-read chosen documents with OCR on every page: for scans whose own text layer is poor."""
    st.caption(
        "For scans that came with a poor text layer: every page is rendered and read again with OCR, and the new"
        " reading replaces the old one once it is complete. Pages take seconds each."
    )
    originals = {d.doc_id: path for d in docs if (path := library.original_path(d.doc_id)) is not None}
    kept = [d for d in docs if d.doc_id in originals]
    chosen = st.multiselect(
        "Documents to re-read",
        [d.doc_id for d in kept],
        format_func=_doc_label(kept),
        key="reocr_docs",
        placeholder="Choose documents" if kept else "No stored originals (RAG_KEEP_ORIGINALS is off)",
    )
    if st.button("Re-read with OCR", key="reocr_go", disabled=not chosen, icon=":material/document_scanner:"):
        by_id = {d.doc_id: d for d in kept}
        passwords = st.session_state.get(PASSWORDS_KEY, {})
        sources = [Source(originals[doc_id], by_id[doc_id].file_name, passwords.get(doc_id)) for doc_id in chosen]
        start_ingest(library, settings, collection, sources, keep_both=False, ocr="force")
        st.session_state.pop("reocr_docs", None)
        st.rerun()


def chunk_viewer(library: Library, collection: str, docs: list[DocumentInfo]) -> None:
    doc_id = st.selectbox(
        "Document",
        [d.doc_id for d in docs],
        format_func=_doc_label(docs),
        key="chunks_doc",
        index=None,
        placeholder="Choose a document to see its chunks",
    )
    if doc_id is None:
        return
    try:
        chunks = library.document_chunks(collection, doc_id)
    except RagError as e:
        st.error("Cannot read the chunks: " + escape_message(str(e)))
        return
    st.caption(f"{len(chunks)} chunks: the passages the retriever searches, in document order.")
    frame = pd.DataFrame(
        [
            {
                "#": c.position,
                "pages": f"{c.page + 1}" + (f"–{c.page_end + 1}" if c.page_end != c.page else ""),
                "tokens": c.n_tokens,
                "ocr": ocr_label(c.ocr, c.ocr_confidence),
                "text": " ".join(c.text.split()),
            }
            for c in chunks
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="chunks_table",
        column_config={
            "#": st.column_config.NumberColumn("#", width="small"),
            "pages": st.column_config.TextColumn("Page", width="small"),
            "tokens": st.column_config.NumberColumn("Tokens", width="small"),
            "ocr": st.column_config.TextColumn("Read by", width="small", help="OCR: machine-read text (confidence)"),
            "text": st.column_config.TextColumn("Text", width="large"),
        },
    )
    if chunks:
        n = st.number_input("Show chunk", 0, len(chunks) - 1, 0, key="chunk_n")
        st.caption("As the retrievers read it: the document's title, then the chunk's text.")
        st.text(indexed_text(chunks[int(n)], library.settings.ingest.title_header))


def collections_manager(library: Library, settings: Settings, collection: str) -> None:
    with st.sidebar.expander("Manage collections"):
        name = st.text_input("New collection", key="new_collection", placeholder="e.g. contracts-2024")
        if st.button("Create", key="create_collection", disabled=not name.strip()):
            problem = collection_name_problem(name)
            if problem:
                st.error(escape_message(problem))
            else:
                try:
                    library.open_collection(name.strip(), create=True)
                    st.session_state[COLLECTION_KEY] = name.strip()
                    st.rerun()
                except RagError as e:
                    st.error(escape_message(str(e)))
        st.divider()
        sure = st.checkbox(
            f"Delete collection {escape_markdown(collection)} and all its documents", key="delete_collection_sure"
        )
        if st.button("Delete collection", key="delete_collection", disabled=not sure, icon=":material/delete:"):
            try:
                library.delete_collection(collection)
            except RagError as e:
                st.error(escape_message(str(e)))
            else:
                st.session_state[COLLECTION_KEY] = settings.storage.collection
                st.session_state.pop("delete_collection_sure", None)
                st.rerun()


def uploader_help() -> str:
    limit = st.get_option("server.maxUploadSize")
    return f"PDF files, up to {limit} MB each (server.maxUploadSize in .streamlit/config.toml)."
