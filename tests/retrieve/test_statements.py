"""Financial statement pages: what a question asks for, which pages are statements, and where they are placed."""

import pytest

from rag.library import Library
from rag.models import Chunk, Hit
from rag.retrieve.statements import (
    BALANCE,
    CASH_FLOW,
    INCOME,
    asked_statements,
    statement_kind,
    statement_pages,
    with_statement_pages,
)
from tests.conftest import shared_path

ULTA = ("pdfs", "financebench", "ULTABEAUTY_2023Q4_EARNINGS.pdf")
ROWS = "\n".join(f"Line item {i} $ {1000 + i:,} {900 + i:,}" for i in range(25))  # 75 figures


def chunk(doc: str, page: int, position: int = 0, text: str = "text", page_end: int | None = None) -> Chunk:
    return Chunk(
        f"{doc}:{position}",
        doc,
        f"{doc}.pdf",
        position,
        page,
        page if page_end is None else page_end,
        str(page + 1),
        text,
        3,
    )


def hit(doc: str, page: int, score: float, page_end: int | None = None) -> Hit:
    return Hit(chunk(doc, page, page * 10, page_end=page_end), score)


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("What is the FY2019 capex as a % of revenue for Activision Blizzard?", (CASH_FLOW, INCOME)),
        ("What is the FY2018 fixed asset turnover ratio? FY2018 revenue / average PP&E", (BALANCE, INCOME)),
        ("Roughly how many times has JnJ sold its inventory? Calculate inventory turnover", (BALANCE, INCOME)),
        ("Is CVS Health a capital-intensive business based on FY2022 data?", (BALANCE, CASH_FLOW)),
        ("Who are the primary customers of Boeing as of FY2022?", ()),
        ("Is Boeing's business subject to cyclicality?", ()),
        ("2023년 매출과 영업이익은 얼마인가요?", (INCOME,)),
        ("청년일자리 사업의 신청 절차는?", ()),
    ],
)
def test_asked_statements_first_named_first(question, kinds):
    assert asked_statements(question) == kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            f"Table of Contents\nACME, INC. AND SUBSIDIARIES\nCONSOLIDATED BALANCE SHEETS\n(in millions)\n{ROWS}",
            BALANCE,
        ),
        (f"ConsolidatedStatementsofOperations\nFortheYearsEndedDecember31,\n{ROWS}", INCOME),
        (f"Exhibit 4\nAcme Inc.\nCondensed Consolidated Statements of Cash Flows\n{ROWS}", CASH_FLOW),
        (f"The Acme Company and Subsidiaries\nConsolidated Statements of Financial Position\n{ROWS}", BALANCE),
        (f"JOHNSON & JOHNSON AND SUBSIDIARIES\nCONSOLIDATED STATEMENTS OF EARNINGS\n{ROWS}", INCOME),
        (f"주식회사 가나\n연결 재무상태표\n{ROWS}", BALANCE),
        # The title with few figures: the index page of Item 8.
        ("Item 8. Consolidated Balance Sheets 45\nConsolidated Statements of Cash Flows 47", None),
        # Selected financial data, not the statement.
        (f"Table of Contents\nConsolidated Statements of Operations Data\n{ROWS}", None),
        # A note that names the balance sheet past its opening.
        (
            f"9. Employee Related Obligations At the end of fiscal 2022 the amounts recorded in the consolidated "
            f"balance sheets were\n{ROWS}",
            None,
        ),
        (f"Comprehensive income\n{ROWS}", None),
    ],
)
def test_statement_kind_from_the_opening_title_and_figures(text, kind):
    assert statement_kind(text) == kind


def test_statement_pages_reads_each_page_in_chunk_order():
    chunks = [
        chunk("d", 3, 7, ROWS),
        chunk("d", 3, 6, "Acme Corp.\nConsolidated Balance Sheets"),  # the page's opening, out of order
        chunk("d", 1, 1, f"Management's discussion of the consolidated balance sheets\n{ROWS}"),
        chunk("d", 5, 9, f"Consolidated Statements of Cash Flows\n{ROWS}"),
        chunk("d", 8, 12, f"Consolidated Statements of Cash Flows (continued)\n{ROWS}"),
    ]
    found = statement_pages(chunks)
    assert set(found) == {BALANCE, CASH_FLOW}
    [(page, on_page)] = found[BALANCE]
    assert page == 3 and [c.position for c in on_page] == [6, 7]
    assert [p for p, _ in found[CASH_FLOW]] == [5, 8]


def test_placed_statements_take_only_their_own_documents_slots():
    hits = [hit("a", 1, 0.9), hit("b", 4, 0.8), hit("a", 2, 0.7), hit("a", 3, 0.6), hit("b", 5, 0.5)]
    income = Hit(chunk("a", 9, 90), 0.0, dense_score=0.4, statement=INCOME)
    out = with_statement_pages(hits, {INCOME: income})
    # b's hits keep their ranks; in a's slots after the first: the statement, then a's own hits, the last one out.
    assert [(h.chunk.doc_id, h.chunk.page) for h in out] == [("a", 1), ("b", 4), ("a", 9), ("a", 2), ("b", 5)]
    assert out[2].statement == INCOME and out[2].score == 0.7  # the score of the slot it took
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    assert out[3].chunk is hits[2].chunk and out[3].score == 0.6  # moved down a slot, with that slot's score


def test_statement_already_shown_or_of_another_document_changes_nothing():
    hits = [hit("a", 1, 0.9), hit("a", 8, 0.8, page_end=9), hit("a", 3, 0.6)]
    shown = Hit(chunk("a", 9, 95), 0.0, statement=BALANCE)  # inside the second hit's page span
    other = Hit(chunk("b", 2, 20), 0.0, statement=INCOME)
    assert with_statement_pages(hits, {BALANCE: shown, INCOME: other}) == hits
    # No slot of the document after the first hit: nothing to place it in.
    assert with_statement_pages([hit("a", 1, 0.9), hit("b", 2, 0.5)], {INCOME: Hit(chunk("a", 9, 9), 0.0)}) == [
        hit("a", 1, 0.9),
        hit("b", 2, 0.5),
    ]
    assert with_statement_pages([], {INCOME: shown}) == []


def test_a_real_earnings_release_gets_its_statements_after_the_best_hit(library, settings, embedder):
    [doc] = library.ingest([shared_path(*ULTA)])
    pages = statement_pages(library.document_chunks("documents", doc.doc_id))
    # Exhibits 1, 3 and 4 of the release (0-based pages 5, 6, 7).
    assert {kind: [p for p, _ in found] for kind, found in pages.items()} == {
        INCOME: [5],
        BALANCE: [6],
        CASH_FLOW: [7],
    }
    question = "What were Ulta Beauty's capital expenditures and net sales in fiscal 2022?"
    off = Library(settings.with_(statement_pages=0), embedder=embedder)
    # The retrievers alone: the release's opening, its highlights, the income statement.
    assert [h.chunk.page for h in off.search(question, k=3, mode="hybrid")] == [0, 1, 5]
    off.close()
    hits = library.search(question, k=3, mode="hybrid")
    # The cash flow statement (capex, named first) takes the highlights' place; the income statement keeps its own.
    assert [(h.chunk.page, h.statement) for h in hits] == [(0, None), (7, CASH_FLOW), (5, None)]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.dense_score is not None for h in hits)
    # A question naming no statement item is left to the retrievers.
    assert not any(h.statement for h in library.search("Who leads Ulta Beauty?", k=6, mode="hybrid"))


def test_a_statement_the_retrievers_ranked_keeps_its_place():
    hits = [hit("a", 1, 0.9), hit("a", 2, 0.8), hit("a", 5, 0.7)]
    cash, income = Hit(chunk("a", 7, 70), 0.0, statement=CASH_FLOW), Hit(chunk("a", 5, 50), 0.0, statement=INCOME)
    out = with_statement_pages(hits, {CASH_FLOW: cash, INCOME: income})
    assert [(h.chunk.page, h.statement) for h in out] == [(1, None), (7, CASH_FLOW), (5, None)]


def test_a_hit_moved_past_another_documents_takes_its_slots_score():
    hits = [hit("a", 1, 0.9), hit("a", 2, 0.85), hit("b", 4, 0.8), hit("a", 3, 0.6)]
    out = with_statement_pages(hits, {INCOME: Hit(chunk("a", 9, 90), 0.0, statement=INCOME)})
    assert [(h.chunk.doc_id, h.chunk.page) for h in out] == [("a", 1), ("a", 9), ("b", 4), ("a", 2)]
    assert [h.score for h in out] == [0.9, 0.85, 0.8, 0.6]  # a's page 2 (0.85) now ranks below b's 0.8
