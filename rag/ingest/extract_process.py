"""The extraction process itself: reads one task at a time and streams its pages back to ``worker.py``'s pool,
under a memory limit. Runs in a spawned process: it imports the PDF reader only once started."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DocumentError
from rag.ingest.ocr import OcrConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Task:
    job_id: int
    path: str
    name: str
    password: str | None
    max_pages: int
    engine: str = "pypdf"
    ocr: OcrConfig | None = None


def _limit_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows; the parent's RSS watch still applies
        return
    # Address space runs well above RSS (shared libraries, arenas); leave headroom so the
    # parent's RSS limit is the one that normally triggers and this one only stops a runaway.
    limit = (memory_mb + 1024) * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as e:
        log.debug("could not set RLIMIT_AS: %s", e)


def _worker_main(conn, memory_mb: int) -> None:
    """Worker process loop: read a task, stream its pages back, repeat until told to stop."""
    logging.disable(logging.CRITICAL)  # pypdf logs on every odd font; the parent reports what matters
    _limit_memory(memory_mb)  # inherited by the tesseract processes this worker starts
    # Tesseract's OpenMP threads fight the other workers for the same cores: one thread each measured
    # 3-4 times faster per page on a 2-core machine. A value set by the user wins.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    from rag.ingest.loader import iter_pages, open_document, with_ocr

    conn.send(("ready", None, None))  # imports done: from now on a silent worker is a stalled page
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            reader = open_document(Path(task.path), task.password, name=task.name, engine=task.engine)
            conn.send(("open", task.job_id, len(reader.pages)))
            pages = iter_pages(reader, task.name, max_pages=task.max_pages)
            if task.ocr is not None and task.ocr.mode != "off":
                pages = with_ocr(
                    pages,
                    task.path,
                    task.name,
                    task.ocr,
                    password=task.password,
                    on_ocr=lambda index, job_id=task.job_id: conn.send(("ocr", job_id, index)),
                )
            for page in pages:
                conn.send(("page", task.job_id, page))
            conn.send(("done", task.job_id, None))
        except DocumentError as e:
            conn.send(("error", task.job_id, (e.kind, e.reason)))
        except MemoryError:
            conn.send(("error", task.job_id, ("resource_limit", "reading it needed more memory than allowed")))
        except (Exception, RecursionError) as e:  # anything else from a hostile file is that file's failure
            conn.send(("error", task.job_id, ("corrupt", f"could not be read: {type(e).__name__}: {e}"[:300])))
