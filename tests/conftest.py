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


@pytest.fixture(scope="session")
def embedder():
    from rag.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from a clean environment, with the data directory in a temp folder."""
    for key in list(os.environ):
        if key.startswith("RAG_") or key == "OLLAMA_HOST":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    return Settings.from_env().with_(workers=2)


@pytest.fixture
def library(settings: Settings, embedder):
    from rag.library import Library

    lib = Library(settings, embedder=embedder)
    yield lib
    lib.close()
