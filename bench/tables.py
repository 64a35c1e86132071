"""Cost of table-aware extraction: CPU seconds per page with and without it, on the same pages in one run.

For each PDF, every page is read twice in this process: plain pypdf text (the baseline), and the
loader's table pass on top (layout mode where the plain text holds lines of figures, kept when it
is a table page). CPU time (``time.process_time``) is reported beside wall time, so a busy machine
changes the figures less. Also prints the share of pages that went through layout mode and the
share that kept its table text, and the loader with RAG_PDF_ENGINE=pdfium (pdfium's plain text, pypdf's
layout mode on the pages that hold figures), opening the file included.

    python bench/tables.py [PDF ...]      (default: three FinanceBench filings and two papers)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.ingest.layout import looks_tabular, table_text  # noqa: E402
from rag.ingest.loader import iter_pages, open_document  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
DEFAULT = [
    SHARED / "financebench" / "BOEING_2022_10K.pdf",
    SHARED / "financebench" / "JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf",
    SHARED / "financebench" / "ULTABEAUTY_2023Q4_EARNINGS.pdf",
    SHARED / "general" / "attention_vaswani2017_arxiv1706.03762.pdf",
    SHARED / "general" / "dpr_karpukhin2020_arxiv2004.04906.pdf",
]


def measure(path: Path) -> dict[str, float]:
    from pypdf import PdfReader

    pages = PdfReader(path).pages
    plain_cpu = table_cpu = plain_wall = table_wall = 0.0
    gated = kept = 0
    for page in pages:
        cpu, wall = time.process_time(), time.perf_counter()
        plain = page.extract_text() or ""
        plain_cpu += time.process_time() - cpu
        plain_wall += time.perf_counter() - wall
        cpu, wall = time.process_time(), time.perf_counter()
        if looks_tabular(plain):
            gated += 1
            if table_text(page.extract_text(extraction_mode="layout") or "", plain):
                kept += 1
        table_cpu += time.process_time() - cpu
        table_wall += time.perf_counter() - wall
    n = len(pages)
    cpu = time.process_time()
    for _ in iter_pages(open_document(path, engine="pdfium"), path.name):
        pass
    pdfium_cpu = time.process_time() - cpu
    return {
        "pdfium_cpu": pdfium_cpu / n,
        "pages": n,
        "plain_cpu": plain_cpu / n,
        "tables_cpu": (plain_cpu + table_cpu) / n,
        "plain_wall": plain_wall / n,
        "tables_wall": (plain_wall + table_wall) / n,
        "gated": gated / n,
        "kept": kept / n,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pdfs", nargs="*", type=Path)
    args = p.parse_args(argv)
    paths = args.pdfs or [d for d in DEFAULT if d.exists()]
    print(
        f"{'file':42} {'pages':>5} {'plain ms/p':>10} {'+tables ms/p':>12} {'ratio':>6} {'wall ratio':>10}"
        f" {'layout pass':>11} {'tables kept':>11} {'pdfium+tables ms/p':>18}"
    )
    totals = {"pages": 0, "plain_cpu": 0.0, "tables_cpu": 0.0, "pdfium_cpu": 0.0}
    for path in paths:
        r = measure(path)
        print(
            f"{path.name[:42]:42} {r['pages']:5d} {1000 * r['plain_cpu']:10.1f} {1000 * r['tables_cpu']:12.1f}"
            f" {r['tables_cpu'] / r['plain_cpu']:6.2f} {r['tables_wall'] / r['plain_wall']:10.2f}"
            f" {r['gated']:11.0%} {r['kept']:11.0%} {1000 * r['pdfium_cpu']:18.1f}"
        )
        totals["pages"] += r["pages"]
        totals["plain_cpu"] += r["plain_cpu"] * r["pages"]
        totals["tables_cpu"] += r["tables_cpu"] * r["pages"]
        totals["pdfium_cpu"] += r["pdfium_cpu"] * r["pages"]
    print(
        f"all {totals['pages']} pages: {1000 * totals['plain_cpu'] / totals['pages']:.1f} ms/page plain (baseline),"
        f" {1000 * totals['tables_cpu'] / totals['pages']:.1f} ms/page with tables"
        f" ({totals['tables_cpu'] / totals['plain_cpu']:.2f}x extraction CPU);"
        f" pdfium with tables {1000 * totals['pdfium_cpu'] / totals['pages']:.1f} ms/page"
        f" ({totals['pdfium_cpu'] / totals['plain_cpu']:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
