"""OCR of page images with Tesseract (through pytesseract), for pages without a usable text layer.

Runs inside the extraction worker process (see ``worker.py``): the imports of pytesseract, Pillow
and pypdfium2 happen inside the functions that need them, so importing this module stays cheap.
Everything here works page by page; which pages need OCR is decided by ``needs_ocr``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.settings import DEFAULT_OCR_LANGS as DEFAULT_LANGS
from rag.settings import OcrMode, split_langs

if TYPE_CHECKING:  # imported where used: this module must stay cheap to import
    import pypdfium2
    from PIL import Image

log = logging.getLogger(__name__)

#: A rendered page larger than this is scaled down (A3 at 300 dpi is 17.4 million pixels).
MAX_PIXELS = 25_000_000

#: What a user runs to get the engine, by platform (shown in ingest summaries and the README).
INSTALL_HINT = (
    "install Tesseract to read them: Debian/Ubuntu `sudo apt-get install tesseract-ocr tesseract-ocr-eng"
    " tesseract-ocr-kor`, macOS `brew install tesseract tesseract-lang`, Windows the UB Mannheim installer"
    " (add it to PATH or set RAG_TESSERACT_CMD); then `pip install pytesseract` and ingest the file again"
)


class OcrError(RagError):
    """Rendering or recognising one page failed; the page keeps the text it had."""


@dataclass(frozen=True)
class OcrConfig:
    """How the worker OCRs pages: passed with each task, so it must stay small and picklable."""

    mode: OcrMode = "auto"  # "auto": empty and garbled pages; "force": every page; "off": never
    langs: str = DEFAULT_LANGS
    dpi: int = 300
    page_timeout_s: float = 60.0
    tesseract_cmd: str = ""


@dataclass(frozen=True)
class Engine:
    """Whether OCR can run here, with which of the requested languages, and why not if it cannot."""

    available: bool
    langs: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    version: str = ""
    reason: str = ""
    cmd: str = "tesseract"

    @property
    def lang(self) -> str:
        """The languages as Tesseract's ``-l`` argument."""
        return "+".join(self.langs)


@dataclass(frozen=True)
class OcrResult:
    """Recognised text of one page, its mean word confidence (0-100; None without words), and the cost."""

    text: str
    confidence: float | None
    words: int
    seconds: float


def needs_ocr(quality: str, mode: str) -> bool:
    """Whether a page of this text quality is OCR'd in this mode."""
    if mode == "force":
        return True
    return mode == "auto" and quality in ("empty", "garbled")


def choose_langs(requested: Sequence[str], installed: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The requested languages that are installed (in the requested order), and those that are not."""
    have = set(installed)
    return tuple(x for x in requested if x in have), tuple(x for x in requested if x not in have)


def detect_engine(langs: str = DEFAULT_LANGS, tesseract_cmd: str = "") -> Engine:
    """Find Tesseract and its languages; never raises: an unusable engine comes back with the reason."""
    try:
        requested = split_langs(langs)
    except ValueError as e:
        return Engine(False, reason=f"RAG_OCR_LANGS is invalid ({e})")
    try:
        import pytesseract
    except ImportError:
        return Engine(False, reason="the pytesseract package is not installed")
    where = tesseract_cmd or "tesseract"
    pytesseract.pytesseract.tesseract_cmd = where  # a module global: set on every call, never left over
    try:
        version = str(pytesseract.get_tesseract_version())
        installed = pytesseract.get_languages(config="")
    except pytesseract.TesseractNotFoundError:
        return Engine(False, reason=f"the Tesseract program was not found ({where})")
    except (OSError, RuntimeError, SystemExit) as e:  # pytesseract exits on a version string it cannot parse
        return Engine(False, reason=f"the Tesseract program ({where}) does not work: {e}")
    use, missing = choose_langs(requested, installed)
    if not use:
        shown = ", ".join(x for x in installed if x != "osd") or "none"
        return Engine(
            False,
            missing=missing,
            version=version,
            reason=f"none of the OCR languages {'+'.join(requested)} is installed (installed: {shown})",
        )
    if missing:
        log.warning("OCR languages not installed, left out: %s", ", ".join(missing))
    return Engine(True, use, missing, version, cmd=where)


def missing_langs_hint(missing: Sequence[str]) -> str:
    """A sentence naming languages to install, with the Debian package names."""
    packages = " ".join(f"tesseract-ocr-{x.lower().replace('_', '-')}" for x in missing)
    return f"OCR languages not installed, left out: {', '.join(missing)} (Debian/Ubuntu: apt-get install {packages})"


def render_page(document: pypdfium2.PdfDocument, index: int, dpi: int, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """One page of a pypdfium2 document as a grayscale PIL image at ``dpi``, scaled down past ``max_pixels``."""
    import pypdfium2 as pdfium

    try:
        page = document[index]
        try:
            width, height = page.get_size()  # points, 72 per inch
            scale = dpi / 72
            pixels = width * scale * height * scale
            if pixels > max_pixels:
                scale *= (max_pixels / pixels) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                return bitmap.to_pil().copy()
            finally:
                bitmap.close()
        finally:
            page.close()
    except (pdfium.PdfiumError, ValueError, OSError) as e:
        raise OcrError(f"page {index + 1} could not be rendered: {e}") from e


def confidence_from_data(data: dict) -> tuple[float | None, int]:
    """Mean word confidence (0-100; None without words) and word count from Tesseract's TSV as a dict."""
    confidences: list[float] = []
    for i, word in enumerate(data.get("text", [])):
        try:
            conf = float(data["conf"][i])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if str(word).strip() and conf >= 0:
            confidences.append(conf)
    return (sum(confidences) / len(confidences) if confidences else None), len(confidences)


def ocr_image(image: Image.Image, engine: Engine, *, timeout_s: float = 60.0) -> OcrResult:
    """Recognise one page image; raises ``OcrError`` when Tesseract fails or runs past ``timeout_s``.

    One Tesseract run writes both the plain text (its own word spacing: the TSV splits Korean words
    into syllables) and the TSV that gives the word confidences.
    """
    from pytesseract import pytesseract as tess

    started = time.monotonic()
    extrema = image.getextrema()
    if extrema[0] == extrema[1]:  # a uniform image (blank page) has nothing to read
        return OcrResult("", None, 0, time.monotonic() - started)
    # pytesseract hands the image over as a PNG file without a resolution, so Tesseract estimates it from
    # the text. Measured on Korean pages, that reads better than being told the true dpi (0.90 against
    # 0.73 similarity on one page, equal on English), so no --dpi is passed.
    image.format = None
    tess.tesseract_cmd = engine.cmd
    try:
        with tess.save(image) as (base, input_file):
            tess.run_tesseract(
                input_file,
                base,
                "txt",
                engine.lang,
                config="-c tessedit_create_tsv=1",
                timeout=max(1, int(round(timeout_s))),
            )
            with open(f"{base}.txt", encoding="utf-8", errors="replace") as f:
                text = f.read()
            with open(f"{base}.tsv", encoding="utf-8", errors="replace") as f:
                data = tess.file_to_dict(f.read(), "\t", -1)
    except RuntimeError as e:  # pytesseract's timeout
        raise OcrError(f"OCR took over {timeout_s:g} s (RAG_OCR_PAGE_TIMEOUT)") from e
    except (tess.TesseractError, tess.TesseractNotFoundError, OSError, ValueError) as e:
        raise OcrError(f"Tesseract failed: {e}") from e
    confidence, words = confidence_from_data(data)
    return OcrResult(text, confidence, words, time.monotonic() - started)


def open_for_render(path: str, password: str | None = None) -> pypdfium2.PdfDocument:
    """A pypdfium2 document for rendering pages; raises ``OcrError`` when pdfium cannot open the file."""
    import pypdfium2 as pdfium

    tries: list[str | None] = [None]
    if password:
        tries.append(password)
    last: Exception | None = None
    for candidate in tries:
        try:
            return pdfium.PdfDocument(path, password=candidate)
        except pdfium.PdfiumError as e:
            last = e
    raise OcrError(f"the file could not be opened for OCR: {last}")
