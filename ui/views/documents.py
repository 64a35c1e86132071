"""Drawing the Documents page: uploads and their ingestion, the documents table, chunks, collections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from rag.errors import RagError
from rag.index.names import collection_name_problem
from rag.ingest.chunker import indexed_text
from rag.ingest.pipeline import Source
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message
from rag.models import DocumentInfo, FileResult, ocr_label
from rag.settings import Settings
from ui.state.job_log import JobLog
from ui.state.jobs import (
    IngestJob,
    JobSnapshot,
    finished_summary,
    hold_staged,
    human_duration,
    human_size,
    is_held,
    needs_password,
    release_finished_uploads,
    release_staged,
    result_line,
)
from ui.state.uploads import save_upload
from ui.views.chat import PASSWORDS_KEY
from ui.views.common import ASK_ABOUT_KEY, COLLECTION_KEY, PAGES

JOBS_KEY = "ingest_jobs"
_ICONS = {
    "ingested": ":green[:material/check_circle:]",
    "replaced": ":green[:material/published_with_changes:]",
    "duplicate": ":gray[:material/content_copy:]",
    "failed": ":red[:material/error:]",
}
_ADDED = ("ingested", "replaced")
_ADDED_WHILE_RUNNING = ":gray[:material/description:]"


@contextmanager
def _running_box(label: str) -> Iterator[None]:
    """A running job's st.status, drawn into without its own ``with``: leaving that marks the status complete
    (a tick), and the page showed one on an unfinished batch until the next refresh replaced it."""
    box = st.status(label, state="running", expanded=True)
    with box.container():
        yield


def start_ingest(
    library: Library,
    settings: Settings,
    collection: str,
    sources: list[Source],
    keep_both: bool,
    ocr: str | None = None,
) -> None:
    """Run an ingest of staged sources in the background; the page polls it."""
    hold_staged([Path(s.path) for s in sources])
    job = IngestJob(
        library,
        sources,
        collection,
        keep_both=keep_both,
        ocr=ocr,
        on_finished=lambda j: release_finished_uploads(j, settings.storage.data_dir),
        log=job_log(settings),
    )
    st.session_state.setdefault(JOBS_KEY, []).append(job.start())


def stage_uploads(files, settings: Settings) -> list[Source]:
    """Store uploaded files by content hash; names only as labels."""
    sources = []
    for f in files:
        try:
            sources.append(save_upload(f, f.name, settings.storage.data_dir))
        except OSError as e:
            st.error(f"Could not store {escape_markdown(f.name)}: {escape_markdown(str(e.strerror or e))}")
    return sources


def _result_lines(snapshot: JobSnapshot) -> None:
    for r in snapshot.results:
        # A done mark only once the whole batch is: a tick beside each added file read as "finished".
        icon = _ICONS.get(r.status, "•") if snapshot.done or r.status not in _ADDED else _ADDED_WHILE_RUNNING
        line = f"{icon} **{escape_markdown(r.file_name)}** · {r.status}: "
        st.markdown(line + escape_markdown(result_line(r)))
        for warning in r.warnings:
            st.caption(":orange[:material/warning:] " + escape_markdown(warning))


def _job_box(snapshot: JobSnapshot, *, expanded: bool):
    """A running job's box (a spinner), or a finished one's, with an icon for how it went: st.status has
    only a tick or a cross, and a file waiting for its password is neither."""
    target = escape_markdown(snapshot.collection)
    if not snapshot.done:
        done = len(snapshot.results)
        label = f"Adding {snapshot.total} file(s) to “{target}”: {done} of {snapshot.total} done"
        return _running_box(label)
    failed = any(r.status == "failed" and not needs_password(r) for r in snapshot.results)
    if snapshot.error or failed:
        icon = ":material/error:"
    elif any(needs_password(r) for r in snapshot.results):
        icon = ":material/warning:"
    else:
        icon = ":material/check_circle:"
    label = f"Finished: {finished_summary(snapshot)} (collection “{target}”)"
    return st.expander(label, expanded=expanded, icon=icon)


def job_status(snapshot: JobSnapshot, *, latest: bool) -> None:
    notable = any(r.status not in ("ingested", "replaced") or r.warnings for r in snapshot.results)
    with _job_box(snapshot, expanded=latest or notable or bool(snapshot.error)):
        if not snapshot.done:
            current = snapshot.current
            text = "waiting for the PDF reader…"
            if current is not None:
                pages = f"page {current.pages_done} of {current.pages_total}" if current.pages_total else "opening"
                text = f"{escape_markdown(current.name)}: {pages}, {current.chunks_text()}"
                if current.ocr_page is not None:
                    text += f", reading page {current.ocr_page + 1} with OCR"
                left = current.seconds_left(time.monotonic())
                if left is not None:
                    text += f", {human_duration(left)} left"
            st.progress(snapshot.fraction, text=text)
            if snapshot.waiting:
                names = ", ".join(escape_markdown(n) for n in snapshot.waiting)
                st.caption(f":material/schedule: Waiting ({len(snapshot.waiting)}): {names}")
        _result_lines(snapshot)
        if snapshot.error:
            st.error("Ingestion stopped: " + escape_message(snapshot.error))


@dataclass(frozen=True)
class _Shown:
    """A job on the page: this session's (``job`` set: it knows its sources) or one from the job log."""

    snapshot: JobSnapshot
    job: IngestJob | None = None

    def source_for(self, result: FileResult) -> Source | None:
        if self.job is not None:
            return self.job.source_for(result)
        staged = Path(result.path)  # another session's upload: retry it while its staged copy is there
        return Source(staged, result.file_name) if staged.exists() else None


def job_log(settings: Settings) -> JobLog:
    return JobLog(settings.storage.data_dir / "jobs.sqlite3")


def password_prompts(library: Library, settings: Settings, shown: list[_Shown]) -> None:
    """A password field for each encrypted file; a retry runs it again with the password."""
    log = job_log(settings)
    settled = st.session_state.setdefault("password_retried", set()) | log.settled()
    for entry in shown:
        snapshot = entry.snapshot
        for r in snapshot.results:
            key = f"{snapshot.job_id}:{r.path}"
            source = entry.source_for(r)
            if not needs_password(r) or key in settled or not snapshot.done or source is None:
                continue
            with st.form(f"pw-form-{key}", border=True):
                wrong = (r.reason or "").startswith("wrong password")
                hint = "That password did not open it; try again." if wrong else "Enter its password to add it."
                st.markdown(f":material/lock: **{escape_markdown(r.file_name)}** is encrypted. {hint}")
                password = st.text_input("Password", type="password", key=f"pw-{key}")
                unlock, skip = st.columns(2)
                go = unlock.form_submit_button("Unlock and add", type="primary", key=f"unlock-{key}")
                dismiss = skip.form_submit_button("Skip this file", key=f"skip-{key}")
            if go and not password:
                st.warning("Type the password first.")
            if (go and password) or dismiss:
                st.session_state["password_retried"].add(key)
                log.settle(key)
                held = is_held(Path(r.path))  # not after a restart: no use of it is held any more
                if go:
                    st.session_state.setdefault(PASSWORDS_KEY, {})[r.doc_id] = password
                    job = entry.job
                    start_ingest(
                        library,
                        settings,
                        snapshot.collection,
                        [Source(source.path, source.name, password)],
                        keep_both=job.keep_both if job else False,
                        ocr=job.ocr if job else None,
                    )
                if held or not go:  # a retry holds its own use; a skipped file nobody holds can go
                    release_staged([Path(r.path)], settings.storage.data_dir)
                st.rerun()


def jobs_panel(library: Library, settings: Settings) -> None:
    """Progress and results of uploads, refreshed every second while any runs: this session's, and those
    of other sessions or from before a restart (the job log) until someone clears them."""
    jobs: list[IngestJob] = st.session_state.get(JOBS_KEY, [])
    log = job_log(settings)
    mine = {j.job_id for j in jobs}
    logged = [_Shown(s) for s in log.snapshots() if s.job_id not in mine]
    if not jobs and not logged:
        return
    running = any(not j.done for j in jobs) or any(not e.snapshot.done for e in logged)

    @st.fragment(run_every=1.0 if running else None)
    def panel() -> None:
        shown = [_Shown(j.snapshot(), j) for j in reversed(jobs)]
        shown += [_Shown(s) for s in log.snapshots() if s.job_id not in mine]
        for i, entry in enumerate(shown):
            job_status(entry.snapshot, latest=i == 0)
        if running and all(e.snapshot.done for e in shown):
            st.rerun()  # the whole page: the documents table and counts changed

    panel()
    shown = [_Shown(j.snapshot(), j) for j in reversed(jobs)] + logged
    password_prompts(library, settings, shown)
    added = [r.file_name for j in jobs for r in j.snapshot().results if r.status in ("ingested", "replaced")]
    if (
        added
        and not running
        and st.button("Ask about these documents", key="ask_about_go", type="primary", icon=":material/chat:")
    ):
        st.session_state[ASK_ABOUT_KEY] = added
        st.switch_page(PAGES["chat"])
    if not running and st.button("Clear these results", key="clear_results"):
        settled = st.session_state.get("password_retried", set()) | log.settled()
        for entry in shown:
            for r in entry.snapshot.results:
                key = f"{entry.snapshot.job_id}:{r.path}"
                if needs_password(r) and key not in settled and is_held(Path(r.path)):
                    release_staged([Path(r.path)], settings.storage.data_dir)
        log.dismiss(e.snapshot.job_id for e in shown)
        st.session_state[JOBS_KEY] = []
        st.rerun()


def password_notice(settings: Settings) -> None:
    """On other pages: uploads that wait for a password, with the way to the Documents page."""
    waiting = pending_passwords(settings)
    if waiting:
        what = "1 uploaded file needs its" if waiting == 1 else f"{waiting} uploaded files need their"
        st.warning(f"{what} password before {'it' if waiting == 1 else 'they'} can be added.", icon=":material/lock:")
        st.page_link("pages/1_Documents.py", label="Enter it on the Documents page", icon=":material/upload_file:")


def pending_passwords(settings: Settings) -> int:
    """Files of finished uploads (any session's, not cleared) still waiting for their password."""
    log = job_log(settings)
    settled = st.session_state.get("password_retried", set()) | log.settled()
    return sum(
        needs_password(r) and f"{s.job_id}:{r.path}" not in settled and Path(r.path).exists()
        for s in log.snapshots()
        if s.done
        for r in s.results
    )


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
