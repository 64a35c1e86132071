"""Ingestion in the background for the UI: a job per upload batch, its progress as snapshots to draw,
per-file result lines, and the staged uploads it holds while it runs."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RagError
from .ingest import Progress, Source
from .models import FileResult

if TYPE_CHECKING:
    from .job_log import JobLog

logger = logging.getLogger(__name__)


# -- background ingestion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentFile:
    name: str
    index: int
    total: int
    pages_total: int | None
    pages_done: int
    chunks_done: int
    started_at: float = 0.0  # time.monotonic() when the file started
    ocr_page: int | None = None  # the page (0-based) being read with OCR right now

    def seconds_left(self, now: float) -> float | None:
        """Time left for this file at the pace so far; None until a few pages have gone through.

        Pages are counted as the ingest thread takes them, which it does at the pace of embedding
        (the slowest stage), so the page rate is the file's rate.
        """
        if not self.pages_total or self.pages_done < 3 or now <= self.started_at:
            return None
        per_page = (now - self.started_at) / self.pages_done
        return per_page * max(0, self.pages_total - self.pages_done)


def human_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min': coarse on purpose, an estimate is not a promise."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent view of a job for drawing: finished results in order, the file in progress."""

    job_id: str
    collection: str
    total: int
    results: tuple[FileResult, ...]
    current: CurrentFile | None
    done: bool
    error: str | None
    started_at: float
    finished_at: float | None

    @property
    def fraction(self) -> float:
        if self.total == 0:
            return 1.0
        part = 0.0
        if self.current is not None and self.current.pages_total:
            part = min(1.0, self.current.pages_done / self.current.pages_total)
        return min(1.0, (len(self.results) + part) / self.total)

    def counts(self) -> dict[str, int]:
        out = {"ingested": 0, "replaced": 0, "duplicate": 0, "failed": 0}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


class _JobProgress(Progress):
    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def file_started(self, name: str, index: int, total: int) -> None:
        with self.job._lock:
            self.job._current = CurrentFile(name, index, total, None, 0, 0, time.monotonic())

    def file_opened(self, name: str, n_pages: int) -> None:
        with self.job._lock:
            if self.job._current is not None:
                self.job._current = replace(self.job._current, pages_total=n_pages)

    def pages_done(self, name: str, n: int) -> None:
        with self.job._lock:
            if self.job._current is not None:
                self.job._current = replace(
                    self.job._current, pages_done=self.job._current.pages_done + n, ocr_page=None
                )

    def ocr_started(self, name: str, page: int) -> None:
        with self.job._lock:
            if self.job._current is not None and self.job._current.name == name:
                self.job._current = replace(self.job._current, ocr_page=page)

    def chunks_done(self, name: str, n: int) -> None:
        with self.job._lock:
            if self.job._current is not None:
                self.job._current = replace(self.job._current, chunks_done=self.job._current.chunks_done + n)

    def file_finished(self, result: FileResult) -> None:
        with self.job._lock:
            self.job._results.append(result)
            if self.job._current is not None and self.job._current.name == result.file_name:
                self.job._current = None
        self.job._save()


_job_ids = itertools.count(1)


@dataclass
class IngestJob:
    """Ingest sources into a collection on a background thread; poll ``snapshot()`` to draw progress.

    ``on_finished`` runs on the job's thread after the batch (e.g. to delete staged uploads).
    """

    library: object
    sources: Sequence[Source]
    collection: str
    keep_both: bool = False
    ocr: str | None = None  # "force": re-read with OCR (see Library.ingest)
    on_finished: Callable[[IngestJob], None] | None = None
    #: where every session (and the next start) sees the job: saved when it starts, per file, at the end
    log: JobLog | None = None
    job_id: str = field(default_factory=lambda: f"job{next(_job_ids)}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._results: list[FileResult] = []
        self._final: list[FileResult] | None = None
        self._current: CurrentFile | None = None
        self._error: str | None = None
        self._done = threading.Event()
        self._started_at = time.time()
        self._finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self.job_id}", daemon=True)

    def start(self) -> IngestJob:
        self._save()
        self._thread.start()
        return self

    def _save(self) -> None:
        if self.log is None:
            return
        try:
            self.log.save(self.snapshot())
        except (OSError, sqlite3.Error) as e:  # the job goes on; only other sessions miss its progress
            logger.warning("could not record ingest job %s: %s", self.job_id, e)

    def _run(self) -> None:
        try:
            final = self.library.ingest(
                list(self.sources),
                self.collection,
                keep_both=self.keep_both,
                progress=_JobProgress(self),
                ocr=self.ocr,
            )
            with self._lock:
                self._final = final
        except RagError as e:
            logger.error("ingestion into %r failed: %s", self.collection, e)
            with self._lock:
                self._error = str(e)
        except Exception as e:  # a thread has nobody to raise to: report it, or the page would wait forever
            logger.exception("ingestion into %r crashed", self.collection)
            with self._lock:
                self._error = f"ingestion stopped by an unexpected error: {type(e).__name__}: {e}"
        finally:
            with self._lock:
                self._current = None
                self._finished_at = time.time()
            if self.on_finished is not None:
                try:
                    self.on_finished(self)
                except OSError as e:
                    logger.warning("clean-up after ingestion failed: %s", e)
            self._done.set()
            self._save()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            # The library's own list is authoritative and in input order once the batch is over.
            results = tuple(self._final) if self._final is not None else tuple(self._results)
            return JobSnapshot(
                job_id=self.job_id,
                collection=self.collection,
                total=len(self.sources),
                results=results,
                current=self._current,
                done=self._done.is_set(),
                error=self._error,
                started_at=self._started_at,
                finished_at=self._finished_at,
            )

    def source_for(self, result: FileResult) -> Source | None:
        """The Source a result came from (to retry it with a password)."""
        for source in self.sources:
            if str(source.path) == result.path and source.name == result.file_name:
                return source
        return None


def needs_password(result: FileResult) -> bool:
    return result.status == "failed" and result.error_kind == "password_required"


def finished_summary(snapshot: JobSnapshot) -> str:
    """'2 ingested, 1 failed, 1 needs a password': what a finished job did, counted per outcome."""
    counts = snapshot.counts()
    locked = sum(needs_password(r) for r in snapshot.results)
    counts["failed"] -= locked
    parts = [f"{n} {outcome}" for outcome, n in counts.items() if n]
    if locked:
        parts.append(f"{locked} need{'s' if locked == 1 else ''} a password")
    return ", ".join(parts) or "nothing to do"


def result_line(result: FileResult) -> str:
    """One plain-text line describing a file's outcome."""
    if result.status in ("ingested", "replaced"):
        what = f"{_count(result.pages, 'page')}, {_count(result.chunks, 'chunk')} in {result.seconds:.1f} s"
        if result.status == "replaced":
            what += " (replaced the earlier version with the same name)"
        return what
    if result.status == "duplicate":  # drawn after "duplicate: ", so no second colon here
        return f"{result.reason or 'already in the collection'}; not added again"
    return result.reason or "failed"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def human_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# -- staged uploads in use ------------------------------------------------------------------------------

_staged_lock = threading.Lock()
_staged_uses: dict[str, int] = {}


def hold_staged(paths: Iterable[Path]) -> None:
    """Mark staged uploads as in use (a job reading them, or a password prompt waiting for them)."""
    with _staged_lock:
        for p in paths:
            _staged_uses[str(p)] = _staged_uses.get(str(p), 0) + 1


def is_held(path: Path) -> bool:
    """Whether this process holds a use of the staged upload (not so after a restart)."""
    with _staged_lock:
        return _staged_uses.get(str(path), 0) > 0


def release_staged(paths: Iterable[Path], data_dir: Path) -> None:
    """Drop one use of each path; a staged upload nobody uses any more is deleted."""
    from .uploads import discard_upload

    with _staged_lock:
        for p in paths:
            left = _staged_uses.get(str(p), 0) - 1
            if left > 0:
                _staged_uses[str(p)] = left
                continue
            _staged_uses.pop(str(p), None)
            discard_upload(Path(p), data_dir)


def release_finished_uploads(job: IngestJob, data_dir: Path) -> None:
    """``on_finished`` for upload jobs: let go of every staged file, except those waiting for a
    password, which stay held until the user retries or dismisses them."""
    snapshot = job.snapshot()
    waiting = {r.path for r in snapshot.results if needs_password(r)}
    release_staged([Path(s.path) for s in job.sources if str(s.path) not in waiting], data_dir)
