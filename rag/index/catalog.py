"""The document catalogue (SQLite): what each collection holds, and which documents are visible.

A document's chunks are written to Chroma only after its row exists as ``pending``; it turns
``ready`` in one transaction once every chunk is stored. Searches only see ``ready`` documents,
so a crash mid-ingest leaves nothing half-visible, and ``stale()`` finds what to clean up.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rag.errors import StoreError
from rag.models import DocumentInfo

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'deleting')),
    ingested_at TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    owner TEXT,
    ocr_pages INTEGER NOT NULL DEFAULT 0,
    ocr_confidence REAL,
    PRIMARY KEY (collection, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_by_name ON documents (collection, file_name);
"""
_COLUMNS = (
    "collection, doc_id, file_name, sha256, pages, chunks, size_bytes, status, ingested_at, embedding_model, warnings,"
    " ocr_pages, ocr_confidence"
)
# Columns added after the first release: (name, definition), added to older catalogues on open.
_ADDED = (("ocr_pages", "INTEGER NOT NULL DEFAULT 0"), ("ocr_confidence", "REAL"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def process_owner() -> str:
    """Identifies this process across pid reuse: host, pid and process start time."""
    import psutil

    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote a pending row may still be writing it."""
    import psutil

    if not owner:
        return False
    try:
        host, pid, started = owner.rsplit(":", 2)
        pid_i, started_f = int(pid), float(started)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's process: only it can tell; leave its rows alone
    try:
        return abs(psutil.Process(pid_i).create_time() - started_f) < 0.01
    except psutil.Error:
        return False


def _row(r: tuple) -> DocumentInfo:
    return DocumentInfo(
        collection=r[0],
        doc_id=r[1],
        file_name=r[2],
        sha256=r[3],
        pages=r[4],
        chunks=r[5],
        size_bytes=r[6],
        status=r[7],
        ingested_at=r[8],
        embedding_model=r[9],
        warnings=tuple(json.loads(r[10] or "[]")),
        ocr_pages=r[11] or 0,
        ocr_confidence=r[12],
    )


class Catalog:
    """Thread- and process-safe access to the catalogue; one short connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(documents)")}
            for name, definition in _ADDED:
                if name not in have:
                    db.execute(f"ALTER TABLE documents ADD COLUMN {name} {definition}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the catalogue at {self.path}: {e}") from e
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        except sqlite3.Error as e:
            raise StoreError(f"catalogue error: {e}") from e
        finally:
            db.close()

    def begin(
        self,
        collection: str,
        doc_id: str,
        file_name: str,
        size_bytes: int,
        embedding_model: str,
        sha256: str | None = None,
    ) -> DocumentInfo | None:
        """Claim a document as pending; returns the existing row instead if it is already there."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            existing = db.execute(
                f"SELECT {_COLUMNS}, owner FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id)
            ).fetchone()
            if existing is not None and (existing[7] != "pending" or owner_alive(existing[-1])):
                db.execute("ROLLBACK")
                return _row(existing)
            # A pending row whose writer died is taken over: the caller cleans its chunks first.
            db.execute("DELETE FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id))
            db.execute(
                "INSERT INTO documents (collection, doc_id, file_name, sha256, size_bytes, status, ingested_at,"
                " embedding_model, owner) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (collection, doc_id, file_name, sha256 or doc_id, size_bytes, _now(), embedding_model, process_owner()),
            )
            db.execute("COMMIT")
        return None

    def commit(
        self,
        collection: str,
        doc_id: str,
        *,
        pages: int,
        chunks: int,
        warnings: list[str],
        replaces: list[str],
        ocr_pages: int = 0,
        ocr_confidence: float | None = None,
    ) -> None:
        """Make a pending document visible and, in the same transaction, retire the ones it replaces."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            updated = db.execute(
                "UPDATE documents SET status='ready', pages=?, chunks=?, warnings=?, ingested_at=?, owner=NULL,"
                " ocr_pages=?, ocr_confidence=? WHERE collection=? AND doc_id=? AND status='pending'",
                (pages, chunks, json.dumps(warnings), _now(), ocr_pages, ocr_confidence, collection, doc_id),
            ).rowcount
            if updated != 1:
                db.execute("ROLLBACK")
                raise StoreError(f"document {doc_id[:12]} is no longer pending in {collection!r}")
            for old in replaces:
                db.execute("UPDATE documents SET status='deleting' WHERE collection=? AND doc_id=?", (collection, old))
            db.execute("COMMIT")

    def mark_deleting(self, collection: str, doc_id: str) -> bool:
        with self._connect() as db:
            n = db.execute(
                "UPDATE documents SET status='deleting' WHERE collection=? AND doc_id=?", (collection, doc_id)
            ).rowcount
        return n == 1

    def remove(self, collection: str, doc_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id))

    def remove_collection(self, collection: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM documents WHERE collection=?", (collection,))

    def get(self, collection: str, doc_id: str) -> DocumentInfo | None:
        with self._connect() as db:
            r = db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id)
            ).fetchone()
        return _row(r) if r else None

    def documents(self, collection: str | None = None, statuses: tuple[str, ...] = ("ready",)) -> list[DocumentInfo]:
        marks = ",".join("?" * len(statuses))
        sql = f"SELECT {_COLUMNS} FROM documents WHERE status IN ({marks})"
        args: list[str] = list(statuses)
        if collection is not None:
            sql += " AND collection=?"
            args.append(collection)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY collection, file_name, ingested_at", args).fetchall()
        return [_row(r) for r in rows]

    def ready_ids(self, collection: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT doc_id FROM documents WHERE collection=? AND status='ready'", (collection,)
            ).fetchall()
        return [r[0] for r in rows]

    def ready_summary(self, collection: str) -> tuple[list[str], int]:
        """Ready document ids and their total chunk count, in one read."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT doc_id, chunks FROM documents WHERE collection=? AND status='ready'", (collection,)
            ).fetchall()
        return [r[0] for r in rows], sum(r[1] for r in rows)

    def by_name(self, collection: str, file_name: str) -> list[DocumentInfo]:
        """Ready documents of a collection with this file name."""
        return self._ready_where(collection, "file_name", file_name)

    def by_sha(self, collection: str, sha256: str) -> list[DocumentInfo]:
        """Ready documents of a collection with these bytes (whatever their id)."""
        return self._ready_where(collection, "sha256", sha256)

    def _ready_where(self, collection: str, column: str, value: str) -> list[DocumentInfo]:
        assert column in ("file_name", "sha256")  # a column name, never a value: it goes into the SQL
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE collection=? AND {column}=? AND status='ready'",
                (collection, value),
            ).fetchall()
        return [_row(r) for r in rows]

    def stale(self) -> list[DocumentInfo]:
        """Rows left by a crash: deletions not finished, and pending rows whose writer is gone."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS}, owner FROM documents WHERE status IN ('pending', 'deleting')"
            ).fetchall()
        return [_row(r) for r in rows if r[7] == "deleting" or not owner_alive(r[-1])]

    def sha_in_use(self, sha256: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM documents WHERE sha256=? LIMIT 1", (sha256,)).fetchone() is not None
