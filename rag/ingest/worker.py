"""PDF extraction in killable worker processes, bounded in time and memory.

A hostile PDF can loop, recurse or allocate without end inside pypdf; only a separate process
can be stopped from outside. Workers are reused across files and replaced when one is killed.
Pages stream back one by one, so the caller can chunk and embed while parsing goes on.
Pages without a usable text layer are OCR'd in the same worker (``loader.with_ocr``); before each
such page the worker says so, and that page gets the longer OCR limit instead of the stall limit.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import DocumentError, ExtractionTimeout, PasswordRequired, ResourceLimitError
from rag.ingest.ocr import OcrConfig
from rag.models import Page

if TYPE_CHECKING:
    from rag.settings import OcrMode, Settings
from rag.ingest.extract_process import _Task, _worker_main

log = logging.getLogger(__name__)

_POLL_S = 0.05
_STARTUP_GRACE_S = 30.0
_ERRORS = {"password_required": PasswordRequired, "timeout": ExtractionTimeout, "resource_limit": ResourceLimitError}


@dataclass(frozen=True)
class Opened:
    """First event of a job: the file opened and has this many pages."""

    n_pages: int


@dataclass(frozen=True)
class OcrStarted:
    """OCR of this page (0-based) starts now: it takes seconds, so progress can say so."""

    page: int


class Job:
    """One file's extraction; iterate ``events()`` for an ``Opened`` then its ``Page``s."""

    def __init__(self, task: _Task) -> None:
        self.task = task
        self._events: queue.Queue = queue.Queue()
        self._peeked: tuple[str, object] | None = None
        #: set once extraction has ended (every event is waiting in the queue)
        self.finished = threading.Event()

    def wait(self, timeout: float) -> bool:
        """Whether the next event has arrived, waiting up to ``timeout`` seconds for it (one consumer only)."""
        if self._peeked is None:
            try:
                self._peeked = self._events.get(timeout=timeout)
            except queue.Empty:
                return False
        return True

    def events(self) -> Iterator[Opened | OcrStarted | Page]:
        """Events as they arrive; raises ``DocumentError`` if extraction fails."""
        while True:
            if self._peeked is not None:
                (kind, payload), self._peeked = self._peeked, None
            else:
                kind, payload = self._events.get()
            if kind == "open":
                yield Opened(payload)
            elif kind == "page":
                yield payload
            elif kind == "ocr":
                yield OcrStarted(payload)
            elif kind == "done":
                return
            else:
                error_kind, reason = payload
                raise _ERRORS.get(error_kind, DocumentError)(self.task.name, reason, kind=error_kind)

    def _put(self, kind: str, payload: object) -> None:
        self._events.put((kind, payload))
        if kind in ("done", "error"):
            self.finished.set()


class _Slot(threading.Thread):
    """Owns one worker process and feeds it jobs from the pool's queue, enforcing the limits."""

    def __init__(self, pool: ExtractionPool, index: int) -> None:
        super().__init__(name=f"extract-{index}", daemon=True)
        self.pool = pool
        self.process: mp.process.BaseProcess | None = None
        self.conn = None

    def _start_process(self) -> None:
        parent, child = self.pool._ctx.Pipe()
        process = self.pool._ctx.Process(
            target=_worker_main, args=(child, self.pool.memory_mb), name="rag-extract", daemon=True
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent

    def _kill(self) -> None:
        if self.process is not None:
            self._kill_children()
            self.process.kill()
            self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn = None, None

    def run(self) -> None:
        while True:
            job = self.pool._jobs.get()
            if job is None:
                self._shutdown()
                return
            try:
                self._run_job(job)
            except (OSError, EOFError, ValueError) as e:
                self._kill()
                job._put("error", ("corrupt", f"the PDF reader process failed ({type(e).__name__}: {e})"))
            except Exception as e:
                # A fault in this thread rather than in the file (a task that cannot be sent, a bug): if it
                # ended the thread, this job's reader would wait forever and the pool would lose the slot.
                log.exception("extracting %s failed on an internal error", job.task.name)
                reason = f"extraction failed on an internal error ({type(e).__name__}: {e}); the file may be fine"
                job._put("error", ("internal", reason[:300]))
                try:
                    self._kill()  # the pipe may hold half a message: the next job gets a fresh worker
                except Exception:
                    log.exception("could not stop the PDF reader process")
                    self.process, self.conn = None, None

    # Not ``_stop``: that name is threading.Thread's own, which is_alive() and join() call.
    def _shutdown(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
        if self.process is not None:
            self.process.join(timeout=2)
        self._kill()

    def _kill_children(self) -> None:
        """Stop the programs the worker started (tesseract), which killing the worker would orphan."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except (psutil.Error, AttributeError, ValueError):
            return
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass

    def _rss_mb(self) -> float:
        """Memory of the worker and of the programs it runs (tesseract), together."""
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            rss = process.memory_info().rss
            children = process.children(recursive=True)
        except (psutil.Error, AttributeError, ValueError):
            return 0.0
        for child in children:
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                pass
        return rss / 2**20

    def _wait_ready(self) -> str | None:
        """Wait for a new worker to finish importing; the reason it failed, or None."""
        # Importing takes seconds on a busy machine; that time must not count against the first page.
        deadline = time.monotonic() + _STARTUP_GRACE_S
        while time.monotonic() < deadline:
            if self.conn.poll(_POLL_S):
                kind, _, _ = self.conn.recv()
                if kind == "ready":
                    return None
            elif not self.process.is_alive():
                return f"the PDF reader process could not start (exit code {self.process.exitcode})"
        return f"the PDF reader process did not start within {_STARTUP_GRACE_S:g} s"

    def _ready_for(self, job: Job) -> bool:
        """A live reader process for ``job``, started afresh if the last one died; False (the job failed) if
        none would start."""
        if self.process is None or not self.process.is_alive():
            self._kill()
            self._start_process()
            failure = self._wait_ready()
            if failure:
                self._kill()
                job._put("error", ("corrupt", failure))
                return False
        return True

    def _run_job(self, job: Job) -> None:
        if not self._ready_for(job):
            return
        self.conn.send(job.task)
        started = time.monotonic()
        last = started
        checks = itertools.count()
        limit = self.pool.page_timeout_s
        ocr_page: int | None = None  # the page being OCR'd, from the worker's heartbeat
        n_ocr = 0
        while True:
            if self.conn.poll(_POLL_S):
                try:
                    kind, job_id, payload = self.conn.recv()
                except EOFError:
                    code = self.process.exitcode if self.process else None
                    self._kill()
                    job._put("error", ("corrupt", f"the PDF reader crashed on this file (exit code {code})"))
                    return
                last = time.monotonic()
                if kind == "ocr":  # heartbeat: OCR of page ``payload`` starts now
                    ocr_page, limit = int(payload), self.pool.ocr_page_limit_s
                    n_ocr += 1
                    job._put("ocr", ocr_page)
                    continue
                ocr_page, limit = None, self.pool.page_timeout_s
                job._put(kind, payload)
                if kind in ("done", "error"):
                    return
                continue
            now = time.monotonic()
            reason = None
            if now - last > limit:
                if ocr_page is not None:
                    reason = (
                        "timeout",
                        f"OCR of page {ocr_page + 1} took over {limit:g} s and was stopped (RAG_OCR_PAGE_TIMEOUT)",
                    )
                else:
                    reason = ("timeout", f"extraction stalled for over {limit:g} s on one page and was stopped")
            elif now - started > self.pool.file_timeout_s:
                more = f" ({n_ocr} pages OCR'd; raise RAG_FILE_TIMEOUT for long scans)" if n_ocr else ""
                reason = ("timeout", f"extraction took over {self.pool.file_timeout_s:g} s and was stopped{more}")
            elif next(checks) % 4 == 0 and self._rss_mb() > self.pool.memory_mb:
                reason = (
                    "resource_limit",
                    f"reading it needed over {self.pool.memory_mb} MB of memory and was stopped",
                )
            elif not self.process.is_alive():
                reason = ("corrupt", f"the PDF reader crashed on this file (exit code {self.process.exitcode})")
            if reason:
                log.warning("%s: %s", job.task.name, reason[1])
                self._kill()
                job._put("error", reason)
                return


class ExtractionPool:
    """A few worker processes extracting PDFs in parallel, each bounded in time and memory."""

    def __init__(
        self,
        workers: int = 2,
        *,
        page_timeout_s: float = 5.0,
        file_timeout_s: float = 900.0,
        memory_mb: int = 1536,
        max_pages: int = 5000,
        engine: str = "pypdf",
        ocr: OcrConfig | None = None,
    ) -> None:
        self.engine = engine
        self.ocr = ocr
        self.page_timeout_s = page_timeout_s
        self.file_timeout_s = file_timeout_s
        self.memory_mb = memory_mb
        self.max_pages = max_pages
        # spawn: forking a process that holds torch threads and Chroma handles is unsafe.
        self._ctx = mp.get_context("spawn")
        self._jobs: queue.Queue = queue.Queue()
        self._ids = itertools.count()
        self._slots = [_Slot(self, i) for i in range(max(1, workers))]
        for slot in self._slots:
            slot.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractionPool:
        return cls(
            settings.ingest.workers,
            page_timeout_s=settings.ingest.page_timeout_s,
            file_timeout_s=settings.ingest.file_timeout_s,
            memory_mb=settings.ingest.worker_memory_mb,
            max_pages=settings.ingest.max_pages,
            engine=settings.ingest.pdf_engine,
            ocr=OcrConfig(
                mode=settings.ingest.ocr,
                langs=settings.ingest.ocr_langs,
                dpi=settings.ingest.ocr_dpi,
                page_timeout_s=settings.ingest.ocr_page_timeout_s,
                tesseract_cmd=settings.ingest.tesseract_cmd,
            ),
        )

    @property
    def ocr_page_limit_s(self) -> float:
        """How long one OCR'd page may take before its worker is killed.

        The worker stops tesseract itself at the OCR limit and keeps the page without text; the
        stall limit on top covers rendering the page and leaves that cut-off time to happen.
        """
        ocr_limit = self.ocr.page_timeout_s if self.ocr is not None else 60.0
        return ocr_limit + self.page_timeout_s

    def submit(
        self, path: Path, name: str | None = None, password: str | None = None, *, ocr_mode: OcrMode | None = None
    ) -> Job:
        """Queue a file; ``ocr_mode`` ("auto", "off", "force") overrides the pool's OCR mode for it."""
        ocr = self.ocr
        if ocr_mode is not None:
            ocr = replace(ocr or OcrConfig(), mode=ocr_mode)
        task = _Task(
            next(self._ids),
            str(os.fspath(path)),
            name or Path(path).name,
            password,
            self.max_pages,
            self.engine,
            ocr,
        )
        job = Job(task)
        self._jobs.put(job)
        return job

    def close(self) -> None:
        for _ in self._slots:
            self._jobs.put(None)
        for slot in self._slots:
            slot.join(timeout=10)

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
