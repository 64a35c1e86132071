"""Financial statement pages for questions about a company's figures.

A question about revenue, PP&E or capex is answered by the income statement, the balance sheet or the
cash flow statement: a page of bare rows that reads like the notes and MD&A pages around it to both
retrievers. Measured on FinanceBench dev, the statement page a number question needed ranked 7th to 15th
behind pages that talk about the same items. So when a question names statement items, the statements of
the best hit's document are looked up by their titles and placed right after the best hit.

Pure functions; ``search.Searcher`` reads a document's pages and caches what it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from rag.models import Chunk, Hit

INCOME, BALANCE, CASH_FLOW = "income statement", "balance sheet", "cash flow statement"

# What a question names, per statement. Ratios name the statements their definitions read from: inventory
# turnover divides cost of sales (income) by inventory (balance).
_ASKS: dict[str, re.Pattern[str]] = {
    INCOME: re.compile(
        r"\b(revenues?|net sales|sales|gross (margin|profit)|operating (income|margin|profit|expenses?)"
        r"|net (income|earnings|profit|loss)|earnings per share|eps|cost of (goods|sales|revenues?|products)|cogs"
        r"|ebitda?|income statements?|statements? of (income|operations|earnings)|p&l|profit and loss"
        r"|interest expense|(effective )?tax rate|sg&a|r&d expenses?|margins?|(inventory|asset|receivables?"
        r"|payables?) turnover|return on (assets|equity)|roa|roe|days (sales|inventory|payables?)|dso|dpo|dio"
        r"|interest coverage|payout ratio)\b"
        r"|매출|영업이익|순이익|손익|매출원가|이익률",
        re.IGNORECASE,
    ),
    BALANCE: re.compile(
        r"\b(balance sheets?|financial position|total assets|assets|liabilities|(shareholders'?|stockholders'?) "
        r"equity|pp&e|property,? plant|fixed assets?|inventor(y|ies)|receivables?|payables?|working capital"
        r"|current ratio|quick ratio|debt|goodwill|capital.intensive|return on (assets|equity)|roa|roe)"
        r"|재무상태|자산|부채|재고|유형자산",
        re.IGNORECASE,
    ),
    CASH_FLOW: re.compile(
        r"\b(cash flows?|capex|capital expenditures?|capital.intensive|cash from operations|operating activities"
        r"|investing activities|financing activities|dividends? paid|payout ratio|repurchases?|buybacks?|d&a"
        r"|depreciation)|현금흐름|설비투자|배당",
        re.IGNORECASE,
    ),
}

# Titles, matched on the page's opening with everything but letters removed and lower-cased, so
# "CONSOLIDATED STATEMENTS OF OPERATIONS" and pypdf's "ConsolidatedStatementsofOperations" read alike.
_TITLES: dict[str, re.Pattern[str]] = {
    INCOME: re.compile(r"statements?of(consolidated)?(operations|income|earnings)(?!and)|incomestatements?|손익계산서"),
    BALANCE: re.compile(r"balancesheets?|statements?of(consolidated)?financialposition|재무상태표|대차대조표"),
    CASH_FLOW: re.compile(r"statements?of(consolidated)?cashflows?|현금흐름표"),
}
# The title must head the page: on one of its first lines, after at most the company's name ("Table of
# Contents", "Exhibit 4", "ACME, INC. AND SUBSIDIARIES"), with little after it on its line ("(continued)", "(in
# millions)"). A note whose first sentence mentions the balance sheet is not the balance sheet.
_HEAD_LINES = 4
_BEFORE_TITLE = 50
_AFTER_TITLE = 30
# A statement is a table: at least this many figures on the page. The index page of Item 8 lists every
# statement's title with few numbers.
_MIN_FIGURES = 40
_FIGURE = re.compile(r"\d[\d,.]*")
_NOT_LETTERS = re.compile(r"[^a-z가-힣]")


def asked_statements(question: str) -> tuple[str, ...]:
    """The statements whose items the question names, the first named first."""
    first = {kind: m.start() for kind, pattern in _ASKS.items() if (m := pattern.search(question))}
    return tuple(sorted(first, key=first.__getitem__))


def statement_kind(page_text: str) -> str | None:
    """Which statement a page is, from the title heading it and its figures; None for any other page."""
    if len(_FIGURE.findall(page_text)) < _MIN_FIGURES:
        return None
    lines = [line for line in page_text.splitlines() if line.strip()][:_HEAD_LINES]
    for line in lines:
        letters = _NOT_LETTERS.sub("", line.lower()).removeprefix("tableofcontents")
        for kind, title in _TITLES.items():
            m = title.search(letters)
            if not m or m.start() > _BEFORE_TITLE or len(letters) - m.end() > _AFTER_TITLE:
                continue
            # "... of the consolidated balance sheets": a phrase about the statement, not its title.
            before = re.sub(r"(consolidated|condensed)+$", "", letters[: m.start()])
            # "Consolidated Statements of Operations Data" heads the selected financial data, not the statement.
            if not before.endswith("the") and not letters[m.end() :].startswith("data"):
                return kind
    return None


def statement_pages(chunks: Iterable[Chunk]) -> dict[str, list[tuple[int, list[Chunk]]]]:
    """A document's statement pages by kind, each ``(page, its chunks)``, in page order.

    A page is read from the chunks that start on it, in their order.
    """
    by_page: dict[int, list[Chunk]] = {}
    for c in chunks:
        by_page.setdefault(c.page, []).append(c)
    found: dict[str, list[tuple[int, list[Chunk]]]] = {}
    for page in sorted(by_page):
        page_chunks = sorted(by_page[page], key=lambda c: c.position)
        kind = statement_kind("\n".join(c.text for c in page_chunks))
        if kind is not None:
            found.setdefault(kind, []).append((page, page_chunks))
    return found


def with_statement_pages(hits: Sequence[Hit], statements: Mapping[str, Hit], keep_first: int = 1) -> list[Hit]:
    """``hits`` with the statement hits placed right after the first ``keep_first``, in the slots of their own
    document's hits.

    Hits of other documents keep their ranks, so a document's statements never push another document out;
    the document's own hits move down, its last ones out. A statement page already among the hits stays where
    it is. ``statements`` maps a kind to the hit of that statement's page (``statement`` set to the kind).
    """
    if not hits or not statements:
        return list(hits)
    doc = hits[0].chunk.doc_id
    wanted = {s.chunk.page for s in statements.values() if s.chunk.doc_id == doc}

    def is_wanted(h: Hit) -> bool:
        return h.chunk.doc_id == doc and any(h.chunk.page <= p <= h.chunk.page_end for p in wanted)

    shown = {p for h in hits if is_wanted(h) for p in range(h.chunk.page, h.chunk.page_end + 1)}
    new = [s for s in statements.values() if s.chunk.doc_id == doc and s.chunk.page not in shown]
    # A wanted statement the retrievers already ranked keeps its place.
    slots = [i for i, h in enumerate(hits) if i >= keep_first and h.chunk.doc_id == doc and not is_wanted(h)]
    if not new or not slots:
        return list(hits)
    own = new + [hits[i] for i in slots]
    out = list(hits)
    for slot, hit in zip(slots, own):
        # Each takes the score of the slot it lands in, so the scores still fall down the list even where a
        # moved hit passes another document's.
        out[slot] = hit if hit.score == hits[slot].score else replace(hit, score=hits[slot].score)
    return out
