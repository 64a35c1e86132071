"""Helpers for the Streamlit UI tests: an isolated environment per app, and polling an AppTest."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
DOCS_PAGE = "pages/1_Documents.py"
ATTENTION = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
ENCRYPTED = ("pdfs", "adversarial", "enc_aes256_crazyones_pw-password.pdf")
KOREAN = ("pdfs", "korean", "cjk-ko_manual_6p.pdf")  # small: 6 pages
RUN_TIMEOUT = 120.0  # AppTest's default of 3 s is far too short for a first model load on 2 cores


@contextmanager
def app_environment(data_dir: Path, ollama_host: str, **extra: str) -> Iterator[Settings]:
    """Environment variables for one app (clean of the caller's RAG_*), and fresh caches after."""
    from ui import resources

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if (key.startswith("RAG_") and key != "RAG_SHARED_DATA") or key == "OLLAMA_HOST":
                mp.delenv(key, raising=False)
        mp.setenv("RAG_DATA_DIR", str(data_dir))
        mp.setenv("RAG_WORKERS", "1")  # the machine is small; one PDF reader process is plenty here
        mp.setenv("OLLAMA_HOST", ollama_host)
        for key, value in extra.items():
            mp.setenv(key, value)
        try:
            yield Settings.from_env()
        finally:
            # Libraries close their reader processes (on_release); the embedding model stays cached.
            resources.library.clear()
            resources.llm.clear()
            resources.history.clear()
            resources.ollama_models.clear()


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)


def run_until(at, done: Callable[[object], bool], timeout: float = 180.0, pause: float = 0.5):
    """Rerun the app until ``done(at)`` holds, then once more so the page shows that state (background
    ingestion, polled as the page does)."""
    deadline = time.monotonic() + timeout
    while True:
        finished = done(at)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if finished:
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"app did not reach the expected state in {timeout:g} s:\n{page_text(at)}")
        time.sleep(pause)


def page_text(at) -> str:
    """Every text-bearing element's value (Markdown source as the app sent it), one per line."""
    parts: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "text", "info", "warning", "error", "success"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    parts.extend(str(s.label) for s in at.status)
    parts.extend(str(e.label) for e in at.expander)
    return "\n".join(parts)


def plain(markdown: str) -> str:
    """Markdown from ``escape_markdown`` back to the text it shows (code spans' backticks and escapes removed)."""
    import re

    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)`([^`]*)`", r"\1", markdown))


def jobs_done(at) -> bool:
    jobs = at.session_state["ingest_jobs"] if "ingest_jobs" in at.session_state else []
    return bool(jobs) and all(job.done for job in jobs)
