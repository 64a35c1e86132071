"""Open a PDF with pypdf and yield its pages' text, page by page, OCR'd where the text layer fails.

Runs inside the extraction worker process (see ``worker.py``), so it imports nothing heavy.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import DocumentError, PasswordRequired
from rag.ingest.layout import looks_tabular, table_text
from rag.ingest.ocr import (
    Engine,
    OcrConfig,
    OcrError,
    OcrResult,
    detect_engine,
    needs_ocr,
    ocr_image,
    open_for_render,
    render_page,
)
from rag.ingest.quality import assess
from rag.models import Page

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)

_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
)
_DROP = dict.fromkeys(map(ord, "\x00\ufeff\ufffe\u200b\u00ad"), None)
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-[ \t]*\n[ \t]*(?=[a-z])")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Normalise extracted text without changing what it says."""
    # NFC (not NFKC): NFKC would turn Korean compatibility jamo into conjoining ones that
    # fuse with their neighbours on screen; ligatures are the one compatibility form that hurts.
    text = unicodedata.normalize("NFC", text.translate(_LIGATURES).translate(_DROP))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_BREAK.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _passwords(password: str | None) -> list[str | bytes]:
    tries: list[str | bytes] = [""]
    if password:
        # pypdf prepares str passwords itself (SASLprep for AES-256, UTF-8 or Latin-1 below);
        # the raw UTF-8 bytes cover files whose creator skipped that step.
        tries += [password, unicodedata.normalize("NFC", password), password.encode("utf-8")]
    return tries


def describe(exc: BaseException) -> tuple[str, str]:
    """A short kind and a sentence a user can act on, for an exception raised while reading."""
    name = type(exc).__name__
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else name
    lowered = message.lower()
    if name == "FileNotDecryptedError":
        return "password_required", "password required: the file is encrypted"
    if name == "DependencyError" or "is required for" in lowered or "not available" in lowered:
        return "unsupported", f"uses a feature this installation cannot decode ({message})"
    if name == "LimitReachedError":
        return "resource_limit", f"exceeds a safety limit of the PDF reader ({message})"
    if name in ("PdfReadError", "PdfStreamError", "EmptyFileError", "ParseError"):
        return "corrupt", f"the file is damaged or not a valid PDF ({message})"
    if name == "RecursionError":
        return "corrupt", "the file's structure loops back on itself (damaged PDF)"
    if name == "MemoryError":
        return "resource_limit", "reading it needed more memory than allowed"
    return "corrupt", f"could not be read: {name}: {message}"


# pypdf's default of 100,000 elements per array rejects real SEC filings; the worker process
# that runs this code is already bounded in time and memory, which is the protection that counts.
_ARRAY_LIMIT = 20_000_000


def open_pdf(path: Path, password: str | None = None, *, name: str | None = None) -> PdfReader:
    """A decrypted ``PdfReader``; raises ``DocumentError`` with the reason when that is impossible."""
    from pypdf import PdfReader, get_configuration, overwrite_configuration

    if get_configuration().array_maximum_element_count < _ARRAY_LIMIT:
        overwrite_configuration(array_maximum_element_count=_ARRAY_LIMIT)
    name = name or path.name
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            for candidate in _passwords(password):
                if reader.decrypt(candidate):
                    break
            else:
                if password:
                    raise PasswordRequired(name, "wrong password: the password given does not open this file")
                raise PasswordRequired(name, "password required: the file is encrypted")
        n_pages = len(reader.pages)
    except DocumentError:
        raise
    except (Exception, RecursionError) as e:  # pypdf raises many types, some not its own
        kind, reason = describe(e)
        raise DocumentError(name, reason, kind=kind) from e
    if n_pages == 0:
        raise DocumentError(name, "the PDF has no pages", kind="no_text")
    return reader


class _PdfiumPage:
    def __init__(self, reader: PdfiumReader, index: int) -> None:
        self._reader, self._index = reader, index

    def extract_text(self, extraction_mode: str = "plain") -> str:
        if extraction_mode == "layout":
            # pdfium has no layout mode: a table page's rows come from pypdf's, the rest stays pdfium's.
            return self._reader.layout_text(self._index)
        page = self._reader.doc[self._index]
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
            page.close()


class PdfiumReader:
    """pypdfium2 behind the small part of pypdf's reader interface that ``iter_pages`` uses.

    Plain text comes from pdfium (10-20x faster); the few pages that hold tables are read again in
    pypdf's layout mode, from a pypdf reader opened on the first such page.
    """

    def __init__(self, doc, path: Path, password: str | None = None, *, name: str = "") -> None:
        self.doc = doc
        self._path, self._password, self._name = path, password, name or path.name
        self._pypdf: PdfReader | None = None
        self._pypdf_error: DocumentError | None = None
        self.pages = [_PdfiumPage(self, i) for i in range(len(doc))]

    @property
    def page_labels(self) -> list[str]:
        return [self.doc.get_page_label(i) or str(i + 1) for i in range(len(self.pages))]

    def layout_text(self, index: int) -> str:
        """pypdf's layout-mode text of one page (raises when pypdf cannot read the file)."""
        if self._pypdf is None:
            if self._pypdf_error is not None:
                raise self._pypdf_error
            try:
                self._pypdf = open_pdf(self._path, self._password, name=self._name)
            except DocumentError as e:
                self._pypdf_error = e
                raise
        return self._pypdf.pages[index].extract_text(extraction_mode="layout") or ""


def open_document(
    path: Path, password: str | None = None, *, name: str | None = None, engine: str = "pypdf"
) -> PdfReader | PdfiumReader:
    """A reader for ``iter_pages``: pdfium (fast) when asked and able, else pypdf.

    Encrypted files always go to pypdf: it prepares passwords (SASLprep, UTF-8) and tells a missing
    password from a wrong one. A file pdfium cannot open goes to pypdf too, which repairs more
    damage and words its errors better.
    """
    name = name or path.name
    if engine == "pdfium":
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(str(path))
            if len(doc) > 0:
                return PdfiumReader(doc, path, password, name=name)
        except pdfium.PdfiumError as e:
            log.debug("%s: pdfium could not open it (%s); trying pypdf", name, e)
    return open_pdf(path, password, name=name)


def page_labels(reader: PdfReader | PdfiumReader, n_pages: int) -> list[str]:
    try:
        labels = list(reader.page_labels)
    except (Exception, RecursionError):  # a broken label tree must not cost the document
        labels = []
    if len(labels) != n_pages:
        labels = [str(i + 1) for i in range(n_pages)]
    return labels


# Layout mode costs about as much as the plain pass again: a page whose plain text already took this
# long keeps it, so the second pass cannot push it past the stall limit (RAG_PAGE_TIMEOUT, 5 s).
_LAYOUT_MAX_PLAIN_S = 1.0


def _with_tables(page, plain: str, name: str, index: int, plain_s: float = 0.0) -> str:
    """The page's text with its tables row by row (pypdf's layout mode), when it holds tables."""
    if plain_s > _LAYOUT_MAX_PLAIN_S or not looks_tabular(plain):
        return plain
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except (Exception, RecursionError) as e:  # the plain text is already good: keep it
        log.debug("%s: page %d: layout extraction failed (%s); plain text kept", name, index + 1, e)
        return plain
    return table_text(layout, plain) or plain


def iter_pages(reader: PdfReader | PdfiumReader, name: str, *, max_pages: int | None = None) -> Iterator[Page]:
    """Each page's cleaned text with its quality; a page that fails to extract ends the file."""
    n_pages = len(reader.pages)
    if max_pages is not None and n_pages > max_pages:
        raise DocumentError(
            name, f"has {n_pages} pages, more than the limit of {max_pages} (RAG_MAX_PAGES)", kind="resource_limit"
        )
    labels = page_labels(reader, n_pages)
    for index in range(n_pages):
        try:
            page = reader.pages[index]
            started = time.perf_counter()
            raw = page.extract_text() or ""
            plain_s = time.perf_counter() - started
        except (Exception, RecursionError) as e:
            kind, reason = describe(e)
            raise DocumentError(name, f"page {index + 1}: {reason}", kind=kind) from e
        raw = _with_tables(page, raw, name, index, plain_s)
        text = clean_text(raw)
        if not text:
            yield Page(index=index, label=labels[index], text="", quality="empty")
            continue
        text, garbled = assess(text)
        yield Page(index=index, label=labels[index], text=text, quality="garbled" if garbled else "ok")


def ocr_page(page: Page, result: OcrResult) -> Page:
    """The page with OCR's text in place of its text layer, unless that would lose good text."""
    text = clean_text(result.text)
    if not text:
        if page.quality == "empty":
            return replace(page, ocr=True, ocr_confidence=result.confidence)
        return page  # OCR found nothing: whatever the layer holds is still more
    text, garbled = assess(text)
    if garbled and page.quality == "ok":
        return page  # re-OCR (RAG_OCR=force) made it worse
    return replace(page, text=text, quality="garbled" if garbled else "ok", ocr=True, ocr_confidence=result.confidence)


def with_ocr(
    pages: Iterator[Page],
    path: str | Path,
    name: str,
    config: OcrConfig,
    *,
    password: str | None = None,
    on_ocr: Callable[[int], None] | None = None,
    engine: Engine | None = None,
) -> Iterator[Page]:
    """Pages as ``iter_pages`` yields them, each OCR'd first when ``config.mode`` says it needs it.

    ``on_ocr(index)`` is called before a page's OCR starts (the worker's heartbeat). A page whose
    OCR fails keeps the text it had; without a working engine every page passes through unchanged.
    """
    document = None
    broken: OcrError | None = None
    try:
        for page in pages:
            if not needs_ocr(page.quality, config.mode) or broken is not None:
                yield page
                continue
            if engine is None:
                engine = detect_engine(config.langs, config.tesseract_cmd)
                if not engine.available:
                    log.info("%s: OCR unavailable: %s", name, engine.reason)
            if not engine.available:
                yield page
                continue
            if on_ocr is not None:
                on_ocr(page.index)
            try:
                if document is None:
                    document = open_for_render(str(path), password)
                image = render_page(document, page.index, config.dpi)
                result = ocr_image(image, engine, timeout_s=config.page_timeout_s)
            except OcrError as e:
                log.warning("%s: page %d: %s", name, page.index + 1, e)
                if document is None:
                    broken = e  # the file cannot be rendered: no page of it can be OCR'd
                yield page
                continue
            log.debug("%s: page %d OCR'd in %.1f s (%d words)", name, page.index + 1, result.seconds, result.words)
            yield ocr_page(page, result)
    finally:
        if document is not None:
            document.close()
