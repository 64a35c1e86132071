"""Ingest jobs and their results kept in SQLite (``RAG_DATA_DIR/jobs.sqlite3``), so every session sees them
(a second tab, the Chat page) and they outlive a restart until someone dismisses them: a file that needs its
password must not vanish with the tab that uploaded it."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from pathlib import Path

from rag.models import FileResult
from ui.state.jobs import JobSnapshot

logger = logging.getLogger(__name__)

#: This process: a job left unfinished by another one was stopped (the app restarted or crashed).
BOOT = uuid.uuid4().hex
STOPPED = "The app stopped before this upload finished; files not listed here were not added. Upload them again."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    total INTEGER NOT NULL,
    results TEXT NOT NULL,
    error TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    boot TEXT NOT NULL,
    dismissed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settled (key TEXT PRIMARY KEY);
"""


class JobLog:
    """Every ingest job's latest snapshot; each call opens its own short connection (sessions are threads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10.0)) as conn, conn:
            conn.row_factory = sqlite3.Row
            yield conn

    def save(self, snapshot: JobSnapshot) -> None:
        """Record a job as it stands (started, a file done, finished)."""
        results = json.dumps([asdict(r) for r in snapshot.results], ensure_ascii=False)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, collection, total, results, error, started_at, finished_at, boot)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET results = excluded.results,"
                " error = excluded.error, finished_at = excluded.finished_at",
                (
                    snapshot.job_id,
                    snapshot.collection,
                    snapshot.total,
                    results,
                    snapshot.error,
                    snapshot.started_at,
                    snapshot.finished_at if snapshot.done else None,
                    BOOT,
                ),
            )

    def snapshots(self, limit: int = 20) -> list[JobSnapshot]:
        """The jobs nobody dismissed, newest first; one that another process left unfinished is over, stopped."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE dismissed = 0 ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_snapshot(row) for row in rows]

    def dismiss(self, job_ids: Iterable[str]) -> None:
        with self._connect() as conn:
            conn.executemany("UPDATE jobs SET dismissed = 1 WHERE job_id = ?", [(j,) for j in job_ids])

    def settle(self, key: str) -> None:
        """A locked file dealt with (retried with a password, or skipped): no session asks for it again."""
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO settled (key) VALUES (?)", (key,))

    def settled(self) -> set[str]:
        with self._connect() as conn:
            return {row["key"] for row in conn.execute("SELECT key FROM settled")}


def _snapshot(row: sqlite3.Row) -> JobSnapshot:
    results = tuple(FileResult(**{**r, "warnings": tuple(r.get("warnings") or ())}) for r in json.loads(row["results"]))
    running = row["finished_at"] is None
    stopped = running and row["boot"] != BOOT
    return JobSnapshot(
        job_id=row["job_id"],
        collection=row["collection"],
        total=row["total"],
        results=results,
        current=None,
        done=not running or stopped,
        error=STOPPED if stopped else row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
