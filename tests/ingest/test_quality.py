import pytest

from rag.ingest.loader import iter_pages, open_pdf
from rag.ingest.quality import assess, document_garbled, measure
from tests.conftest import shared_path


@pytest.mark.parametrize(
    "name",
    [
        "font_cyrillic_broken_encoding_8p.pdf",
        "font_gbk_cmap_decoded_as_fake_hangul.pdf",
        "font_korean_type1_no_tounicode_dhucs.pdf",
        "font_shifted_glyphs_sbert_excerpt_2p.pdf",
    ],
)
def test_font_garbage_files_are_flagged(name):
    pdf = shared_path("pdfs", "adversarial", name)
    flags = [p.quality == "garbled" for p in iter_pages(open_pdf(pdf), name) if p.quality != "empty"]
    assert document_garbled(flags)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("korean", "kotex-utf_user_manual_67p.pdf"),
        ("korean", "pmhanguljamo_old_hangul_manual_22p.pdf"),
        ("general", "GeoTopo_german_lecture_notes_117p.pdf"),
        ("general", "rag_lewis2020_arxiv2005.11401.pdf"),
        ("financebench", "JOHNSON_JOHNSON_2022Q4_EARNINGS.pdf"),
    ],
)
def test_real_documents_are_not_flagged(folder, name):
    pdf = shared_path("pdfs", folder, name)
    pages = [p for p in iter_pages(open_pdf(pdf), name) if p.quality != "empty"]
    garbled = [p.index for p in pages if p.quality == "garbled"]
    assert not garbled, f"{name}: pages {garbled} wrongly flagged"


def test_glyph_names_are_stripped_from_a_page_that_also_has_real_text():
    korean = "현재 여는 괄호는 영문자 뒤에 직접 이어서 나오지 않는 한 새로운 줄을 시작할 수 있다. " * 3
    text = "/c27/caf/cf3 /c4b/c27/c73 /c57/c73/c2f/c83 /cb3/c0f /c33/c37/c27/c97. /c2f/ccb/cb4 " * 6 + korean
    cleaned, garbled = assess(text)
    assert not garbled
    assert "/c27" not in cleaned and "새로운 줄을 시작할" in cleaned


def test_shifted_letters_read_as_garbage_but_english_does_not():
    english = "The quick brown fox jumps over the lazy dog while the committee reviews its annual report. " * 4
    shifted = "".join(chr(ord(c) - 1) if c.isalpha() and c not in "aA" else c for c in english)
    assert not measure(english).garbled
    assert measure(shifted).garbled


def test_short_text_is_not_judged():
    assert not measure("Total 12").garbled
