"""Page previews: real PDFs rendered by PDFium in a bounded child process."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from rag.preview import PreviewError, page_scale, render_page_png
from tests.app_support import ATTENTION, ENCRYPTED
from tests.conftest import shared_path


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


def test_renders_a_page_within_the_size_bound() -> None:
    pdf = shared_path(*ATTENTION)
    png = render_page_png(pdf, 2, max_px=600)
    width, height = _size(png)
    assert max(width, height) == 600  # US letter portrait: the height is the bound
    assert width < height
    assert len(png) > 10_000  # a real page with text and a figure, not an empty bitmap


def test_pages_differ_and_bigger_bound_gives_bigger_image() -> None:
    pdf = shared_path(*ATTENTION)
    first, third = render_page_png(pdf, 0, max_px=300), render_page_png(pdf, 2, max_px=300)
    assert first != third
    assert max(_size(render_page_png(pdf, 0, max_px=900))) == 900


def test_encrypted_pdf_needs_its_password() -> None:
    pdf = shared_path(*ENCRYPTED)
    with pytest.raises(PreviewError) as info:
        render_page_png(pdf, 0)
    assert info.value.kind == "password_required"
    with pytest.raises(PreviewError) as wrong:
        render_page_png(pdf, 0, password="not-it")
    assert wrong.value.kind == "password_required"
    assert _size(render_page_png(pdf, 0, password="password", max_px=400))[1] == 400


def test_missing_page_file_and_garbage_are_errors(tmp_path: Path) -> None:
    pdf = shared_path(*ATTENTION)
    with pytest.raises(PreviewError) as no_page:
        render_page_png(pdf, 15)  # the paper has 15 pages: indices 0-14
    assert no_page.value.kind == "no_page" and "page 16" in str(no_page.value)
    with pytest.raises(PreviewError) as missing:
        render_page_png(tmp_path / "gone.pdf", 0)
    assert missing.value.kind == "missing"
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a PDF at all" * 100)
    with pytest.raises(PreviewError) as bad:
        render_page_png(garbage, 0)
    assert bad.value.kind == "unreadable"


def test_page_scale_bounds() -> None:
    assert page_scale(612, 792, 792) == pytest.approx(1.0)
    assert page_scale(612, 792, 1584) == pytest.approx(2.0)
    assert page_scale(100, 100, 10_000) == 3.0  # tiny pages are not blown up without limit
    assert page_scale(200_000, 100, 1000) == 0.05  # absurd page sizes cannot ask for huge bitmaps
