"""Citations moved to the source holding the sentence's figures: hand-made answers and sources."""

from __future__ import annotations

import pytest

from rag.answer.repoint import CitationMove, repoint_citations
from rag.answer.support import check_support

SOURCES = {
    1: "Revenues were $66,608 million in 2022 and $62,286 million in 2021, an increase of 7%.",
    2: "Risk factors. Our business depends on the airline industry, which is cyclical.",
    3: "Property, plant and equipment, net 12,645 12,672 Total assets 117,359 112,362",
    4: "Net earnings were $4,814 million. Property, plant and equipment are depreciated over 40 years.",
}


def test_a_figure_cited_to_a_source_without_it_moves_to_the_one_that_holds_it() -> None:
    answer = "Net property, plant and equipment was $12,645 million at year end. [2]"
    text, moves = repoint_citations(answer, SOURCES)
    assert text == "Net property, plant and equipment was $12,645 million at year end. [3]"
    assert moves == (CitationMove(answer[:-4], (2,), 3, ("$12,645 million",)),)
    assert moves[0].note() == "Citation moved from [2] to [3]: $12,645 million is in source 3, not in source 2."
    # Checked as shown, the moved citation holds; as the model wrote it, it did not.
    assert check_support(text, SOURCES).support_rate == 1.0
    assert check_support(answer, SOURCES).support_rate == 0.0


AIRLINES = {1: "The airline industry has been cyclical since 2021, with 40 airlines.", 2: "Airline risks."}


@pytest.mark.parametrize(
    ("answer", "sources"),
    [
        pytest.param("Revenues were $66,608 million in 2022 [1].", SOURCES, id="the cited source holds the figure"),
        # A wrong figure has nowhere to go: the check marks it instead.
        pytest.param("Net property, plant and equipment was $12,999 million [2].", SOURCES, id="no source holds it"),
        # 12,645 is in source 3, but a sentence about employees shares none of its words: a coincidence.
        pytest.param("The company had 12,645 employees working in its factories [2].", SOURCES, id="words differ"),
        # A year or a count picks out no source, though source 1 holds them and the words.
        pytest.param("The airline industry has been cyclical since 2021 [2].", AIRLINES, id="a year"),
        pytest.param("The airline industry has been cyclical since ’21 [2].", AIRLINES, id="a short year"),
        pytest.param("The airline industry has 40 airlines [2].", AIRLINES, id="a small count"),
        pytest.param(
            "Revenues were $66,608 million and net earnings $4,814 million [1][4].", SOURCES, id="each holds part"
        ),
        # Source 1 holds the revenues and no source holds both figures: nothing to move to.
        pytest.param("Revenues were $66,608 million and total assets 117,359 [1][2].", SOURCES, id="none holds all"),
        # Only given sources count as cited; markers of others are the cleaner's business.
        pytest.param("Net property was $12,645 million [9].", SOURCES, id="a source never given"),
    ],
)
def test_the_citation_stays(answer: str, sources: dict[int, str]) -> None:
    assert repoint_citations(answer, sources) == (answer, ())


def test_an_amount_moves_where_a_year_would_not() -> None:
    amount = {**AIRLINES, 3: "The airline industry had $40.5 billion of debt."}
    assert repoint_citations("The airline industry had $40.5 billion [2].", amount)[0].endswith("[3].")


def test_the_cited_sources_without_any_figure_are_replaced_once() -> None:
    # Both cited sources lack the figures: one marker, where the first stood.
    answer = "Total assets were 117,359 and net property 12,645 [2][4]."
    text, moves = repoint_citations(answer, SOURCES)
    assert text == "Total assets were 117,359 and net property 12,645 [3]."
    assert moves[0].cited == (2, 4) and moves[0].to == 3 and moves[0].figures == ("117,359", "12,645")
    assert "not in source 2 or 4" in moves[0].note()


def test_each_sentence_moves_on_its_own_and_the_layout_is_kept() -> None:
    answer = (
        "1. Revenues were $66,608 million [3].\n"
        "2. Total assets were $117,359 million [1]. They were 112,362 a year before [3].\n"
        "The business is cyclical [2]."
    )
    text, moves = repoint_citations(answer, SOURCES)
    assert text == (
        "1. Revenues were $66,608 million [1].\n"
        "2. Total assets were $117,359 million [3]. They were 112,362 a year before [3].\n"
        "The business is cyclical [2]."
    )
    assert [(m.cited, m.to) for m in moves] == [((3,), 1), ((1,), 3)]


def test_among_several_holders_the_one_sharing_most_words_wins() -> None:
    sources = {
        1: "Cash dividends declared per share 0.55 0.50",
        2: "Dividends paid per common share were $0.55 in each quarter of 2022.",
        3: "Dividends paid per common share were $0.55 in each quarter of 2022 to common shareholders.",
        4: "Unrelated text.",
    }
    text, moves = repoint_citations("CVS paid dividends to common shareholders of $0.55 per share [4].", sources)
    assert text.endswith("[3].") and moves[0].to == 3


def test_korean_amounts_move_like_any_other() -> None:
    sources = {1: "총 사업비는 65억원이며 2024년까지 지원한다.", 2: "신청 자격은 만 34세 이하 청년이다."}
    text, moves = repoint_citations("총 사업비는 65억원입니다 [2].", sources)
    assert text == "총 사업비는 65억원입니다 [1]." and moves[0].figures == ("65억",)
