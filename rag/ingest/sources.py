"""What an ingest batch is made of (``Source``: a file and the name users know it by) and how its progress is
reported (``Progress``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.models import FileResult


class Progress:
    """Receives ingestion progress; subclasses draw it (CLI bar, Streamlit widgets)."""

    def file_started(self, name: str, index: int, total: int) -> None: ...

    def file_opened(self, name: str, n_pages: int) -> None: ...

    def pages_done(self, name: str, n: int) -> None: ...

    def ocr_started(self, name: str, page: int) -> None:
        """OCR of ``page`` (0-based) starts: seconds until it is done."""

    def chunks_found(self, name: str, n: int) -> None:
        """``n`` more chunks were cut from the pages read; they wait to be embedded."""

    def chunks_embedded(self, name: str, n: int) -> None:
        """``n`` more chunks embedded: a step of a write batch, reported as it ends (a batch takes seconds)."""

    def chunks_done(self, name: str, n: int) -> None:
        """A write batch of ``n`` chunks, embedded, was handed to the store."""

    def file_finished(self, result: FileResult) -> None: ...


@dataclass(frozen=True)
class Source:
    """A file to ingest: where its bytes are and the name users know it by."""

    path: Path
    name: str
    password: str | None = None


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every PDF under each folder, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() == ".pdf"))
        else:
            out.append(p)
    return out
