"""The Documents page through AppTest: real uploads (AppTest's file_uploader), real ingestion in the
background, the password path, duplicates, the chunk viewer, deleting, and collections."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.ingest.sources import Source
from tests.app_support import (
    ATTENTION,
    DOCS_PAGE,
    ENCRYPTED,
    KOREAN,
    app_environment,
    jobs_done,
    new_app,
    page_text,
    plain,
    run_until,
)
from tests.conftest import shared_path
from tests.fake_ollama import dead_host
from ui.state.jobs import IngestJob, needs_password

PDF = "application/pdf"


@pytest.fixture
def env(tmp_path: Path):
    with app_environment(tmp_path / "data", dead_host()) as settings:
        yield settings


def documents_page():
    at = new_app().run()
    at.switch_page(DOCS_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def documents_frame(at):
    frames = [d.value for d in at.dataframe if "chunks" in d.value.columns and "file" in d.value.columns]
    return frames[0] if frames else None


def upload(at, *files: tuple[str, bytes]):
    at.file_uploader[0].set_value([(name, data, PDF) for name, data in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return run_until(at, jobs_done)


def password_field(at):
    fields = [t for t in at.text_input if t.key and t.key.startswith("pw-")]
    return fields[0] if fields else None


def unlock(at, password: str):
    password_field(at).input(password)
    next(b for b in at.button if b.label == "Unlock and add").click().run()
    return run_until(at, jobs_done)


def test_upload_many_with_a_failure_and_an_encrypted_file(env) -> None:
    paper = shared_path(*ATTENTION).read_bytes()
    locked = shared_path(*ENCRYPTED).read_bytes()
    at = documents_page()
    assert "No documents yet" in page_text(at)
    upload(
        at,
        ("../../outside/attention paper.pdf", paper),  # the browser's name is a label, never a path
        ("broken.pdf", b"%PDF-1.7\nthis is not really a PDF\n"),
        (ENCRYPTED[-1], locked),
    )
    text = plain(page_text(at)).replace("**", "")
    assert "Finished: 1 ingested, 1 failed, 1 needs a password (collection “documents”)" in text
    assert "attention paper.pdf · ingested: 15 pages, 64 chunks" in text
    assert "broken.pdf · failed: " in text
    frame = documents_frame(at)
    assert list(frame["file"]) == ["attention paper.pdf"] and list(frame["pages"]) == [15]
    assert list(frame["chunks"]) == [64] and frame["size"][0].endswith("MB")

    # A wrong password: asked again, with a hint.
    assert password_field(at) is not None
    unlock(at, "not-the-password")
    assert "That password did not open it" in page_text(at)
    unlock(at, "password")
    assert password_field(at) is None
    frame = documents_frame(at)
    assert sorted(frame["file"]) == sorted(["attention paper.pdf", ENCRYPTED[-1]])

    # Stored by content hash only: no file is named after an upload; staged copies are gone.
    data = env.storage.data_dir
    names = {p.name for p in data.rglob("*")}
    assert not names & {"attention paper.pdf", "broken.pdf", ENCRYPTED[-1], "outside"}
    assert not (data.parent / "outside").exists()
    assert list((data / "uploads").iterdir()) == []
    assert len(list((data / "files").glob("*.pdf"))) == 2  # the originals, for previews


def test_duplicates_chunks_and_delete(env) -> None:
    from rag.ingest.chunker import indexed_text
    from ui import resources

    library = resources.library(env)
    [first] = library.ingest([shared_path(*ATTENTION)])
    at = documents_page()
    upload(at, ("copy of the paper.pdf", shared_path(*ATTENTION).read_bytes()))
    text = plain(page_text(at)).replace("**", "")
    assert f"copy of the paper.pdf · duplicate: already in the collection as '{ATTENTION[-1]}'; not added again" in text
    assert "::" not in text.replace(" ", "")
    assert len(documents_frame(at)) == 1

    at.selectbox(key="chunks_doc").set_value(first.doc_id).run()
    chunks = next(d.value for d in at.dataframe if "tokens" in d.value.columns)
    assert len(chunks) == first.chunks == 64
    assert list(chunks["#"]) == list(range(64)) and chunks["pages"][0] == "1"
    stored = library.document_chunks("documents", first.doc_id)
    # Shown as the retrievers read it: the title above the chunk's text.
    assert at.text[0].value == f"attention vaswani 2017 arxiv 1706 03762\n{stored[0].text}"
    at.number_input(key="chunk_n").set_value(5).run()
    assert at.text[0].value == indexed_text(stored[5])

    at.multiselect(key="delete_docs-0").set_value([first.doc_id]).run()
    assert at.button(key="delete_docs_go").disabled  # not before the confirmation
    at.checkbox(key="delete_docs_sure-0").check().run()
    at.button(key="delete_docs_go").click().run()
    assert not at.exception
    assert documents_frame(at) is None and "No documents yet" in page_text(at)
    assert library.documents("documents") == []


def test_a_new_version_replaces_the_old_unless_both_are_kept(env) -> None:
    paper = shared_path(*ATTENTION).read_bytes()
    other = shared_path("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf").read_bytes()
    at = documents_page()
    upload(at, ("report.pdf", paper))
    [first] = documents_frame(at)["id"]
    upload(at, ("report.pdf", other))  # the same name, other bytes: a new version
    text = plain(page_text(at)).replace("**", "")
    assert "report.pdf · replaced: " in text and "(replaced the earlier version with the same name)" in text
    frame = documents_frame(at)
    assert list(frame["file"]) == ["report.pdf"] and list(frame["id"]) != [first]

    at.toggle(key="keep_both").set_value(True).run()
    upload(at, ("report.pdf", paper))
    text = plain(page_text(at)).replace("**", "")
    assert "report.pdf · ingested: 15 pages, 64 chunks" in text
    assert sorted(documents_frame(at)["id"]) == sorted([first, list(frame["id"])[0]])  # both versions kept


def test_a_scan_is_re_read_with_ocr_from_the_page(env, tmp_path) -> None:
    from rag.ingest.ocr import detect_engine
    from tests.conftest import skip_unless_installed
    from tests.ingest.test_ocr import scan
    from ui import resources

    if not detect_engine("eng").available:
        skip_unless_installed("ocr", "Tesseract is not installed")
    scanned = scan(shared_path(*ATTENTION), 1, tmp_path / "scanned page.pdf")
    library = resources.library(env)
    [first] = library.ingest([scanned])
    at = documents_page()
    assert documents_frame(at)["ocr"][0].startswith("1 p. · OCR ")
    at.multiselect(key="reocr_docs").set_value([first.doc_id]).run()
    at.button(key="reocr_go").click().run()
    run_until(at, jobs_done)
    text = plain(page_text(at)).replace("**", "")
    assert "scanned page.pdf · replaced: 1 page, " in text
    [doc] = library.documents("documents")
    assert doc.doc_id != first.doc_id and doc.sha256 == first.doc_id and doc.ocr_pages == 1
    assert list(documents_frame(at)["id"]) == [doc.doc_id[:12]]


def test_progress_says_which_page_ocr_is_reading() -> None:
    from ui.state.jobs import _JobProgress

    job = IngestJob(None, [], "documents")
    progress = _JobProgress(job)
    progress.file_started("scan.pdf", 1, 1)
    progress.file_opened("scan.pdf", 3)
    progress.ocr_started("scan.pdf", 1)
    assert job.snapshot().current.ocr_page == 1
    progress.pages_done("scan.pdf", 1)
    current = job.snapshot().current
    assert (current.ocr_page, current.pages_done, current.pages_total) == (None, 1, 3)


def test_collections_create_switch_delete(env) -> None:
    from ui import resources

    at = documents_page()
    at.text_input(key="new_collection").input("한국어 문서").run()
    at.button(key="create_collection").click().run()
    assert any("English letters, digits" in e.value for e in at.error)
    for name, reason in (("ko", "at least 3 characters"), ("192.168.0.1", "may not look like an IP address")):
        at.text_input(key="new_collection").input(name).run()
        at.button(key="create_collection").click().run()
        assert [reason in plain(e.value) and "Validation error" not in e.value for e in at.error] == [True], name

    at.text_input(key="new_collection").input("contracts-2024").run()
    at.button(key="create_collection").click().run()
    assert at.session_state["collection"] == "contracts-2024"
    assert at.selectbox(key="collection_picker").value == "contracts-2024"
    assert "contracts-2024" in at.selectbox(key="collection_picker").options
    assert "contracts-2024" in {c.name for c in resources.library(env).collections()}
    upload(at, ("한글 설명서.pdf", shared_path(*KOREAN).read_bytes()))
    assert "Finished: 1 ingested (collection “contracts-2024”)" in plain(page_text(at))
    assert list(documents_frame(at)["file"]) == ["한글 설명서.pdf"]
    assert [d.file_name for d in resources.library(env).documents("contracts-2024")] == ["한글 설명서.pdf"]
    assert resources.library(env).documents("documents") == []

    at.checkbox(key="delete_collection_sure").check().run()
    at.button(key="delete_collection").click().run()
    assert not at.exception
    assert at.session_state["collection"] == "documents"
    assert "contracts-2024" not in {c.name for c in resources.library(env).collections()}


def test_ingest_job_reports_progress_and_results(env) -> None:
    """The background job the page polls: snapshots while running, results in input order at the end."""
    from ui import resources

    library = resources.library(env)
    bad = env.storage.data_dir / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    sources = [
        Source(shared_path(*KOREAN), "manual.pdf"),
        Source(bad, "bad.pdf"),
        Source(shared_path(*ENCRYPTED), "x.pdf"),
    ]
    job = IngestJob(library, sources, "documents").start()
    seen_pages = set()
    estimates = []
    while not job.done:
        snap = job.snapshot()
        assert 0.0 <= snap.fraction <= 1.0 and snap.total == 3
        if snap.current is not None and snap.current.pages_total:
            seen_pages.add(snap.current.pages_done)
            left = snap.current.seconds_left(time.monotonic())
            if left is not None:
                estimates.append(left)
        time.sleep(0.02)
    assert estimates and all(e >= 0 for e in estimates)  # the 6-page manual gets a time-left estimate
    assert job.wait(1)
    final = job.snapshot()
    assert final.done and final.error is None and final.current is None and final.fraction == 1.0
    assert [r.file_name for r in final.results] == ["manual.pdf", "bad.pdf", "x.pdf"]
    assert [r.status for r in final.results] == ["ingested", "failed", "failed"]
    assert needs_password(final.results[2]) and not needs_password(final.results[1])
    assert final.counts() == {"ingested": 1, "replaced": 0, "duplicate": 0, "failed": 2}
    assert len(seen_pages) > 1  # the page can draw progress, not just a spinner
    assert job.source_for(final.results[2]) == sources[2]


def test_time_left_counts_pages_read_and_chunks_embedded() -> None:
    """Issue 15: 7. "page 15 of 15, 0 chunks embedded, about 5 s left" stood still for the ~20 s the whole
    document's embedding took: the estimate counted pages only."""
    from ui.state.jobs import CurrentFile, human_duration

    file = CurrentFile("a.pdf", 1, 1, pages_total=15, pages_done=0, chunks_done=0, started_at=1000.0)
    for second in range(1, 16):  # a page a second, 66 chunks cut from them, none embedded yet
        file = file.read_pages(1, 1000.0 + second).found_chunks(66 if second == 15 else 0, 1000.0 + second)
    assert file.chunks_text() == "0 of 66 chunks embedded" and file.fraction == pytest.approx(0.5)
    assert file.seconds_left(1016.0) is None  # no embedding pace yet: no guess rather than "about 5 s" for 20 s
    file = file.embedded(16, 1020.0)  # 5 s for 16 chunks
    assert file.chunks_text() == "16 of 66 chunks embedded" and file.fraction == pytest.approx((1 + 16 / 66) / 2)
    assert file.seconds_left(1020.0) == pytest.approx(50 * 5 / 16)  # 50 chunks at 0.3125 s
    assert file.seconds_left(1022.0) == pytest.approx(50 * 5 / 16 - 2)  # it moves between events too
    file = file.embedded(16, 1024.0)  # faster now: 9 s for 32
    assert file.seconds_left(1024.0) == pytest.approx(34 * 9 / 32)

    # While pages are still read: the pages left at the reading pace, plus the chunks those pages will make at
    # the pace of an earlier file's embedding.
    file = CurrentFile("b.pdf", 2, 2, 15, 0, 0, started_at=2000.0, chunk_seconds=0.25)
    for second in range(1, 6):
        file = file.read_pages(1, 2000.0 + second).found_chunks(4, 2000.0 + second)
    assert file.chunks_expected == pytest.approx(60) and file.chunks_text() == "0 chunks embedded"
    assert file.seconds_left(2005.0) == pytest.approx(10 * 1.0 + 60 * 0.25)
    assert CurrentFile("a.pdf", 1, 1, None, 0, 0, 1000.0).seconds_left(1010.0) is None  # not opened yet
    assert CurrentFile("a.pdf", 1, 1, 100, 2, 0, 1000.0).seconds_left(1010.0) is None  # too early to tell
    assert [human_duration(s) for s in (3, 42, 150, 5400)] == ["about 5 s", "about 40 s", "about 2 min", "about 1.5 h"]


def test_a_job_lists_the_files_waiting_and_carries_the_embedding_pace_to_the_next_file(tmp_path) -> None:
    from rag.models import FileResult
    from ui.state.jobs import _JobProgress

    sources = [Source(tmp_path / f"{n}.pdf", f"{n}.pdf") for n in ("a", "b", "c", "d")]
    job = IngestJob(None, sources, "documents")
    progress = _JobProgress(job)
    progress.file_finished(FileResult(str(tmp_path / "d.pdf"), "d.pdf", "duplicate"))  # found before the others
    progress.file_started("a.pdf", 1, 3)
    assert job.snapshot().waiting == ("b.pdf", "c.pdf")
    progress.file_opened("a.pdf", 2)
    progress.pages_done("a.pdf", 2)
    progress.chunks_found("a.pdf", 10)
    progress.chunks_embedded("a.pdf", 10)
    progress.chunks_done("a.pdf", 10)  # handed to the store: counted once
    snap = job.snapshot()
    assert snap.current.chunks_text() == "10 of 10 chunks embedded" and snap.current.embed_seconds >= 0
    assert snap.fraction == pytest.approx((1 + 1.0) / 4)  # d done, a done, b and c to go
    progress.file_finished(FileResult(str(tmp_path / "a.pdf"), "a.pdf", "ingested", chunks=10))
    progress.file_started("b.pdf", 2, 3)
    snap = job.snapshot()
    assert snap.waiting == ("c.pdf",) and snap.current.chunk_seconds is not None  # a's pace, for b's estimate


def test_chunks_are_reported_as_they_are_embedded_not_per_write_batch(env) -> None:
    """The attention paper's 64 chunks were embedded in one batch after its last page: the count said 0 until
    it jumped to 64. Now each step of at most 16 is reported, after the chunks cut from the pages are."""
    from rag.ingest.sources import Progress
    from ui import resources

    events: list[tuple[str, int]] = []

    class Recorder(Progress):
        def pages_done(self, name: str, n: int) -> None:
            events.append(("pages", n))

        def chunks_found(self, name: str, n: int) -> None:
            events.append(("found", n))

        def chunks_embedded(self, name: str, n: int) -> None:
            events.append(("embedded", n))

        def chunks_done(self, name: str, n: int) -> None:
            events.append(("stored", n))

    [result] = resources.library(env).ingest([shared_path(*ATTENTION)], progress=Recorder())
    steps = [n for kind, n in events if kind == "embedded"]
    assert sum(steps) == result.chunks == sum(n for kind, n in events if kind == "found") == 64
    assert len(steps) >= 4 and max(steps) <= 16
    stored = [n for kind, n in events if kind == "stored"]
    assert sum(stored) == 64 and len(stored) < len(steps)  # write batches to the store, as before
    found = 0
    for kind, n in events:  # never more embedded than found
        found += n if kind == "found" else 0
        if kind == "embedded":
            found -= n
            assert found >= 0


def test_after_a_delete_the_form_is_empty_and_says_what_went(env, tmp_path) -> None:
    from tests.pdfgen import text_pdf
    from ui import resources

    paths = []
    for name, line in (("warranty.pdf", "The warranty lasts two years."), ("battery.pdf", "Batteries last a year.")):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(text_pdf([line]))
    library = resources.library(env)
    warranty, battery = library.ingest(paths)
    at = documents_page()
    at.multiselect(key="delete_docs-0").set_value([warranty.doc_id]).run()
    assert at.button(key="delete_docs_go").label == "Delete 1 document"
    at.checkbox(key="delete_docs_sure-0").check().run()
    at.button(key="delete_docs_go").click().run()
    assert not at.exception
    assert [d.file_name for d in library.documents("documents")] == ["battery.pdf"]
    assert list(documents_frame(at)["file"]) == ["battery.pdf"]
    # The form starts over (new widgets: the browser keeps an old widget's value): nothing chosen, not
    # confirmed, and the page says what was deleted.
    assert [m.key for m in at.multiselect if m.key.startswith("delete_docs")] == ["delete_docs-1"]
    assert at.multiselect(key="delete_docs-1").value == []
    assert not at.checkbox(key="delete_docs_sure-1").value
    assert at.button(key="delete_docs_go").label == "Delete" and at.button(key="delete_docs_go").disabled
    assert [plain(s.value) for s in at.success] == ["Deleted “warranty.pdf” with its chunks."]
    at.run()
    assert not at.success  # said once


def test_a_file_waiting_for_its_password_is_a_warning_in_plain_english(env) -> None:
    at = documents_page()
    upload(at, (ENCRYPTED[-1], shared_path(*ENCRYPTED).read_bytes()))
    [box] = [e for e in at.expander if e.label.startswith("Finished")]
    assert plain(box.label) == "Finished: 1 needs a password (collection “documents”)"
    assert box.icon == ":material/warning:"  # not a tick: something is left to do
    assert password_field(at) is not None


def test_finished_summary_counts_each_outcome() -> None:
    from rag.models import FileResult
    from ui.state.jobs import JobSnapshot, finished_summary

    def snapshot(*results: FileResult) -> JobSnapshot:
        return JobSnapshot("j", "documents", len(results), results, None, True, None, 0.0, 1.0)

    locked = FileResult("a.pdf", "a.pdf", "failed", error_kind="password_required")
    broken = FileResult("b.pdf", "b.pdf", "failed", error_kind="corrupt")
    good = FileResult("c.pdf", "c.pdf", "ingested")
    assert finished_summary(snapshot(good, locked, broken)) == "1 ingested, 1 failed, 1 needs a password"
    assert finished_summary(snapshot(locked, locked)) == "2 need a password"
    assert finished_summary(snapshot()) == "nothing to do"


def test_a_locked_upload_is_seen_from_every_session_and_after_a_restart_until_cleared(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.state.job_log as job_log
    import ui.state.jobs as ingest_jobs
    from ui import resources

    first = documents_page()
    upload(first, (ENCRYPTED[-1], shared_path(*ENCRYPTED).read_bytes()))
    assert password_field(first) is not None
    # Another tab (a new session) sees the upload and its locked file; so does the chat page.
    other = documents_page()
    assert "Finished: 1 needs a password (collection “documents”)" in plain(page_text(other))
    assert password_field(other) is not None
    chat = new_app().run()
    assert [plain(w.value) for w in chat.warning] == ["1 uploaded file needs its password before it can be added."]

    # A restart: a new process (its own boot id, no staged upload held), caches gone.
    monkeypatch.setattr(job_log, "BOOT", "after a restart")
    monkeypatch.setattr(ingest_jobs, "_staged_uses", {})
    resources.library.clear()
    again = documents_page()
    assert "Finished: 1 needs a password" in plain(page_text(again))
    unlock(again, "password")
    assert [d.file_name for d in resources.library(env).documents("documents")] == [ENCRYPTED[-1]]
    assert password_field(again) is None
    assert password_field(first.run()) is None  # dealt with: the first tab no longer asks
    assert not new_app().run().warning  # nor does the chat page

    again.button(key="clear_results").click().run()
    assert not [e for e in documents_page().expander if e.label.startswith("Finished")]  # cleared for everyone


def test_after_an_upload_the_page_offers_to_ask_about_the_new_documents(env) -> None:
    from tests.pdfgen import text_pdf

    at = documents_page()
    assert not [b for b in at.button if b.key == "ask_about_go"]  # nothing added yet
    upload(at, ("warranty.pdf", text_pdf(["The X200 warranty lasts two years."])))
    at.button(key="ask_about_go").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Chat with your PDFs"]  # on the chat page, in a new chat
    assert at.session_state["chat_id"] is None and at.session_state["messages"] == []
    assert any(plain(c.value).startswith("Just added: warranty.pdf. Ask a question") for c in at.caption)
    assert not at.chat_input(key="question").disabled


def test_a_running_batch_shows_embedding_the_queue_and_no_done_mark_until_it_ends(env, tmp_path) -> None:
    """Issue 15: 7, on the page: chunks embedded as they go, the files waiting listed, and no tick (st.status marks
    itself complete when its ``with`` ends, so a running batch showed one until the next refresh)."""
    import threading

    from rag.models import FileResult

    release = threading.Event()

    class Paused:
        """A library whose ingest stops halfway through the second of three files, until released."""

        def ingest(self, sources, collection, *, keep_both, progress, ocr):
            first = FileResult(str(sources[0].path), sources[0].name, "ingested", pages=1, chunks=3)
            progress.file_started(sources[0].name, 1, 3)
            progress.file_finished(first)
            progress.file_started(sources[1].name, 2, 3)
            progress.file_opened(sources[1].name, 15)
            progress.pages_done(sources[1].name, 15)
            progress.chunks_found(sources[1].name, 66)
            progress.chunks_embedded(sources[1].name, 16)
            release.wait(60)
            return [first] + [FileResult(str(s.path), s.name, "duplicate") for s in sources[1:]]

    names = ("a first paper.pdf", "dpr_karpukhin2020.pdf", "third.pdf")
    job = IngestJob(Paused(), [Source(tmp_path / n, n) for n in names], "documents").start()
    try:
        at = documents_page()
        at.session_state["ingest_jobs"] = [job]
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        [status] = at.status
        assert status.state == "running" and status.label.startswith("Adding 3 file(s)")
        text = plain(page_text(at))
        assert "dpr_karpukhin2020.pdf: page 15 of 15, 16 of 66 chunks embedded" in [
            plain(p.text) for p in status.get("progress")
        ][0]
        assert "Waiting (1): third.pdf" in text
        added = next(m.value for m in at.markdown if "a first paper.pdf" in plain(m.value))
        assert "check_circle" not in added  # the file is in, the batch is not done
    finally:
        release.set()
    assert job.wait(30)
    at.run()
    added = next(m.value for m in at.markdown if "a first paper.pdf" in plain(m.value))
    assert not at.status and "check_circle" in added  # the batch is over: now the tick
