"""What an ingest says about a document: its state as pages come in, and the notes of its result (pages
OCR'd, unreadable or garbled, and what to do about them)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property

from rag.ingest.chunker import Chunker
from rag.ingest.ocr import INSTALL_HINT, Engine, detect_engine, missing_langs_hint
from rag.ingest.sources import Source
from rag.models import Chunk
from rag.settings import IngestSettings, OcrMode

# Mean OCR word confidence below which the summary warns: clean English and Korean pages measured
# 87-96%, Russian pages read with the default languages (Latin look-alikes) 34-54%.
_LOW_OCR_CONFIDENCE = 70.0


@dataclass
class DocState:
    """One document's ingest as it goes: what was read, written and found wrong with its pages."""

    source: Source
    doc_id: str
    size: int
    started: float
    sha256: str
    rereads: list[str] = field(default_factory=list)  # ids of the same bytes read before, replaced by a re-OCR
    pages: int = 0
    chunks: int = 0
    empty_pages: list[int] = field(default_factory=list)
    garbled_pages: list[int] = field(default_factory=list)
    page_flags: list[bool] = field(default_factory=list)
    written: list[Chunk] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # text from OCR
    ocr_confidences: list[float] = field(default_factory=list)
    ocr_blank: list[int] = field(default_factory=list)  # OCR ran and found nothing
    ocr_garbled: list[int] = field(default_factory=list)  # OCR ran and its text is garbled too
    writing: Future | None = None  # the store write of the previous batch, still running
    # Where the ingest of this document stands, so that it can pause while a later file goes first.
    events: Iterator | None = None
    chunker: Chunker | None = None
    buffer: list[Chunk] = field(default_factory=list)
    n_pages: int | None = None
    index: int = 0  # its place in the order files were taken up (for "file 2 of 5")

    @property
    def mean_ocr_confidence(self) -> float | None:
        return sum(self.ocr_confidences) / len(self.ocr_confidences) if self.ocr_confidences else None


class DocumentNotes:
    """The warnings and failure reasons of one batch's documents, worded for the user."""

    def __init__(self, settings: IngestSettings, ocr: OcrMode | None) -> None:
        self.settings = settings
        self.ocr = ocr  # this batch's override of RAG_OCR, if any

    @cached_property
    def engine(self) -> Engine:
        """The OCR engine as this process sees it (the workers look for it the same way)."""
        return detect_engine(self.settings.ocr_langs, self.settings.tesseract_cmd)

    def ocr_advice(self) -> str:
        """Why pages that need OCR did not get it, and what to do about it."""
        if self.ocr == "off":
            return "OCR was off for this run: add the file again with OCR on to read them"
        if self.ocr is None and self.settings.ocr == "off":
            return "OCR is off: set RAG_OCR=auto to read them"
        engine = self.engine
        if not engine.available:
            if engine.version and engine.missing:  # the program works; the languages are missing
                return (
                    f"OCR is unavailable: {engine.reason}; install the languages (Debian/Ubuntu:"
                    f" apt-get install {' '.join('tesseract-ocr-' + x.lower() for x in engine.missing)})"
                    " or choose installed ones with RAG_OCR_LANGS"
                )
            return f"OCR is unavailable: {engine.reason}; {INSTALL_HINT}"
        return (
            "OCR could not read them: it found no text, failed, or ran past RAG_OCR_PAGE_TIMEOUT"
            f" ({self.settings.ocr_page_timeout_s:g} s)"
        )

    def warnings(self, doc: DocState) -> list[str]:
        notes = []
        if doc.ocr_pages:
            mean = doc.mean_ocr_confidence
            confidence = f"mean confidence {mean:.0f}%" if mean is not None else "confidence unknown"
            were = "page was" if len(doc.ocr_pages) == 1 else "pages were"
            low = ""
            if mean is not None and mean < _LOW_OCR_CONFIDENCE:
                low = (
                    f"; low confidence: the text may be wrong. If the document is not in {self.settings.ocr_langs},"
                    " add its language to RAG_OCR_LANGS"
                )
            notes.append(f"{len(doc.ocr_pages)} {were} OCR'd ({confidence}): pages {_page_list(doc.ocr_pages)}{low}")
        unread = [i for i in doc.empty_pages if i not in doc.ocr_blank]
        if unread:
            notes.append(
                f"{len(unread)} of {doc.pages} pages have no extractable text (scanned or image-only;"
                f" OCR needed; {self.ocr_advice()}): pages {_page_list(unread)}"
            )
        if doc.ocr_blank:
            notes.append(
                f"{len(doc.ocr_blank)} of {doc.pages} pages have no text even with OCR (blank, or nothing"
                f" readable in the image): pages {_page_list(doc.ocr_blank)}"
            )
        if doc.garbled_pages:
            action = "skipped" if self.settings.garbled_pages == "skip" else "indexed anyway"
            not_ocred = [i for i in doc.garbled_pages if i not in doc.ocr_garbled]
            why = f"; OCR needed; {self.ocr_advice()}" if not_ocred else "; OCR could not read them either"
            notes.append(
                f"{len(doc.garbled_pages)} pages extract as garbled text (broken font encoding{why}), {action}:"
                f" pages {_page_list(doc.garbled_pages)}"
            )
        if (doc.ocr_pages or doc.ocr_blank or doc.ocr_garbled) and self.engine.missing:
            notes.append(missing_langs_hint(self.engine.missing))
        return notes

    def garbled_advice(self, doc: DocState) -> str:
        if any(i not in doc.ocr_garbled for i in doc.garbled_pages):
            return f" ({self.ocr_advice()})"
        return ", but OCR could not read it either"

    def no_text_reason(self, doc: DocState) -> str:
        unread = [i for i in doc.empty_pages if i not in doc.ocr_blank]
        if unread:
            return (
                f"no extractable text (scanned or image-only PDF; OCR needed on pages {_page_list(unread)};"
                f" {self.ocr_advice()})"
            )
        if doc.ocr_blank:
            return "no text found, even with OCR (blank pages, or nothing readable in the page images)"
        return "no extractable text (scanned or image-only PDF; OCR needed)"


def _page_list(indices: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")
