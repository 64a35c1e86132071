"""Ingestion in the background for the UI: a job per upload batch, its progress as snapshots to draw,
per-file result lines, and the staged uploads it holds while it runs."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.ingest.sources import Progress, Source
from rag.models import FileResult

if TYPE_CHECKING:
    from ui.state.job_log import JobLog

logger = logging.getLogger(__name__)


# -- background ingestion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentFile:
    """The file being ingested, as the progress events left it: pages read, chunks cut and embedded, and
    where the time went (the ingest thread reads pages and embeds chunks in turn, never both at once)."""

    name: str
    index: int
    total: int
    pages_total: int | None
    pages_done: int
    chunks_done: int  # chunks embedded
    started_at: float = 0.0  # time.monotonic() when the file started
    ocr_page: int | None = None  # the page (0-based) being read with OCR right now
    chunks_found: int = 0  # chunks cut from the pages read so far (embedded or waiting)
    embed_seconds: float = 0.0  # of the time up to ``last_event_at``, what embedding took
    last_event_at: float = 0.0  # when the last progress event came
    chunk_seconds: float | None = None  # seconds a chunk took to embed in an earlier file of the job

    def read_pages(self, n: int, now: float) -> CurrentFile:
        return replace(self, pages_done=self.pages_done + n, ocr_page=None, last_event_at=now)

    def found_chunks(self, n: int, now: float) -> CurrentFile:
        return replace(self, chunks_found=self.chunks_found + n, last_event_at=now)

    def embedded(self, n: int, now: float) -> CurrentFile:
        """``n`` chunks embedded: the time since the last event went into embedding them."""
        spent = max(0.0, now - max(self.last_event_at, self.started_at))
        return replace(
            self,
            chunks_done=self.chunks_done + n,
            chunks_found=max(self.chunks_found, self.chunks_done + n),
            embed_seconds=self.embed_seconds + spent,
            last_event_at=now,
        )

    @property
    def chunks_expected(self) -> float:
        """Chunks the whole file will make: as many per page as so far (exact once every page is read)."""
        if not self.pages_total or not self.pages_done or self.pages_done >= self.pages_total:
            return float(self.chunks_found)
        return self.chunks_found * self.pages_total / self.pages_done

    @property
    def fraction(self) -> float:
        """The file's share done: pages read and chunks embedded, half each (a file whose pages are all
        read may have most of its embedding ahead)."""
        if not self.pages_total:
            return 0.0
        pages = min(1.0, self.pages_done / self.pages_total)
        expected = self.chunks_expected
        chunks = min(1.0, self.chunks_done / expected) if expected else 0.0
        return (pages + chunks) / 2

    def seconds_left(self, now: float) -> float | None:
        """Time left for this file: the pages still to read at the reading pace so far, plus the chunks still
        to embed at the embedding pace so far (or an earlier file's), less the time since the last event;
        recomputed on every snapshot. None until a few pages are read, and while nothing tells the embedding
        pace (a guess would stay frozen at "about 5 s" through a long first batch)."""
        if not self.pages_total or now <= self.started_at or self.pages_done < min(3, self.pages_total):
            return None
        accounted = max(0.0, max(self.last_event_at, self.started_at) - self.started_at)
        per_page = max(0.0, accounted - self.embed_seconds) / self.pages_done
        to_embed = max(0.0, self.chunks_expected - self.chunks_done)
        per_chunk = self.embed_seconds / self.chunks_done if self.chunks_done else self.chunk_seconds
        if per_chunk is None and to_embed > 0:
            return None
        left = per_page * (self.pages_total - self.pages_done) + (per_chunk or 0.0) * to_embed
        return max(0.0, left - (now - max(self.last_event_at, self.started_at)))

    def chunks_text(self) -> str:
        """ "16 of 66 chunks embedded" once every page is read (the total is known), else "16 chunks embedded"."""
        if self.pages_total and self.pages_done >= self.pages_total and self.chunks_found:
            return f"{self.chunks_done} of {self.chunks_found} chunks embedded"
        return f"{self.chunks_done} chunks embedded"


def waiting_files(sources: Sequence[Source], results: Sequence[FileResult], current: CurrentFile | None) -> list[str]:
    """Names of the files of a batch not finished and not in progress, in the order they will be read."""
    finished = Counter((r.path, r.file_name) for r in results)
    waiting, skipped_current = [], False
    for s in sources:
        key = (str(s.path), s.name)
        if finished[key]:
            finished[key] -= 1
        elif current is not None and not skipped_current and s.name == current.name:
            skipped_current = True
        else:
            waiting.append(s.name)
    return waiting


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
    waiting: tuple[str, ...] = ()  # files not started yet, in order (this process's jobs only)

    @property
    def fraction(self) -> float:
        if self.total == 0:
            return 1.0
        part = self.current.fraction if self.current is not None else 0.0
        return min(1.0, (len(self.results) + part) / self.total)

    def counts(self) -> dict[str, int]:
        out = {"ingested": 0, "replaced": 0, "duplicate": 0, "failed": 0}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


class _JobProgress(Progress):
    def __init__(self, job: IngestJob) -> None:
        self.job = job
        self.chunk_seconds: float | None = None  # the embedding pace of the job's last file that had chunks

    def _update(self, name: str | None, change: Callable[[CurrentFile, float], CurrentFile]) -> None:
        with self.job._lock:
            current = self.job._current
            if current is not None and (name is None or current.name == name):
                self.job._current = change(current, time.monotonic())

    def file_started(self, name: str, index: int, total: int) -> None:
        now = time.monotonic()
        with self.job._lock:
            self.job._current = CurrentFile(
                name, index, total, None, 0, 0, now, last_event_at=now, chunk_seconds=self.chunk_seconds
            )

    def file_opened(self, name: str, n_pages: int) -> None:
        self._update(None, lambda c, now: replace(c, pages_total=n_pages, last_event_at=now))

    def pages_done(self, name: str, n: int) -> None:
        self._update(None, lambda c, now: c.read_pages(n, now))

    def ocr_started(self, name: str, page: int) -> None:
        self._update(name, lambda c, now: replace(c, ocr_page=page))

    def chunks_found(self, name: str, n: int) -> None:
        self._update(None, lambda c, now: c.found_chunks(n, now))

    def chunks_embedded(self, name: str, n: int) -> None:
        self._update(None, lambda c, now: c.embedded(n, now))

    def file_finished(self, result: FileResult) -> None:
        with self.job._lock:
            current = self.job._current
            if current is not None and current.chunks_done:
                self.chunk_seconds = current.embed_seconds / current.chunks_done
            self.job._results.append(result)
            if current is not None and current.name == result.file_name:
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
            done = self._done.is_set()
            return JobSnapshot(
                job_id=self.job_id,
                collection=self.collection,
                total=len(self.sources),
                results=results,
                current=self._current,
                done=done,
                error=self._error,
                started_at=self._started_at,
                finished_at=self._finished_at,
                waiting=() if done else tuple(waiting_files(self.sources, results, self._current)),
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
    from ui.state.uploads import discard_upload

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
