"""What OCR costs per page, against reading the same pages' text layer, through the real extraction workers.

Scans are made here the way an office scanner makes them: each page of a real PDF rendered to a
200 dpi grayscale image and wrapped as an image-only PDF. The same pages are then extracted twice
through ``ExtractionPool`` with the app's OCR settings: from the original (text layer, no OCR: the
baseline) and from the scan (every page OCR'd). Per page: seconds (one worker, so the time between
pages is the page's cost), character similarity of the OCR'd text to the text layer, Tesseract's mean
word confidence; per run: pages/s with the default two workers and the workers' peak RSS.

    python bench/ocr.py                      # pages 3-8 of an English paper and of a Korean manual
    python bench/ocr.py --pages 10 --dpi 200
"""

from __future__ import annotations

import argparse
import difflib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.ingest.ocr import detect_engine  # noqa: E402
from rag.ingest.worker import ExtractionPool  # noqa: E402
from rag.models import Page  # noqa: E402
from rag.settings import Settings  # noqa: E402

SHARED = Path(os.environ.get("RAG_SHARED_DATA", ROOT.parent / "shared" / "data")) / "pdfs"
SETS = {
    "english paper": SHARED / "general" / "attention_vaswani2017_arxiv1706.03762.pdf",
    "korean manual": SHARED / "korean" / "oblivoir_simple_guide_30p.pdf",
}
ADVERSARIAL = [
    SHARED / "adversarial" / "scan_ccitt_fax_image_only.pdf",
    SHARED / "adversarial" / "scan_image_only_russian_form_2p.pdf",
]


def scan(src: Path, pages: range, dest: Path, dpi: int = 200) -> Path:
    """An image-only PDF of these pages of ``src`` (no text layer at all)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(src))
    images = []
    try:
        for i in pages:
            page = doc[i]
            images.append(page.render(scale=dpi / 72, grayscale=True).to_pil())
            page.close()
    finally:
        doc.close()
    images[0].save(dest, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return dest


def trim(src: Path, pages: range, dest: Path) -> Path:
    """These pages of ``src`` with their text layer."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    reader = PdfReader(src)
    for i in pages:
        writer.add_page(reader.pages[i])
    with open(dest, "wb") as f:
        writer.write(f)
    return dest


class WorkerRss:
    """Peak RSS of the pool's worker processes, sampled (they are spawned, so getrusage cannot tell)."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s, self.peak_mb = every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):  # tesseract runs as a child of a worker
                try:
                    self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    pass  # it ended between listing and reading
            self._stop.wait(self.every_s)

    def __enter__(self) -> WorkerRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def extract(settings: Settings, paths: list[Path]) -> tuple[list[list[Page]], list[list[float]], float, float]:
    """Pages of each file, seconds between its consecutive pages, total wall seconds, peak worker RSS."""
    out: list[list[Page]] = []
    gaps: list[list[float]] = []
    with WorkerRss() as rss, ExtractionPool.from_settings(settings) as pool:
        started = time.monotonic()
        jobs = [pool.submit(p) for p in paths]
        for job in jobs:
            pages: list[Page] = []
            gaps.append([])
            last = None
            for event in job.events():
                now = time.monotonic()
                if isinstance(event, Page):
                    if last is not None:  # the first page's gap holds the worker's start-up
                        gaps[-1].append(now - last)
                    pages.append(event)
                    last = now
            out.append(pages)
        wall = time.monotonic() - started
    return out, gaps, wall, rss.peak_mb


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, " ".join(a.split()), " ".join(b.split()), autojunk=False).ratio()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6, help="pages of each source (default 6)")
    parser.add_argument(
        "--first", type=int, default=2, help="first page index (default 2: past the title and contents pages)"
    )
    parser.add_argument("--dpi", type=int, default=None, help="OCR render dpi (default: the RAG_OCR_DPI setting)")
    args = parser.parse_args()

    base = Settings.from_env().with_(ocr="auto")
    if args.dpi:
        base = base.with_(ocr_dpi=args.dpi)
    engine = detect_engine(base.ingest.ocr_langs, base.ingest.tesseract_cmd)
    if not engine.available:
        raise SystemExit(f"OCR engine not available: {engine.reason}")
    print(
        f"Tesseract {engine.version}, languages {engine.lang}, render {base.ingest.ocr_dpi} dpi, scans made at 200 dpi"
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pages = range(args.first, args.first + args.pages)
        originals = [trim(src, pages, folder / f"text_{i}.pdf") for i, src in enumerate(SETS.values())]
        scans = [scan(src, pages, folder / f"scan_{i}.pdf") for i, src in enumerate(SETS.values())]

        one = base.with_(workers=1)
        text_pages, text_gaps, text_wall, text_rss = extract(one.with_(ocr="off"), originals)
        ocr_pages, ocr_gaps, ocr_wall, ocr_rss = extract(one, scans)
        _, _, two_wall, two_rss = extract(base.with_(workers=2), scans)
        adv_pages, adv_gaps, adv_wall, _ = extract(one, [p for p in ADVERSARIAL if p.exists()])

    print(
        f"{'set':<15} {'pages':>5} {'OCR s/page p50':>14} {'max':>5} {'text s/page':>11} {'similarity':>10}"
        f" {'min':>5} {'confidence':>10}"
    )
    for i, name in enumerate(SETS):
        texts, ocrs = text_pages[i], ocr_pages[i]
        if not all(o.ocr for o in ocrs):
            raise SystemExit(f"{name}: a scanned page was not OCR'd")
        sims = [similarity(t.text, o.text) for t, o in zip(texts, ocrs, strict=True) if t.text.strip()]
        confs = [o.ocr_confidence for o in ocrs if o.ocr_confidence is not None]
        print(
            f"{name:<15} {len(ocrs):>5} {statistics.median(ocr_gaps[i]):>14.2f} {max(ocr_gaps[i]):>5.1f}"
            f" {statistics.median(text_gaps[i]):>11.3f} {statistics.mean(sims):>10.3f} {min(sims):>5.3f}"
            f" {statistics.mean(confs):>10.1f}"
        )
    n_text = sum(len(p) for p in text_pages)
    n_ocr = sum(len(p) for p in ocr_pages)
    print()
    print(
        f"{'run (same pages)':<34} {'pages':>5} {'wall s':>7} {'s/page p50':>10} {'p95':>6} {'pages/s':>8}"
        f" {'worker RSS MB':>13}"
    )
    rows = [
        ("text layer, 1 worker (baseline)", n_text, text_wall, text_gaps, text_rss),
        ("scan + OCR, 1 worker", n_ocr, ocr_wall, ocr_gaps, ocr_rss),
        ("scan + OCR, 2 workers", n_ocr, two_wall, [], two_rss),
        ("adversarial scans, 1 worker", sum(len(p) for p in adv_pages), adv_wall, adv_gaps, 0.0),
    ]
    for label, n, wall, per_file, rss in rows:
        gaps = [g for file_gaps in per_file for g in file_gaps]
        p50 = f"{statistics.median(gaps):.2f}" if gaps else "-"
        p95 = f"{sorted(gaps)[int(0.95 * (len(gaps) - 1))]:.2f}" if gaps else "-"
        shown_rss = f"{rss:.0f}" if rss else "-"
        print(f"{label:<34} {n:>5} {wall:>7.1f} {p50:>10} {p95:>6} {n / wall:>8.2f} {shown_rss:>13}")
    per_page_ocr = statistics.median([g for f in ocr_gaps for g in f])
    per_page_text = statistics.median([g for f in text_gaps for g in f])
    print(
        f"\nOCR costs {per_page_ocr:.2f} s a page against {per_page_text:.3f} s for the text layer"
        f" ({per_page_ocr / per_page_text:.0f}x); two workers read {n_ocr / two_wall:.2f} scanned pages/s"
    )
    for path, pages in zip([p for p in ADVERSARIAL if p.exists()], adv_pages, strict=True):
        words = sum(len(p.text.split()) for p in pages)
        confs = ", ".join(f"{p.ocr_confidence:.0f}" for p in pages if p.ocr_confidence is not None) or "-"
        print(f"{path.name}: {len(pages)} page(s), {words} words read, confidence {confs}")


if __name__ == "__main__":
    main()
