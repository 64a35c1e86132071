"""Shared fixtures: real pypdf, Chroma in a temp dir, and the real embedding model (loaded once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
SHARED = Path(os.environ.get("RAG_SHARED_DATA", ROOT.parent / "shared" / "data"))
ADVERSARIAL = SHARED / "pdfs" / "adversarial"


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason when it is absent.

    CI has the data (CI_REQUIRE_SHARED_DATA=1, set by .ci/run): there a missing file fails the test, so
    a checkout without the data cannot pass as a run of skipped tests.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"shared test data not found at {path} (set RAG_SHARED_DATA to its folder)"
        if os.environ.get("CI_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"{reason}, but CI requires it (CI_REQUIRE_SHARED_DATA=1)")
        pytest.skip(reason)
    return path


def skip_unless_installed(what: str, reason: str) -> None:
    """Skip a test whose system package is missing, except where CI installed it (CI_REQUIRE_<WHAT>=1):
    there a missing engine is a failure, so a broken install cannot pass as skipped tests."""
    if os.environ.get(f"CI_REQUIRE_{what.upper()}") == "1":
        pytest.fail(f"{reason}, but CI installed it (CI_REQUIRE_{what.upper()}=1)")
    pytest.skip(reason)


# Marked `slow` here, in one place, as paths under tests/ (`scripts/test.sh -m "not slow"` leaves them out; CI
# runs them): whole modules that kill processes, run sessions at once, drive a browser, ingest the adversarial
# batch or OCR pages, and single tests that ingest or open big PDFs or wait for time limits.
SLOW_MODULES = {
    "ingest/test_adversarial",
    "test_browser",
    "test_concurrency",
    "ingest/test_crash",
    "ingest/test_ocr",
    "ingest/test_worker",
}
SLOW_TESTS = {
    "cli/test_cli.py::test_ingest_ocr_option_overrides_the_setting_for_the_run",
    "ui/test_documents_page.py::test_a_scan_is_re_read_with_ocr_from_the_page",
    "eval/test_evaluate.py::test_eval_command_end_to_end",
    "ingest/test_loader.py::test_financebench_evidence_is_on_the_page_index_we_report",
    "ingest/test_loader.py::test_pdfium_engine_reads_the_same_pages_as_pypdf",
    "ingest/test_loader.py::test_sec_filing_with_huge_arrays_opens",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(TESTS).as_posix()  # e.g. "ingest/test_ocr.py": the same name under tests/
        if path.removesuffix(".py") in SLOW_MODULES or f"{path}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedder():
    from rag.encoders.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def fresh_database() -> str:
    """A Chroma database of its own for each test when the tests run against a Chroma server."""
    import uuid

    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from a clean environment, with the data directory in a temp folder.

    CHROMA_HOST/CHROMA_PORT are kept, so the same tests run against a Chroma server
    (scripts/test-chroma-server.sh); each test then gets a database of its own.
    """
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_SHARED_DATA" or key == "OLLAMA_HOST":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    if os.environ.get("CHROMA_HOST"):
        monkeypatch.setenv("RAG_CHROMA_DATABASE", fresh_database())
    return Settings.from_env().with_(workers=2)


@pytest.fixture
def library(settings: Settings, embedder):
    from rag.library import Library

    lib = Library(settings, embedder=embedder)
    yield lib
    lib.close()
