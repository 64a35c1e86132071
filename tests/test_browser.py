"""The app in a real browser: `streamlit run app.py` as a subprocess, driven with Playwright and Debian's
Chromium. Upload a PDF through the file input, wait for it to be ingested, ask a question, and check the
streamed answer and its sources (file, page). Also: the page loads nothing from outside this machine,
and an image link in an answer is not fetched. Saves screenshots to tests/artifacts/.

CI needs Chromium from Debian (``playwright install`` is not used):
    apt-get update && apt-get install -y chromium chromium-driver
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.app_support import ATTENTION, ROOT
from tests.conftest import shared_path
from tests.fake_ollama import FakeOllama

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium chromium-driver)",
)


def _settle(page) -> None:
    """Wait until the app is idle: no script run in progress and no stale elements of an earlier run."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidgetRunningIcon]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=60_000,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"streamlit did not become healthy in {timeout:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        server.add_model("llama3.2")
        yield server


@pytest.fixture
def app_url(tmp_path: Path, fake: FakeOllama) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "OLLAMA_HOST"}
    env.update(RAG_DATA_DIR=str(tmp_path / "data"), RAG_WORKERS="1", OLLAMA_HOST=fake.url)
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the PDF reader processes it started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        errors = [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line]
        assert not errors, log.read_text()[-3000:]


def test_upload_then_ask_in_a_real_browser(app_url: str, fake: FakeOllama, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    pdf = tmp_path / "attention.pdf"  # a short name, so the source labels show it whole
    shutil.copyfile(shared_path(*ATTENTION), pdf)
    fake.queue_chat(
        "The Transformer relies entirely on self-attention, dispensing with recurrence and convolutions [1]. "
        f"![tracker]({fake.url}/leak.png)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname != "127.0.0.1" else None)
            page.goto(f"{app_url}/Documents")  # a deep link into a fresh server still gets the app's navigation
            expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible(timeout=90_000)
            expect(page.get_by_role("link", name="Chat")).to_be_visible()
            page.locator("input[type=file]").set_input_files(pdf)
            expect(page.get_by_text("Finished: 1 ingested")).to_be_visible(timeout=180_000)
            expect(page.get_by_text("In this collection: 1 document")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("15 pages, 63 chunks")).to_be_visible()
            _settle(page)
            page.wait_for_timeout(1000)
            page.screenshot(path=ARTIFACTS / "browser_documents.png")

            page.get_by_role("link", name="Chat").first.click()
            box = page.get_by_placeholder("Ask about your documents")
            box.fill("What does the Transformer rely on?")
            box.press("Enter")
            answer = page.get_by_text("The Transformer relies entirely on self-attention").first
            expect(answer).to_be_visible(timeout=90_000)
            expect(page.get_by_text("Sources", exact=True).first).to_be_visible()
            cards = page.locator("summary", has_text=re.compile(r"\[\d+\] p\. \d+ · "))
            first = cards.first
            expect(first).to_contain_text(re.compile(r"\[1\] p\. \d+ · attention\.pdf"), timeout=30_000)
            expect(first).to_contain_text("cited")
            assert cards.count() >= 3
            expect(page.get_by_role("button", name="Download as Markdown")).to_be_visible()  # saved in history
            _settle(page)
            page.wait_for_timeout(1000)  # the sources table draws on a canvas, after the DOM
            shot = ARTIFACTS / "browser_chat.png"
            page.screenshot(path=shot)
            first.click()
            page.get_by_text(re.compile(r"^Show page \d+$")).first.click()
            expect(page.locator("[data-testid=stImage] img").first).to_be_visible(timeout=60_000)
            page.screenshot(path=ARTIFACTS / "browser_page_preview.png")
            print(f"\nscreenshots: {shot} (and browser_documents.png, browser_page_preview.png)")
        except AssertionError:
            page.screenshot(path=ARTIFACTS / "browser_failure.png")
            raise
        finally:
            browser.close()

    assert not outside, f"the page loaded something from outside this machine: {outside}"
    assert not fake.requests_to("/leak.png"), "an image in the answer was fetched"
    assert fake.chat_requests, "the question never reached the model"
