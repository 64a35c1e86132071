"""Shared fixtures: real pypdf, Chroma in a temp dir, and the real embedding model (loaded once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RAG_SHARED_DATA", ROOT.parent / "shared" / "data"))
ADVERSARIAL = SHARED / "pdfs" / "adversarial"


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set RAG_SHARED_DATA to its folder)")
    return path


def skip_unless_installed(what: str, reason: str) -> None:
    """Skip a test whose system package is missing, except where CI installed it (CI_REQUIRE_<WHAT>=1):
    there a missing engine is a failure, so a broken install cannot pass as skipped tests."""
    if os.environ.get(f"CI_REQUIRE_{what.upper()}") == "1":
        pytest.fail(f"{reason}, but CI installed it (CI_REQUIRE_{what.upper()}=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def embedder():
    from rag.embedder import SentenceTransformerEmbedder

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
