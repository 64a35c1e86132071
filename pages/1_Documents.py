"""Documents: upload PDFs into a collection, watch them being ingested, inspect and delete them."""

import streamlit as st

from rag.mdsafe import escape_markdown
from ui.views import common, documents, jobs

settings, library = common.boot()
collection = common.collection_picker(library, settings)
documents.collections_manager(library, settings, collection)
state = st.session_state

st.title("Documents")
st.caption(
    "Files stay on this computer: they are stored under the data folder by content hash and searched "
    "locally. Encrypted PDFs ask for their password."
)
keep_both = st.toggle(
    "Keep both versions when a file with the same name is added again",
    key="keep_both",
    help="Off: a new version of a file replaces the old one (same name, different content).",
)
uploads = st.file_uploader(
    f"Drop PDF files here, several at once, to add them to “{escape_markdown(collection)}”",
    type="pdf",
    accept_multiple_files=True,
    key=f"uploader-{state.get('uploader_round', 0)}",
    help=documents.uploader_help(),
)
if uploads:
    sources = jobs.stage_uploads(uploads, settings)  # shows an error for any file it cannot store
    if sources:
        jobs.start_ingest(library, settings, collection, sources, keep_both)
    state.uploader_round = state.get("uploader_round", 0) + 1  # next run: a fresh, empty uploader
    if len(sources) == len(uploads):
        st.rerun()

jobs.jobs_panel(library, settings)

documents.deleted_notice()
docs = library.documents(collection)
st.subheader(f"In this collection: {len(docs)} document{'s' if len(docs) != 1 else ''}")
if not docs:
    st.info("No documents yet: drop PDF files on the area above.")
    st.stop()
documents.documents_table(docs)
with st.expander("Delete documents"):
    documents.delete_documents(library, collection, docs)
with st.expander("Re-read scanned documents with OCR"):
    documents.reocr_documents(library, settings, collection, docs)
with st.expander("Look at a document's chunks (what the retriever sees)"):
    documents.chunk_viewer(library, collection, docs)
