"""OCR of scanned pages: image-only PDFs made here from real pages, read back and found by search.

The scans are built in the test: a page of a real PDF rendered to a 200 dpi grayscale image (what an
office scanner produces) and wrapped as an image-only PDF, so the text pypdf extracts from the
original page is the reference the OCR'd text is measured against.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from pathlib import Path

import pytest

from rag.errors import ExtractionTimeout
from rag.ingest.ocr import OcrConfig, choose_langs, confidence_from_data, detect_engine, needs_ocr, split_langs
from rag.ingest.sources import Progress
from rag.ingest.worker import ExtractionPool
from rag.models import Chunk, Page, ocr_label
from rag.settings import Settings
from tests.conftest import fresh_database, shared_path, skip_unless_installed
from ui.state.notices import source_rows

ENGLISH = (("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf"), 1)  # page 2: prose, a formula
KOREAN = (("pdfs", "korean", "oblivoir_simple_guide_30p.pdf"), 2)  # page 3: Korean prose with English names
DISTRACTORS = [("pdfs", "general", "latex_two_column_lorem.pdf"), ("pdfs", "korean", "cjk-ko_manual_6p.pdf")]
# Character similarity of the OCR'd page to pypdf's text of the original (whitespace-normalised
# difflib ratio). Measured here with Tesseract 5.3.0 at 300 dpi: English 0.995 (the rest is the
# formula), Korean 0.835 (Hangul particles after Latin words: "oblivoir와" -> "oblivoir2}"); other
# Korean pages measured 0.80-0.90. The bounds leave room for other Tesseract builds while a
# wrong language, a lost paragraph or a broken text order (English then < 0.6) still fails.
MIN_SIMILARITY = {"english": 0.95, "korean": 0.75}


def _engine_or_skip(*langs: str):
    engine = detect_engine()
    if not engine.available:
        skip_unless_installed("ocr", f"OCR engine not available: {engine.reason}")
    missing = [x for x in langs if x not in engine.langs]
    if missing:
        skip_unless_installed("ocr", f"Tesseract language data not installed: {', '.join(missing)}")
    return engine


def scan(src: Path, index: int, dest: Path, dpi: int = 200) -> Path:
    """An image-only PDF of one page of ``src``, like a scanner makes (no text layer at all)."""
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    doc = pdfium.PdfDocument(str(src))
    try:
        page = doc[index]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        page.close()
    finally:
        doc.close()
    image.save(dest, "PDF", resolution=dpi)
    assert not PdfReader(dest).pages[0].extract_text().strip(), "the scan must have no text layer"
    return dest


def mixed(text_src: Path, text_index: int, scanned: Path, dest: Path) -> Path:
    """Page 1 with a real text layer, page 2 the image-only scan."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(text_src).pages[text_index])
    writer.add_page(PdfReader(scanned).pages[0])
    with open(dest, "wb") as f:
        writer.write(f)
    return dest


def repeated(scanned: Path, copies: int, dest: Path) -> Path:
    """The one-page scan ``copies`` times over: OCR long enough to outlast any time limit under test."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    page = PdfReader(scanned).pages[0]
    for _ in range(copies):
        writer.add_page(page)
    with open(dest, "wb") as f:
        writer.write(f)
    return dest


def norm(text: str) -> str:
    return " ".join(text.split())


def similarity(reference: str, ocr: str) -> float:
    return difflib.SequenceMatcher(None, norm(reference), norm(ocr), autojunk=False).ratio()


def reference_text(src: Path, index: int) -> str:
    from pypdf import PdfReader

    from rag.ingest.loader import clean_text

    return clean_text(PdfReader(src).pages[index].extract_text())


def query_sentence(text: str) -> str:
    """The longest sentence of a page (8-40 words): what a user who remembers the page might type."""
    sentences = [norm(s) for s in re.split(r"(?<=[.!?다])\s+", text.replace("\n", " "))]
    fitting = [s for s in sentences if 8 <= len(s.split()) <= 40]
    assert fitting, "the page has no sentence to search for"
    return max(fitting, key=len)


def _clean_settings(data_dir: Path) -> Settings:
    """Settings from defaults only (the session's RAG_* variables must not change what is tested)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("RAG_") and key != "RAG_SHARED_DATA":
                mp.delenv(key)
        mp.setenv("RAG_DATA_DIR", str(data_dir))
        return Settings.from_env().with_(workers=2, chroma_database=fresh_database())


def _drain(job) -> tuple[list[Page], list[float]]:
    """The pages of a job and the seconds each took to arrive."""
    pages, seconds = [], []
    last = time.monotonic()
    for event in job.events():
        now = time.monotonic()
        if isinstance(event, Page):
            pages.append(event)
            seconds.append(now - last)
            last = now
    return pages, seconds


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """The two scanned pages: path of the image-only PDF and pypdf's text of the original page."""
    folder = tmp_path_factory.mktemp("scans")
    out = {}
    for key, (parts, index) in (("english", ENGLISH), ("korean", KOREAN)):
        src = shared_path(*parts)
        out[key] = (scan(src, index, folder / f"scanned_{key}.pdf"), reference_text(src, index))
    return out


@pytest.fixture(scope="module")
def extracted(scans, tmp_path_factory) -> dict[str, tuple[Page, float]]:
    """Each scan through the extraction workers with the default OCR settings, and its page's seconds."""
    _engine_or_skip("eng", "kor")
    settings = _clean_settings(tmp_path_factory.mktemp("pool"))
    out = {}
    with ExtractionPool.from_settings(settings) as pool:
        jobs = {key: pool.submit(path) for key, (path, _) in scans.items()}
        for key, job in jobs.items():
            pages, seconds = _drain(job)
            assert len(pages) == 1
            out[key] = (pages[0], seconds[0])
    return out


@pytest.fixture(scope="module")
def ocr_library(scans, tmp_path_factory, embedder):
    """A library holding the English scan (behind a text page), the Korean scan and two unrelated PDFs."""
    _engine_or_skip("eng", "kor")
    from rag.library import Library

    folder = tmp_path_factory.mktemp("lib")
    settings = _clean_settings(folder / "data")
    text_page = shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")
    english = mixed(text_page, 0, scans["english"][0], folder / "scanned_english_with_cover.pdf")
    lib = Library(settings, embedder=embedder)
    results = lib.ingest([english, scans["korean"][0]] + [shared_path(*d) for d in DISTRACTORS])
    yield lib, {r.file_name: r for r in results}
    lib.close()


# -- pure helpers ------------------------------------------------------------------------------


def test_language_lists_and_modes():
    assert split_langs("kor+eng") == ("kor", "eng")
    assert split_langs(" eng + kor + eng ") == ("eng", "kor")
    with pytest.raises(ValueError):
        split_langs("eng;rm -rf")
    with pytest.raises(ValueError):
        split_langs("+")
    assert choose_langs(("kor", "eng", "rus"), ["eng", "osd", "kor"]) == (("kor", "eng"), ("rus",))
    assert [needs_ocr(q, "auto") for q in ("ok", "empty", "garbled")] == [False, True, True]
    assert all(needs_ocr(q, "force") for q in ("ok", "empty", "garbled"))
    assert not any(needs_ocr(q, "off") for q in ("ok", "empty", "garbled"))


def test_ocr_label_marks_machine_read_text_only():
    assert ocr_label(True, 86.6) == "OCR 87%"
    assert ocr_label(True, None) == "OCR"
    assert ocr_label(False, 90.0) == ""


def test_confidence_is_the_mean_over_words_only():
    data = {"text": ["", "Hello", "world", " ", "!"], "conf": ["-1", "90.5", "70.5", "-1", "95"]}
    assert confidence_from_data(data) == (pytest.approx((90.5 + 70.5 + 95) / 3), 3)
    assert confidence_from_data({"text": [""], "conf": [-1]}) == (None, 0)


def test_settings_validate_ocr_options(monkeypatch):
    from rag.errors import ConfigError

    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    s = Settings.from_env()
    assert (s.ingest.ocr, s.ingest.ocr_langs, s.ingest.ocr_dpi, s.ingest.ocr_page_timeout_s) == (
        "auto",
        "kor+eng",
        300,
        60.0,
    )
    monkeypatch.setenv("RAG_OCR", "sometimes")
    with pytest.raises(ConfigError, match="RAG_OCR"):
        Settings.from_env()
    monkeypatch.setenv("RAG_OCR", "force")
    monkeypatch.setenv("RAG_OCR_LANGS", "eng; kor")
    with pytest.raises(ConfigError, match="RAG_OCR_LANGS"):
        Settings.from_env()
    monkeypatch.setenv("RAG_OCR_LANGS", "eng+rus")
    assert Settings.from_env().ingest.ocr_langs == "eng+rus"


def test_chunk_metadata_carries_ocr_and_old_records_still_load(embedder):
    from rag.ingest.chunker import chunk_pages

    pages = [
        # Page 1 is too short to stand alone and joins page 2: the chunk gets the lower confidence.
        Page(0, "1", "A short scanned note about the harbour.", ocr=True, ocr_confidence=88.0),
        Page(1, "2", "The harbour master keeps the tide tables. " * 5, ocr=True, ocr_confidence=71.5),
        Page(2, "3", "A later page with a text layer. " * 40),
    ]
    chunks = chunk_pages(pages, embedder, "d", "f.pdf", max_tokens=64, overlap=0)
    first = chunks[0]
    assert (first.page, first.page_end, first.ocr, first.ocr_confidence) == (0, 1, True, 71.5)
    assert not chunks[-1].ocr and chunks[-1].ocr_confidence is None
    for chunk in chunks:
        meta = chunk.metadata()
        assert all(v is not None for v in meta.values())  # Chroma has no null
        assert Chunk.from_record(chunk.chunk_id, chunk.text, meta) == chunk
    old = {"doc_id": "d", "file_name": "f.pdf", "position": 0, "page": 0, "page_end": 0, "n_tokens": 3}
    restored = Chunk.from_record("d:0", "text", old)
    assert restored.ocr is False and restored.ocr_confidence is None


# -- OCR through the workers -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["english", "korean"])
def test_scanned_page_reads_like_the_original(scans, extracted, key):
    page, _ = extracted[key]
    reference = scans[key][1]
    assert page.ocr and page.quality == "ok"
    assert page.ocr_confidence is not None and 0 < page.ocr_confidence <= 100
    score = similarity(reference, page.text)
    assert score >= MIN_SIMILARITY[key], f"{key}: similarity {score:.3f} (conf {page.ocr_confidence:.1f})"
    # The measure is not lenient: the same text against the other language's page scores far below.
    other = scans["korean" if key == "english" else "english"][1]
    assert similarity(other, page.text) < 0.5


def test_ocr_pages_get_their_own_limit_not_the_stall_limit(scans, tmp_path):
    """One OCR'd page takes seconds; a 2 s stall limit must not stop it (the worker's heartbeat)."""
    _engine_or_skip("eng")
    with ExtractionPool(1, page_timeout_s=2.0, ocr=OcrConfig(langs="eng", page_timeout_s=60)) as pool:
        pages, seconds = _drain(pool.submit(scans["english"][0]))
    assert pages[0].ocr and len(pages[0].text) > 1000
    assert seconds[0] > 2.0, "OCR was faster than the stall limit: this test proves nothing here"


def test_an_ocr_page_over_its_limit_keeps_no_text_and_the_file_goes_on(scans, tmp_path):
    _engine_or_skip("eng")
    cover = shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")
    two = mixed(cover, 0, scans["english"][0], tmp_path / "two.pdf")
    with ExtractionPool(1, page_timeout_s=5.0, ocr=OcrConfig(langs="eng", page_timeout_s=1)) as pool:
        pages, _ = _drain(pool.submit(two))
    assert [p.index for p in pages] == [0, 1]
    assert pages[0].quality == "ok" and not pages[0].ocr
    assert pages[1].quality == "empty" and not pages[1].ocr and pages[1].text == ""


def test_killing_a_worker_mid_ocr_also_stops_tesseract(scans, tmp_path):
    import psutil

    _engine_or_skip("eng")
    # 20 pages of OCR take far over 3 s even on a fast machine (one page took 1-4 s here).
    long_scan = repeated(scans["english"][0], 20, tmp_path / "long_scan.pdf")
    with ExtractionPool(1, page_timeout_s=5.0, file_timeout_s=3.0, ocr=OcrConfig(langs="eng")) as pool:
        job = pool.submit(long_scan)
        deadline = time.monotonic() + 10
        tesseract = None
        while tesseract is None and time.monotonic() < deadline:
            slot = pool._slots[0]
            if slot.process is not None and slot.process.is_alive():
                try:
                    children = psutil.Process(slot.process.pid).children(recursive=True)
                except psutil.Error:
                    children = []
                tesseract = next((c for c in children if "tesseract" in c.name()), None)
            time.sleep(0.05)
        assert tesseract is not None, "tesseract never started"
        with pytest.raises(ExtractionTimeout, match="took over 3 s"):
            _drain(job)
    try:
        tesseract.wait(timeout=5)
    except psutil.TimeoutExpired:
        pytest.fail("tesseract kept running after its worker was killed")
    except psutil.NoSuchProcess:
        pass
    assert not tesseract.is_running()


# -- OCR through ingestion and search ----------------------------------------------------------


def test_ocr_is_reported_and_text_pages_keep_their_layer(ocr_library):
    lib, results = ocr_library
    english = results["scanned_english_with_cover.pdf"]
    korean = results["scanned_korean.pdf"]
    assert english.status == "ingested" and korean.status == "ingested", (english.reason, korean.reason)
    assert any(re.fullmatch(r"1 page was OCR'd \(mean confidence \d+%\): pages 2", w) for w in english.warnings)
    assert any(w.startswith("1 page was OCR'd (mean confidence") for w in korean.warnings)
    chunks = lib.document_chunks("documents", english.doc_id)
    assert {c.ocr for c in chunks if c.page_end == 0} == {False}  # the cover's text layer is kept
    assert {c.ocr for c in chunks if c.page == 1} == {True}
    for r in results.values():
        if r.file_name not in ("scanned_english_with_cover.pdf", "scanned_korean.pdf"):
            assert r.status == "ingested" and not any("OCR'd" in w for w in r.warnings)
            assert not any(c.ocr for c in lib.document_chunks("documents", r.doc_id))
    info = {d.file_name: d for d in lib.documents("documents")}
    assert info["scanned_korean.pdf"].warnings == korean.warnings  # kept in the catalogue
    # The catalogue counts OCR'd pages with their mean confidence, for the documents table and `rag list`.
    for name in ("scanned_english_with_cover.pdf", "scanned_korean.pdf"):
        assert info[name].ocr_pages == 1 and 50 < info[name].ocr_confidence <= 100, info[name]
        assert f"{info[name].ocr_confidence:.0f}%" in results[name].warnings[0]
    assert all(d.ocr_pages == 0 and d.ocr_confidence is None for n, d in info.items() if "scanned" not in n)


@pytest.mark.parametrize("mode", ["dense", "lexical"])
@pytest.mark.parametrize("key", ["english", "korean"])
def test_a_sentence_of_the_scanned_page_finds_it(ocr_library, scans, key, mode):
    lib, results = ocr_library
    name = "scanned_english_with_cover.pdf" if key == "english" else "scanned_korean.pdf"
    page = 1 if key == "english" else 0
    sentence = query_sentence(scans[key][1])
    hits = lib.search(sentence, k=3, mode=mode)
    assert hits, f"no hits for {sentence!r}"
    top = hits[0].chunk
    assert (top.file_name, top.page_end) == (name, page), f"{mode} {sentence!r}: {[h.to_dict() for h in hits]}"
    assert top.ocr and top.ocr_confidence is not None and 0 < top.ocr_confidence <= 100
    # The sources panel marks it as machine-read, with the confidence.
    row = source_rows([hits[0].to_dict()])[0]
    assert row["ocr"] == f"OCR {top.ocr_confidence:.0f}%"


# -- without an engine -------------------------------------------------------------------------


def _ingest(settings, embedder, paths):
    from rag.library import Library

    lib = Library(settings, embedder=embedder)
    try:
        return {r.file_name: r for r in lib.ingest(paths)}, lib.documents("documents")
    finally:
        lib.close()


def test_without_the_engine_the_summary_names_the_pages_and_how_to_install_it(settings, embedder, scans, tmp_path):
    cover = shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")
    two = mixed(cover, 0, scans["english"][0], tmp_path / "two.pdf")
    missing = settings.with_(tesseract_cmd=str(tmp_path / "no-such-dir" / "tesseract"))
    results, docs = _ingest(missing, embedder, [two, scans["english"][0]])
    r = results["two.pdf"]
    assert r.status == "ingested" and r.chunks > 0
    [note] = [w for w in r.warnings if "OCR needed" in w]
    assert note.startswith("1 of 2 pages have no extractable text") and note.endswith("pages 2")
    for needed in ("apt-get install tesseract-ocr", "brew install tesseract tesseract-lang", "RAG_TESSERACT_CMD"):
        assert needed in note
    assert "not found" in note or "not installed" in note
    assert [d.warnings for d in docs if d.file_name == "two.pdf"] == [r.warnings]
    scanned = results["scanned_english.pdf"]
    assert scanned.status == "failed" and scanned.error_kind == "no_text"
    assert "OCR needed on pages 1" in scanned.reason and "apt-get install tesseract-ocr" in scanned.reason


def test_missing_language_data_is_named_with_its_package(settings, embedder, scans):
    engine = _engine_or_skip()
    assert "qaa" not in engine.langs
    results, _ = _ingest(settings.with_(ocr_langs="qaa"), embedder, [scans["english"][0]])
    r = results["scanned_english.pdf"]
    assert r.status == "failed" and r.error_kind == "no_text"
    assert "none of the OCR languages qaa is installed" in r.reason
    assert "apt-get install tesseract-ocr-qaa" in r.reason and "RAG_OCR_LANGS" in r.reason


def test_ocr_off_leaves_scans_unread_and_says_how_to_turn_it_on(settings, embedder, scans):
    results, _ = _ingest(settings.with_(ocr="off"), embedder, [scans["english"][0]])
    r = results["scanned_english.pdf"]
    assert r.status == "failed" and r.error_kind == "no_text" and "RAG_OCR=auto" in r.reason


def test_force_reocrs_pages_that_have_a_text_layer(settings, embedder, scans, tmp_path):
    _engine_or_skip("eng")
    from rag.library import Library

    cover = shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")
    two = mixed(cover, 0, scans["english"][0], tmp_path / "two.pdf")
    lib = Library(settings.with_(ocr="force", ocr_langs="eng"), embedder=embedder)
    try:
        [r] = lib.ingest([two])
        chunks = lib.document_chunks("documents", r.doc_id)
    finally:
        lib.close()
    assert r.status == "ingested"
    assert any(w.startswith("2 pages were OCR'd") for w in r.warnings), r.warnings
    assert chunks and all(c.ocr for c in chunks)
    assert "Retrieval-Augmented Generation" in " ".join(c.text for c in chunks if c.page == 0)


def test_rereading_a_document_with_ocr_replaces_it_whole(settings, embedder, scans, tmp_path):
    """A document already in the collection is re-read with OCR on request (its text layer ignored)."""
    _engine_or_skip("eng")
    from rag.ingest.sources import sha256_file
    from rag.library import Library

    cover = shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")
    two = mixed(cover, 0, scans["english"][0], tmp_path / "two.pdf")
    sha, _ = sha256_file(two)
    lib = Library(settings.with_(ocr_langs="eng"), embedder=embedder)
    try:
        [first] = lib.ingest([two])
        assert first.doc_id == sha and any(w.startswith("1 page was OCR'd") for w in first.warnings)
        [same] = lib.ingest([two])  # the same bytes without a request: a no-op
        assert same.status == "duplicate"

        class Recorder(Progress):
            """Progress as the CLI and the Documents page receive it."""

            def __init__(self) -> None:
                self.events: list[tuple[str, int]] = []

            def ocr_started(self, name: str, page: int) -> None:
                self.events.append(("ocr", page))

            def pages_done(self, name: str, n: int) -> None:
                self.events.append(("page", n))

        seen = Recorder()
        [again] = lib.ingest([two], ocr="force", progress=seen)
        assert seen.events == [("ocr", 0), ("page", 1), ("ocr", 1), ("page", 1)]  # each page says OCR is running
        assert again.status == "replaced" and again.replaced_doc_id == sha and again.doc_id != sha
        assert again.warnings[0].startswith("re-read with OCR") and "2 pages were OCR'd" in again.warnings[1]
        [doc] = lib.documents("documents")  # one document: the new reading replaced the old one
        assert (doc.doc_id, doc.sha256, doc.ocr_pages) == (again.doc_id, sha, 2)
        chunks = lib.document_chunks("documents", again.doc_id)
        assert chunks and all(c.ocr for c in chunks) and lib.document_chunks("documents", sha) == []
        assert lib.open_collection("documents").count() == len(chunks)
        assert lib.original_path(again.doc_id) == settings.storage.files_dir / f"{sha}.pdf"  # the original is kept
        hits = lib.search("Retrieval-Augmented Generation for knowledge-intensive NLP tasks", k=3, mode="lexical")
        assert hits[0].chunk.doc_id == again.doc_id and hits[0].chunk.ocr

        [plain] = lib.ingest([two])  # the bytes are still in the collection, under the re-read id
        assert plain.status == "duplicate" and plain.doc_id == again.doc_id
        [third] = lib.ingest([two], ocr="force")  # and can be re-read again
        assert third.status == "replaced" and third.doc_id == sha and third.replaced_doc_id == again.doc_id
        assert [d.doc_id for d in lib.documents("documents")] == [sha]
        assert (settings.storage.files_dir / f"{sha}.pdf").exists()
    finally:
        lib.close()


def test_a_file_read_while_a_scan_is_ocrd_goes_in_first(settings, embedder, scans, tmp_path):
    """A long scan first in a batch does not hold back the files after it: they go in while it is OCR'd."""
    _engine_or_skip("eng")
    from rag.library import Library

    long_scan = repeated(scans["english"][0], 4, tmp_path / "long_scan.pdf")
    paper = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")

    class Recorder(Progress):
        def __init__(self) -> None:
            self.events: list[tuple] = []

        def file_started(self, name: str, index: int, total: int) -> None:
            self.events.append(("started", name, index))

        def pages_done(self, name: str, n: int) -> None:
            self.events.append(("page", name, n))

        def file_finished(self, result) -> None:
            self.events.append(("finished", result.file_name, result.status))

    seen = Recorder()
    lib = Library(settings.with_(workers=2, ocr_langs="eng"), embedder=embedder)
    try:
        scan_result, paper_result = lib.ingest([long_scan, paper], progress=seen)
        chunks = lib.document_chunks("documents", scan_result.doc_id)
    finally:
        lib.close()
    finished = [e[1] for e in seen.events if e[0] == "finished"]
    assert finished == [paper.name, "long_scan.pdf"], seen.events  # the paper did not wait for the scan
    assert (scan_result.status, scan_result.pages) == ("ingested", 4) and paper_result.status == "ingested"
    assert {c.page for c in chunks} == {0, 1, 2, 3} and all(c.ocr for c in chunks)  # the paused scan is whole
    # The scan started first, was paused for the paper, then resumed with its count of pages kept.
    started = [e for e in seen.events if e[0] == "started"]
    assert started == [
        ("started", "long_scan.pdf", 1),
        ("started", paper.name, 2),
        ("started", "long_scan.pdf", 1),
    ], seen.events
    resumed = seen.events.index(("started", "long_scan.pdf", 1), 1)
    before = sum(e[2] for e in seen.events[:resumed] if e[0] == "page" and e[1] == "long_scan.pdf")
    if before:  # the page count it had is given back with it
        assert seen.events[resumed + 1] == ("page", "long_scan.pdf", before)
