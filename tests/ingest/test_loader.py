import json
import re

import pytest

from rag.errors import DocumentError, PasswordRequired
from rag.ingest.loader import clean_text, iter_pages, open_pdf
from tests.conftest import SHARED, shared_path


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def test_clean_text_joins_hyphenated_line_breaks_and_expands_ligatures():
    raw = "The ef\ufb01cient algo-\nrithm   runs\r\nfast.\x00\n\n\n\nNext"
    assert clean_text(raw) == "The efficient algorithm runs\nfast.\n\nNext"


def test_clean_text_keeps_old_hangul_jamo():
    text = "ᄒᆞᆫᄉᆡᆼ 緣연分분이며 하ᄂᆞᆯ"
    assert "ᄒᆞᆫ" in clean_text(text)


def test_financebench_evidence_is_on_the_page_index_we_report():
    """FinanceBench evidence pages are pypdf page indices: the text we attach to page i is page i."""
    qa = shared_path("qa", "financebench_dev.jsonl")
    rows = [json.loads(line) for line in qa.read_text().splitlines() if line.strip()]
    checked = 0
    for row in rows:
        for ev in row.get("evidence", []):
            index = ev["page_index0"]
            reader = open_pdf(SHARED / row["pdf_path"])
            labels = list(range(max(0, index - 2), min(len(reader.pages), index + 3)))
            pages = {i: p.text for i, p in zip(labels, _pages_at(reader, labels))}
            gold = _words(ev["evidence_text"])
            overlap = {i: len(gold & _words(t)) / len(gold) for i, t in pages.items()}
            # Some gold texts lost their spaces; the right page still wins by far.
            assert overlap[index] > 0.5, f"{row['pdf_path']} page {index}: {overlap[index]:.0%} of evidence words"
            assert overlap[index] == max(overlap.values()), (
                f"{row['pdf_path']}: a neighbour of page {index} fits better"
            )
            checked += 1
    assert checked >= 25


def _pages_at(reader, indices):
    """Our pages at these indices, through the same iterator ingestion uses."""
    wanted = set(indices)
    return [p for p in iter_pages(_Subset(reader, wanted), "x") if p.index in wanted]


class _Subset:
    """A reader whose pages outside ``wanted`` read as empty, so the test stays fast on 400-page filings."""

    def __init__(self, reader, wanted):
        self._reader, self._wanted = reader, wanted
        self.page_labels = reader.page_labels
        self.pages = [_Page(reader, i, i in wanted) for i in range(len(reader.pages))]


class _Page:
    def __init__(self, reader, index, real):
        self._reader, self._index, self._real = reader, index, real

    def extract_text(self):
        return self._reader.pages[self._index].extract_text() if self._real else ""


def test_page_labels_and_indices_are_consecutive():
    pdf = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    pages = list(iter_pages(open_pdf(pdf), pdf.name))
    assert [p.index for p in pages] == list(range(15))
    assert pages[0].label == "1" and pages[-1].label == "15"
    assert "Attention Is All You Need" in pages[0].text


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("enc_aes256_crazyones_pw-password.pdf", "password"),
        ("enc_aes256_r6_user-foo_owner-bar.pdf", "foo"),
        ("enc_rc4_40bit_r2_user-asdfzxcv.pdf", "asdfzxcv"),
        ("enc_r6_saslprep_password.pdf", "S\u00aaSL\u00adprep"),
        ("enc_utf8_password_aeoeaa.pdf", "æøå"),
    ],
)
def test_encrypted_files_need_their_password_and_open_with_it(name, password):
    pdf = shared_path("pdfs", "adversarial", name)
    with pytest.raises(PasswordRequired, match="password required"):
        open_pdf(pdf)
    with pytest.raises(PasswordRequired, match="wrong password"):
        open_pdf(pdf, "not-the-password")
    reader = open_pdf(pdf, password)
    assert len(reader.pages) >= 1


def test_owner_only_encryption_opens_with_the_empty_password():
    pdf = shared_path("pdfs", "adversarial", "enc_rc4_r4_owner-only_opens-with-empty-password.pdf")
    pages = list(iter_pages(open_pdf(pdf), pdf.name))
    assert len(pages) == 1 and pages[0].quality == "ok" and pages[0].text


def test_damaged_file_error_names_the_file_and_reason(tmp_path):
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"this is not a PDF at all")
    with pytest.raises(DocumentError) as info:
        open_pdf(bad)
    assert info.value.file_name == "notes.pdf"
    assert info.value.kind == "corrupt"
    assert "not a valid PDF" in str(info.value)


def test_sec_filing_with_huge_arrays_opens():
    """pypdf's default array limit rejects these real 10-Qs; ours must not."""
    pdf = shared_path("pdfs", "docugami-sec10q", "2023 Q1 MSFT.pdf")
    reader = open_pdf(pdf)
    first = next(iter_pages(reader, pdf.name))
    assert len(reader.pages) > 50 and "Microsoft" in first.text.title()


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("financebench", "ULTABEAUTY_2023Q4_EARNINGS.pdf"),
        ("korean", "cjk-ko_manual_6p.pdf"),
        ("general", "realm_guu2020_arxiv2002.08909.pdf"),
    ],
)
def test_pdfium_engine_reads_the_same_pages_as_pypdf(folder, name):
    from collections import Counter

    from rag.ingest.loader import PdfiumReader, open_document

    pdf = shared_path("pdfs", folder, name)
    fast = open_document(pdf, engine="pdfium")
    assert isinstance(fast, PdfiumReader)
    a = list(iter_pages(fast, name))
    b = list(iter_pages(open_pdf(pdf), name))
    assert [p.index for p in a] == [p.index for p in b]
    for x, y in zip(a, b):
        # Same words on the same page; table cells may come in another reading order.
        wx, wy = Counter(re.findall(r"\w+", x.text)), Counter(re.findall(r"\w+", y.text))
        agreement = sum((wx & wy).values()) / max(1, sum((wx | wy).values()))
        assert agreement > 0.8 or not y.text, f"{name} page {x.index}: words agree only {agreement:.0%}"


def test_pdfium_engine_writes_table_pages_row_by_row_as_pypdf_does():
    from rag.ingest.loader import PdfiumReader, open_document

    name = "ULTABEAUTY_2023Q4_EARNINGS.pdf"
    pdf = shared_path("pdfs", "financebench", name)
    fast = open_document(pdf, engine="pdfium")
    assert isinstance(fast, PdfiumReader)
    a, b = list(iter_pages(fast, name)), list(iter_pages(open_pdf(pdf), name))
    rows = {p.index: [line for line in p.text.splitlines() if " | " in line] for p in a}
    # The statements (pages 6-9) and the highlights table (page 3) come through pypdf's layout mode.
    assert {i for i, r in rows.items() if r} == {2, 5, 6, 7, 8}
    for x, y in zip(a, b):
        assert rows[x.index] == [line for line in y.text.splitlines() if " | " in line]
    assert any(line.startswith("Net sales | ") for line in rows[5])


def test_pdfium_engine_leaves_encrypted_files_to_pypdf():
    from rag.ingest.loader import PdfiumReader, open_document

    pdf = shared_path("pdfs", "adversarial", "enc_r6_saslprep_password.pdf")
    with pytest.raises(PasswordRequired):
        open_document(pdf, engine="pdfium")
    reader = open_document(pdf, "S\u00aaSL\u00adprep", engine="pdfium")
    assert not isinstance(reader, PdfiumReader) and len(reader.pages) == 1
