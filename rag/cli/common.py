"""What the commands share: progress bars, the ingest summary, the library, argparse types."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rag.ingest.sources import Progress
from rag.models import FileResult
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.library import Library


class BarProgress(Progress):
    """Two tqdm bars on stderr: pages parsed and chunks embedded, per file."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.pages = None
        self.chunks = None

    def file_started(self, name: str, index: int, total: int) -> None:
        self._close()
        self.pages = self._tqdm(desc=f"[{index}/{total}] {name[:40]} pages", unit="page", file=sys.stderr, leave=False)
        self.chunks = self._tqdm(
            desc=" " * len(f"[{index}/{total}] ") + "chunks", unit="chunk", file=sys.stderr, leave=False
        )

    def file_opened(self, name: str, n_pages: int) -> None:
        if self.pages is not None:
            self.pages.total = n_pages
            self.pages.refresh()

    def pages_done(self, name: str, n: int) -> None:
        if self.pages is not None:
            self.pages.set_postfix_str("", refresh=False)
            self.pages.update(n)

    def ocr_started(self, name: str, page: int) -> None:
        if self.pages is not None:
            self.pages.set_postfix_str(f"OCR of page {page + 1}")

    def chunks_done(self, name: str, n: int) -> None:
        if self.chunks is not None:
            self.chunks.update(n)

    def file_finished(self, result: FileResult) -> None:
        self._close()

    def _close(self) -> None:
        for bar in (self.pages, self.chunks):
            if bar is not None:
                bar.close()
        self.pages = self.chunks = None


def summary(results: list[FileResult]) -> str:
    lines = []
    for r in results:
        if r.status in ("ingested", "replaced"):
            what = f"{r.status:<9} {r.pages} pages, {r.chunks} chunks, {r.seconds:.1f} s"
        elif r.status == "duplicate":
            what = f"duplicate ({r.reason})"
        else:
            what = f"FAILED    {r.reason}"
        lines.append(f"  {r.file_name}: {what}")
        lines.extend(f"      note: {w}" for w in r.warnings)
    ok = sum(r.status in ("ingested", "replaced") for r in results)
    dup = sum(r.status == "duplicate" for r in results)
    failed = sum(r.status == "failed" for r in results)
    lines.append(f"{ok} ingested, {dup} duplicate, {failed} failed")
    return "\n".join(lines)


def open_library(settings: Settings) -> Library:
    from rag.library import Library  # imported when a command needs it: `--help` stays fast

    return Library(settings)


def positive_int(value: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n
