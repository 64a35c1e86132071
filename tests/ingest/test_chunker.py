import pytest

from rag.ingest.chunker import Chunker, chunk_pages
from rag.ingest.loader import iter_pages, open_pdf
from rag.models import Page
from tests.conftest import shared_path


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("financebench", "JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf"),
        ("korean", "oblivoir_simple_guide_30p.pdf"),
        ("general", "rag_survey_gao2023_arxiv2312.10997.pdf"),
    ],
)
def test_no_chunk_exceeds_the_model_window_and_pages_are_tracked(embedder, folder, name):
    pdf = shared_path("pdfs", folder, name)
    pages = list(iter_pages(open_pdf(pdf), name))
    chunks = chunk_pages(pages, embedder, "doc", name, max_tokens=250, overlap=32)
    assert chunks
    exact = embedder.count_tokens([c.text for c in chunks])
    assert max(exact) <= embedder.max_tokens
    assert [c.n_tokens for c in chunks] == exact
    by_index = {p.index: " ".join(p.text.split()) for p in pages}
    for chunk in chunks:
        assert chunk.page <= chunk.page_end
        if chunk.page == chunk.page_end:
            # Every line of a one-page chunk comes from the page it claims (a chunk that continues a
            # table repeats its title and column headers from higher up the page).
            for line in chunk.text.splitlines():
                assert " ".join(line.split()) in by_index[chunk.page]
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_sentences_are_not_cut_and_overlap_is_carried(embedder):
    sentences = [f"Sentence number {i} talks about topic {i} in some detail for the reader." for i in range(60)]
    page = Page(0, "1", " ".join(sentences))
    chunks = chunk_pages([page], embedder, "d", "f.pdf", max_tokens=64, overlap=20)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith("reader.")
    # The last sentence of one chunk opens the next one.
    for a, b in zip(chunks, chunks[1:]):
        assert a.text.split(". ")[-1].rstrip(".") in b.text


def _short_sentences_then_a_long_one(n_words: int) -> tuple[str, str]:
    short = " ".join(f"Short sentence number {i} is here." for i in range(12))  # 7 tokens each
    long = "This long sentence " + " ".join(f"word{i}" for i in range(n_words)) + " ends here."
    tail = " ".join(f"Tail sentence {i} follows after." for i in range(12))
    return f"{short} {long} {tail}", long


def test_overlap_before_a_long_sentence_makes_no_chunks_of_repeats(embedder):
    # The carried overlap (4 short sentences) plus the first piece of a sentence longer than the
    # limit is over the limit; it used to be halved into chunks holding only the repeated sentences.
    text, long = _short_sentences_then_a_long_one(120)
    assert embedder.count_tokens([long])[0] > 200
    chunks = chunk_pages([Page(0, "1", text)], embedder, "d", "f.pdf", max_tokens=200, overlap=32)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 200
    for i, chunk in enumerate(chunks[1:], 1):
        assert chunk.text not in chunks[i - 1].text, f"chunk {i} only repeats chunk {i - 1}: {chunk.text!r}"
        assert not any(chunk.text in earlier.text for earlier in chunks[:i])
    words = {w for c in chunks for w in c.text.split()}
    assert set(long.split()) <= words
    assert "Short sentence number 0 is here." in chunks[0].text and chunks[-1].text.endswith("11 follows after.")


def test_overlap_is_trimmed_to_fit_before_a_large_sentence(embedder):
    # 28 tokens of overlap do not fit before the 180-token sentence, 14 do: the sentences nearest it stay.
    text, long = _short_sentences_then_a_long_one(80)
    assert embedder.count_tokens([long]) == [180]
    chunks = chunk_pages([Page(0, "1", text)], embedder, "d", "f.pdf", max_tokens=200, overlap=32)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 200
    [with_long] = [c for c in chunks if long in c.text]
    assert with_long.text.startswith("Short sentence number 10 is here. Short sentence number 11 is here. This long")
    assert with_long.position == 1 and with_long.page == with_long.page_end == 0


def test_korean_sentences_split_at_sentence_ends(embedder):
    text = "고용노동부는 청년 일자리 창출을 지원합니다. 예산은 6,576억 원입니다. " * 30
    chunks = chunk_pages([Page(0, "1", text)], embedder, "d", "ko.pdf", max_tokens=80, overlap=0)
    assert len(chunks) > 3
    assert all(c.text.endswith(".") for c in chunks)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 80


def test_text_without_boundaries_is_cut_at_token_boundaries(embedder):
    blob = "x" * 5000 + " " + "가" * 3000
    chunks = chunk_pages([Page(0, "1", blob)], embedder, "d", "f.pdf", max_tokens=100, overlap=10)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 100
    assert sum(c.text.count("x") for c in chunks) >= 5000


def test_chunks_stop_at_page_ends_but_a_short_page_joins_the_next(embedder):
    long_page = Page(0, "i", "The first page explains the method in detail. " * 20)
    short_page = Page(1, "ii", "Short note.")
    next_page = Page(2, "iii", "The third page reports the results. " * 10)
    chunker = Chunker(embedder, "d", "f.pdf", max_tokens=200, overlap=16)
    chunks = chunker.add_page(long_page)
    assert chunks and all(c.page == c.page_end == 0 for c in chunks)
    assert chunker.add_page(short_page) == []  # too short to stand alone: waits for the next page
    chunks = chunker.add_page(next_page) + chunker.finish()
    assert chunks[0].page == 1 and chunks[0].page_end == 2 and chunks[0].page_label == "ii"
    assert chunks[0].text.startswith("Short note.")


def test_empty_pages_make_no_chunks(embedder):
    assert chunk_pages([Page(0, "1", "", "empty"), Page(1, "2", "  ")], embedder, "d", "f.pdf") == []


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("BOEING_2022_10K.pdf", "BOEING 2022 10 K"),
        ("2023 Q1 AAPL.pdf", "2023 Q 1 AAPL"),
        ("JOHNSON_JOHNSON_2022Q4_EARNINGS.pdf", "JOHNSON JOHNSON 2022 Q 4 EARNINGS"),
        ("고용노동부_청년일자리창출지원.pdf", "고용노동부 청년일자리창출지원"),
        ("myAnnualReport-final.PDF", "my Annual Report final"),
    ],
)
def test_document_titles_come_from_file_names(name, title):
    from rag.ingest.chunker import document_title

    assert document_title(name) == title


def test_indexed_text_puts_the_title_above_the_chunk(embedder):
    from rag.ingest.chunker import indexed_text

    [chunk] = chunk_pages([Page(0, "1", "Total revenues were $66.6 billion.")], embedder, "d", "BOEING_2022_10K.pdf")
    assert indexed_text(chunk) == "BOEING 2022 10 K\nTotal revenues were $66.6 billion."
    assert indexed_text(chunk, title=False) == chunk.text


def test_room_for_the_title_is_kept_in_the_model_window(embedder):
    from rag.ingest.chunker import indexed_text

    name = "JOHNSON_JOHNSON_2023_8K_dated-2023-08-30.pdf"
    pages = list(iter_pages(open_pdf(shared_path("pdfs", "financebench", name)), name))
    chunks = chunk_pages(pages, embedder, "d", name, max_tokens=512, overlap=32)  # more than the window
    indexed = embedder.count_tokens([indexed_text(c) for c in chunks])
    assert max(indexed) <= embedder.max_tokens
    assert max(indexed) > embedder.max_tokens - 20  # the chunks still fill the window


def test_a_chunk_that_continues_a_table_repeats_its_title_and_column_titles(embedder):
    rows = "\n".join(f"Line item number {i} of the statement | {1000 + i:,} | {2000 + i:,}" for i in range(40))
    text = "ACME CORP\nCONSOLIDATED STATEMENTS OF INCOME\nYears ended December 31, | 2022 | 2021\n" + rows
    chunks = chunk_pages([Page(0, "1", text)], embedder, "d", "f.pdf", max_tokens=120, overlap=20)
    assert len(chunks) >= 3
    for chunk in chunks[1:]:
        lines = chunk.text.splitlines()
        assert lines[:3] == ["ACME CORP", "CONSOLIDATED STATEMENTS OF INCOME", "Years ended December 31, | 2022 | 2021"]
        assert all(line.startswith("Line item") for line in lines[3:])
    # Every row is in some chunk, and none is dropped for the repeated lines.
    joined = "\n".join(c.text for c in chunks)
    assert all(f"Line item number {i} of" in joined for i in range(40))
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 120


def test_prose_chunks_repeat_nothing(embedder):
    sentences = " ".join(f"Sentence number {i} talks about topic {i} in some detail." for i in range(40))
    chunks = chunk_pages([Page(0, "1", "A TITLE\n" + sentences)], embedder, "d", "f.pdf", max_tokens=64, overlap=16)
    assert all(not c.text.startswith("A TITLE") for c in chunks[1:])
