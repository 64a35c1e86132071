"""Background ingestion on the Documents page: starting a job, its progress and results, and the passwords its
locked files wait for (in any tab, also after a restart)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from rag.ingest.sources import Source
from rag.library import Library
from rag.mdsafe import escape_markdown, escape_message
from rag.models import FileResult
from rag.settings import Settings
from ui.state.job_log import JobLog
from ui.state.jobs import (
    IngestJob,
    JobSnapshot,
    finished_summary,
    hold_staged,
    human_duration,
    is_held,
    needs_password,
    release_finished_uploads,
    release_staged,
    result_line,
)
from ui.state.uploads import save_upload
from ui.views.chat import PASSWORDS_KEY
from ui.views.common import ASK_ABOUT_KEY, PAGES

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
