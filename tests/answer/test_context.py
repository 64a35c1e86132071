"""Page context (rag/answer/context.py): hand-made chunks for the merging and the budget, a real library."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.answer.context import merge, neighbour_ids, page_context, page_contexts, preference
from rag.answer.prompt import estimate_tokens, format_source
from rag.library import Library
from rag.models import Chunk, Hit
from rag.settings import Settings
from tests.pdfgen import text_pdf


def ch(position: int, text: str, page: int = 0, page_end: int | None = None, doc: str = "d") -> Chunk:
    end = page if page_end is None else page_end
    return Chunk(f"{doc}:{position}", doc, f"{doc}.pdf", position, page, end, str(page + 1), text, len(text.split()))


class Store:
    """Chunks by id, as the vector store returns them (unordered); records what was asked for."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = {c.chunk_id: c for c in chunks}
        self.asked: list[list[str]] = []

    def __call__(self, ids: Sequence[str]) -> list[Chunk]:
        self.asked.append(list(ids))
        return [self.chunks[i] for i in reversed(ids) if i in self.chunks]


def test_the_overlap_of_consecutive_chunks_is_written_once() -> None:
    a = ch(0, "The plan was adopted in 2019. Its reserve is reviewed each quarter.")
    b = ch(1, "Its reserve is reviewed each quarter. The effective tax rate was 21.6 percent.")
    merged = merge([a, b])
    assert merged == (
        "The plan was adopted in 2019. Its reserve is reviewed each quarter. The effective tax rate was 21.6 percent."
    )


def test_chunks_are_merged_in_reading_order() -> None:
    chunks = [ch(2, "Third part."), ch(0, "First part."), ch(1, "Second part.")]
    assert merge(chunks) == "First part.\nSecond part.\nThird part."


def test_a_word_that_merely_recurs_at_a_chunk_boundary_is_not_overlap() -> None:
    # The chunker carries whole sentences and lines; "Total" ending one chunk and opening the next is not one.
    assert merge([ch(0, "Net sales | 5 | 4\nTotal"), ch(1, "Total revenues | 9 | 8")]) == (
        "Net sales | 5 | 4\nTotal\nTotal revenues | 9 | 8"
    )
    # A repeated line is: written once.
    assert merge([ch(0, "Net sales | 5 | 4\nTotal | 9 | 8"), ch(1, "Total | 9 | 8\nCosts | 3 | 2")]) == (
        "Net sales | 5 | 4\nTotal | 9 | 8\nCosts | 3 | 2"
    )


def test_a_tables_repeated_title_and_column_lines_appear_once() -> None:
    head = ch(
        0, "CONSOLIDATED BALANCE SHEETS\nAt December 31, | 2019 | 2018\nCash | 5,794 | 4,225\nInventories | 32 | 43"
    )
    rows = ch(1, "CONSOLIDATED BALANCE SHEETS\nAt December 31, | 2019 | 2018\nProperty and equipment, net | 253 | 282")
    merged = merge([rows, head])
    assert merged.count("CONSOLIDATED BALANCE SHEETS") == 1
    assert merged.count("At December 31, | 2019 | 2018") == 1
    assert merged.splitlines() == [
        "CONSOLIDATED BALANCE SHEETS",
        "At December 31, | 2019 | 2018",
        "Cash | 5,794 | 4,225",
        "Inventories | 32 | 43",
        "Property and equipment, net | 253 | 282",
    ]


def test_a_chunk_left_out_between_two_is_marked() -> None:
    assert merge([ch(0, "Opening words."), ch(2, "Closing words.")]) == "Opening words.\n…\nClosing words."


def test_neighbours_are_read_three_either_side_in_one_fetch() -> None:
    hit = Hit(ch(5, "best"), 1.0)
    assert neighbour_ids(hit) == ["d:2", "d:3", "d:4", "d:6", "d:7", "d:8"]
    assert neighbour_ids(Hit(ch(1, "first"), 1.0)) == ["d:0", "d:2", "d:3", "d:4"]
    store = Store([ch(4, "before", page=3), ch(6, "after", page=3)])
    page_contexts([Hit(ch(5, "best", page=3), 1.0), Hit(ch(9, "x", page=7, doc="e"), 0.5)], store)
    assert len(store.asked) == 1 and len(store.asked[0]) == 12


def test_only_chunks_holding_the_hits_page_are_kept() -> None:
    store = Store(
        [
            ch(2, "Page one text.", page=1),
            ch(3, "Short page one tail and page two opening.", page=1, page_end=2),
            ch(5, "Page two, after the hit.", page=2),
            ch(6, "Page three text.", page=3),
        ]
    )
    [page] = page_contexts([Hit(ch(4, "The hit on page two.", page=2), 1.0)], store)
    assert [c.position for c in page.preferred] == [4, 5, 3]


def test_the_best_chunk_comes_first_then_the_nearest_following_before_preceding() -> None:
    best = ch(3, "best")
    order = preference(best, [ch(1, "a"), ch(2, "b"), ch(4, "c"), ch(5, "d"), ch(3, "best")])
    assert [c.position for c in order] == [3, 4, 2, 5, 1]


def _page(doc: str, page: int, words: int) -> list[Chunk]:
    """Three consecutive chunks of one page, each ``words`` words long and holding its own figure."""
    return [
        ch(p, f"{doc} page {page} part {p}: " + "word " * words + f"figure {p}{p}{p}.", page, doc=doc) for p in range(3)
    ]


def _cost(hit: Hit, number: int = 1) -> int:
    return estimate_tokens(format_source(number, hit)) + 1


def test_the_budget_drops_the_lowest_ranked_pages_rather_than_cutting_each() -> None:
    pages = [_page(doc, 0, 40) for doc in ("a", "b", "c")]
    store = Store([c for chunks in pages for c in chunks])
    hits = [Hit(chunks[1], 1.0 - n / 10) for n, chunks in enumerate(pages)]
    whole = page_context(hits, store, 10_000)
    assert len(whole) == 3 and all(all(f"figure {p}{p}{p}" in s.chunk.text for p in range(3)) for s in whole)
    # Room for two whole pages: the third goes; the first two stay whole, not three pieces.
    budget = _cost(whole[0], 1) + _cost(whole[1], 2)
    got = page_context(hits, store, budget, page_tokens=budget)
    assert [s.chunk.doc_id for s in got] == ["a", "b"]
    assert [s.chunk.text for s in got] == [s.chunk.text for s in whole[:2]]
    assert sum(_cost(s, n) for n, s in enumerate(got, start=1)) <= budget


def test_each_page_gets_its_share_then_what_is_left_goes_to_the_best() -> None:
    pages = [_page(doc, 0, 40) for doc in ("a", "b")]
    store = Store([c for chunks in pages for c in chunks])
    hits = [Hit(chunks[0], 1.0 - n / 10) for n, chunks in enumerate(pages)]
    alone = [_cost(h, n) for n, h in enumerate(hits, start=1)]
    # A share of one chunk each: both pages get in with their best chunk, then the rest goes to page "a".
    budget = sum(alone) + alone[0] + 10
    got = page_context(hits, store, budget, page_tokens=alone[0] + 5)
    assert [s.chunk.doc_id for s in got] == ["a", "b"]
    assert "figure 111" in got[0].chunk.text and "figure 222" not in got[0].chunk.text
    assert got[1].chunk.text == hits[1].chunk.text


def test_the_best_page_is_kept_whole_chunk_even_over_the_budget() -> None:
    [chunks] = [_page("a", 0, 200)]
    got = page_context([Hit(chunks[1], 1.0), Hit(ch(0, "other", doc="b"), 0.5)], Store(chunks), 10)
    assert [s.chunk.text for s in got] == [chunks[1].text]


def test_a_source_keeps_the_hits_id_and_scores_and_spans_the_pages_it_holds() -> None:
    hit = Hit(ch(4, "Page two, the hit.", page=2), 0.03, dense_score=0.61, dense_rank=2, lexical_score=7.5)
    store = Store([ch(3, "Page one tail and page two opening.", page=1, page_end=2), ch(5, "Page two end.", page=2)])
    [source] = page_context([hit], store, 1000)
    assert source.chunk.chunk_id == "d:4" and source.chunk.position == 4
    assert (source.score, source.dense_score, source.dense_rank, source.lexical_score) == (0.03, 0.61, 2, 7.5)
    assert (source.chunk.page, source.chunk.page_end, source.chunk.page_label) == (1, 2, "2")
    assert source.chunk.text == "Page one tail and page two opening.\nPage two, the hit.\nPage two end."


def test_no_hits_no_fetch() -> None:
    store = Store([])
    assert page_context([], store, 1000) == [] and store.asked == []


LINES = [
    "Printer division annual report",
    "The X200 warranty reserve covers repairs of X200 printers returned under warranty by customers.",
    "The X200 warranty reserve is estimated from past claims of X200 printers and reviewed every quarter.",
    "Changes in it are charged to cost of sales in the quarter they arise, as the table below shows.",
    "At the end of the year the balance stood at 4,812 thousand dollars, up from 3,977 thousand a year earlier.",
    "Claims paid during the year came to 1,204 thousand dollars.",
]


def small_chunk_library(settings: Settings, embedder, tmp_path: Path, **changes: object) -> Library:
    """A library whose chunks are short enough that one page of ``LINES`` makes three, with it ingested."""
    lib = Library(settings.with_(chunk_tokens=48, chunk_overlap=12, **changes), embedder=embedder)
    pdf = tmp_path / "annual.pdf"
    pdf.write_bytes(text_pdf(LINES))
    [result] = lib.ingest([pdf], "docs")
    assert result.status == "ingested" and result.chunks == 3
    return lib


def test_the_library_reads_the_hits_page_from_the_store(settings, embedder, tmp_path) -> None:
    lib = small_chunk_library(settings, embedder, tmp_path)
    try:
        [hit] = lib.search("How large is the X200 warranty reserve?", "docs", 3)
        assert "4,812" not in hit.chunk.text  # the best chunk names the reserve; the figure is further down
        [source] = lib.page_context("docs", [hit])
        assert "4,812 thousand dollars" in source.chunk.text
        assert source.chunk.text.startswith(hit.chunk.text) and source.chunk.chunk_id == hit.chunk.chunk_id
        assert lib.page_context("docs", [hit], budget=0) == [hit]  # no room: the best chunk alone
        expand = lib.expander("docs")
        assert expand is not None and expand([hit]) == [source]
    finally:
        lib.close()


def test_rag_context_tokens_sets_the_budget_and_zero_turns_it_off(settings, monkeypatch) -> None:
    assert settings.answer.context_tokens == 1400
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "900")
    assert Settings.from_env().answer.context_tokens == 900
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "0")
    lib = Library(Settings.from_env())
    try:
        assert lib.expander("docs") is None
    finally:
        lib.close()
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "-1")
    with pytest.raises(Exception, match="RAG_CONTEXT_TOKENS must be at least 0"):
        Settings.from_env()


def test_a_page_grows_only_next_to_what_it_holds() -> None:
    best = ch(5, "The hit. " + "word " * 20)
    store = Store(
        [ch(6, "Long following chunk. " + "word " * 400), ch(4, "Short preceding chunk."), ch(7, "Short far one.")]
    )
    [source] = page_context([Hit(best, 1.0)], store, 200, page_tokens=200)
    # The following chunk does not fit; the one after it would leave a gap: only the preceding one is added.
    assert source.chunk.text == "Short preceding chunk.\n" + best.text.strip()
