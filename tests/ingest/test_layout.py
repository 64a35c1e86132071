"""Table-aware text: hand-made layout lines with known answers, then real filing pages through the loader."""

from rag.ingest.layout import cells, is_row, looks_tabular, page_heading, row_line, table_context, table_text
from rag.ingest.loader import iter_pages, open_pdf
from tests.conftest import shared_path

STATEMENT = """\
                    ACME CORP AND SUBSIDIARIES
                  CONSOLIDATED BALANCE SHEETS
                       (in millions)

                                          At December 31, 2019      At December 31, 2018
Assets
   Cash and cash equivalents              $        5,794            $        4,225
   Inventories, net                                   32                       43
   Property and equipment, net                       253                      282
   Goodwill                                        9,764                    9,762
      Total assets                        $       19,845            $       17,890
"""

TWO_COLUMNS = """\
Language model pre-training has been shown to        evant documents (e.g., 20). These documents are
capture a surprising amount of world knowledge,      then re-ranked using a learned model, but coverage
crucial for NLP tasks such as question answer-       limited by the initial heuristic retrieval step in
ing. However, this knowledge is stored implic-       such approaches as DrQA (Chen et al., 2017), and
itly in the parameters of a neural network, requir-  GraphRetriever (Min et al., 2019b) and PathRe-
Revenue grew   12   14
Costs fell     3    4
Margin rose    9    10
"""


def test_cells_split_at_column_gaps_and_keep_currency_with_its_amount():
    assert cells("   Cash and cash equivalents     $        5,794     $   4,225") == [
        "Cash and cash equivalents",
        "$5,794",
        "$4,225",
    ]
    assert cells("1.1 Introduction . . . . . . . . . .    1") == ["1.1 Introduction", "1"]


def test_rows_need_a_label_and_a_figure_that_is_not_a_year():
    assert is_row(["Goodwill", "9,764", "9,762"])
    assert is_row(["Income tax", "(31)", "743"])
    assert is_row(["Net sales", "$10.95 billion to $11.05 billion"])
    assert not is_row(["Years ended December 31,", "2022", "2021", "2020"])  # column titles
    assert not is_row(["9,764", "9,762"])  # no label
    # A line of prose with its line number beside it is no row.
    assert not is_row(["RCA's president, David Sarnoff, a friend of Armstrong's, was eager", "1"])


def test_a_statement_comes_out_row_by_row_with_its_column_titles_on_one_line():
    text = table_text(STATEMENT)
    assert text is not None
    lines = text.splitlines()
    assert "At December 31, 2019 | At December 31, 2018" in lines
    assert "Cash and cash equivalents | $5,794 | $4,225" in lines
    assert "Total assets | $19,845 | $17,890" in lines
    assert lines[0] == "ACME CORP AND SUBSIDIARIES"


def test_prose_in_two_columns_is_left_to_plain_extraction():
    # Three figure rows under five lines of two-column prose: layout mode would interleave the columns.
    assert table_text(TWO_COLUMNS) is None


def test_layout_text_that_lost_characters_is_refused():
    plain = STATEMENT + "\n".join(f"Rotated text that layout mode drops, line {i}" for i in range(20))
    assert table_text(STATEMENT, plain) is None
    assert table_text(STATEMENT, STATEMENT) is not None


def test_the_cheap_test_takes_tables_and_leaves_prose():
    assert looks_tabular("Goodwill 9,764 9,762\nOther assets 658 482\nTotal assets 19,845 17,890")
    assert looks_tabular("Net sales\n \n$10.95\n4%\n25\n20\n14.7%\n$24.70\n")  # one cell per line
    prose = "In 2019 revenue was 6,489 million, up from 7,500 in 2018, as the report explains in detail. " * 5
    assert not looks_tabular(prose.replace(". ", ".\n"))


def test_figures_scattered_down_a_page_of_prose_are_no_table():
    # A two-column paper: short lines, some quoting two figures, but never three within a few lines.
    scattered = "\n".join(
        ["Dense retrieval in 2019 and 2020", "outperforms BM25 on open-domain", "question answering", "tasks as"] * 6
    )
    assert not looks_tabular(scattered)
    table = "\n".join(["Results on the test sets", "NQ 41.5 78.4", "TriviaQA 56.8 79.4", "WQ 42.4 73.2"])
    assert looks_tabular(scattered + "\n" + table)  # the same page with a small table block


def test_rows_carry_the_page_heading_and_the_column_titles_above_their_table():
    lines = table_text(STATEMENT).splitlines()
    assert page_heading(lines) == ["ACME CORP AND SUBSIDIARIES", "CONSOLIDATED BALANCE SHEETS", "(in millions)"]
    context = dict(zip(lines, table_context(lines)))
    expected = (
        "ACME CORP AND SUBSIDIARIES\nCONSOLIDATED BALANCE SHEETS\n(in millions)\n"
        "At December 31, 2019 | At December 31, 2018\nAssets"
    )
    assert context["Goodwill | 9,764 | 9,762"] == expected
    assert context["ACME CORP AND SUBSIDIARIES"] == ""  # above the table: nothing to repeat
    assert row_line("Goodwill | 9,764 | 9,762") and not row_line("Goodwill 9,764 9,762")


def test_running_text_after_a_table_ends_its_context():
    lines = [
        "SEGMENT RESULTS",
        "Year | 2023 | 2022",
        "Sales | 10 | 12",
        "Costs | 4 | 5",
        "Margin | 6 | 7",
        "Management believes that the increase in sales reflects the new stores opened during the year and",
        "the stronger demand in the second half, as the following discussion of each segment explains.",
        "The company opened stores.",
    ]
    context = table_context(lines)
    assert context[2] == context[4] == "SEGMENT RESULTS\nYear | 2023 | 2022"
    assert context[5] == "SEGMENT RESULTS\nYear | 2023 | 2022"  # one long line may be a wrapped row label
    assert context[6] == context[7] == ""  # two are running text: the table is over


def _page_lines(folder: str, name: str, index: int) -> list[str]:
    pdf = shared_path("pdfs", folder, name)
    return next(p for p in iter_pages(open_pdf(pdf), pdf.name) if p.index == index).text.splitlines()


def test_filing_statement_rows_keep_label_and_values_on_one_line():
    lines = _page_lines("financebench", "BOEING_2022_10K.pdf", 54)
    assert "Years ended December 31, | 2022 | 2021 | 2020" in lines
    assert "Income tax (expense)/benefit | (31) | 743 | 2,535" in lines
    assert "Total revenues | 66,608 | 62,286 | 58,158" in lines


def test_column_titles_printed_on_two_lines_come_out_as_one_row():
    # Plain extraction gave "July 1," / "2023" / "June 25," / "2022", one cell per line.
    lines = _page_lines("docugami-sec10q", "2023 Q3 AAPL.pdf", 3)
    assert "July 1, 2023 | June 25, 2022 | July 1, 2023 | June 25, 2022" in lines
    assert "Total net sales | 81,797 | 82,959 | 293,787 | 304,182" in lines


def test_outlook_table_puts_each_value_beside_its_label():
    # Plain extraction gave "Effective tax rate" and "approximately 24.6%" lines apart.
    lines = _page_lines("financebench", "ULTABEAUTY_2023Q4_EARNINGS.pdf", 2)
    assert "Effective tax rate | approximately 24.6%" in lines


def test_two_column_paper_pages_keep_plain_extraction():
    pdf = shared_path("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")
    for page in iter_pages(open_pdf(pdf), pdf.name):
        assert " | " not in page.text, page.index


def test_a_page_slow_to_read_keeps_its_plain_text():
    # The layout pass costs about the plain pass again; a slow page must not be pushed past the stall limit.
    from rag.ingest.loader import _with_tables

    pdf = shared_path("pdfs", "financebench", "BOEING_2022_10K.pdf")
    page = open_pdf(pdf).pages[54]
    plain = page.extract_text()
    assert _with_tables(page, plain, pdf.name, 54, plain_s=2.0) == plain
    assert "Total revenues | 66,608 | 62,286 | 58,158" in _with_tables(page, plain, pdf.name, 54, plain_s=0.1)
