"""The not-found gate's lexical evidence: names and years of a question looked for in passages."""

from __future__ import annotations

import pytest

from rag.answer.declined import NOT_FOUND_TEXT, not_found_text
from rag.answer.evidence import find_evidence, question_names, question_years
from rag.answer.terms import korean_names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What is the FY2019 fixed asset turnover ratio for Activision Blizzard?", ["Activision Blizzard"]),
        # a sentence's first word is a name only when it could not be a plain word
        ("Fixed asset turnover is defined as revenue / average PP&E. Round to two decimals.", ["PP&E"]),
        ("How did JnJ's US sales growth compare?", ["JnJ's", "US"]),  # the possessive ends the name
        ("Boeing's backlog in 2022?", ["Boeing's"]),
        ("Is 3M a capital-intensive business?", ["3M"]),
        ("What did Johnson & Johnson report in August?", ["Johnson & Johnson"]),  # months are no names
        ("What is label smoothing?", []),
        ("2024년 고용노동부의 청년 일자리 예산은?", []),
    ],
)
def test_question_names(question: str, names: list[str]) -> None:
    assert question_names(question) == names


def test_question_years_count_fiscal_years_once() -> None:
    assert question_years("Compare FY2019 with FY2018 and 2019.") == ["2019", "2018"]
    assert question_years("2020년부터 2024년까지") == ["2020", "2024"]
    assert question_years("Section 10-K item 1234") == []
    assert question_years("’24년에 신설된 사업은? FY'19와 비교하면?") == ["2024", "2019"]  # written short


def test_a_year_the_passage_writes_short_is_shown() -> None:
    # The Korean fiscal documents write "’15년"; a question about 2015 has its evidence there.
    passages = ["ㅇ ’15년 직업능력개발계좌제와 국가기간･전략산업직종훈련 운영방식 통합"]
    ev = find_evidence("2015년에 내일배움카드사업과 관련해서 통합된 제도는 무엇인가?", passages)
    assert ev.years_found == ("2015",) and ev.years_missing == ()
    # a quoted number or a longer run of digits is no year
    ev = find_evidence("2015년에 통합된 제도는?", ["제도 '15' 통합", "코드 201516 통합"])
    assert ev.years_found == () and ev.years_missing == ("2015",)


def test_a_company_named_in_the_passages_is_evidence_and_one_named_nowhere_is_not() -> None:
    passages = ["Lockheed Martin's net sales were $65,984 million in 2022.", "The F-35 program ..."]
    ev = find_evidence("What were Boeing's net sales in 2022?", passages, ["LMT_2022_10K.pdf"])
    assert ev.names_missing == ("Boeing",) and ev.lacking
    assert "Boeing" in ev.reason()
    ev = find_evidence("What were Lockheed Martin's net sales in 2022?", passages, ["LMT_2022_10K.pdf"])
    assert ev.names_found == ("Lockheed Martin",) and not ev.lacking


def test_a_file_name_or_an_acronym_of_capitalised_words_is_evidence() -> None:
    # "ActivisionBlizzard" only in the file name; "JnJ" as the initials of "Johnson & Johnson"
    ev = find_evidence(
        "Activision Blizzard capex in 2019?", ["Capital expenditures 2019: 116"], ["ACTIVISIONBLIZZARD_2019_10K.pdf"]
    )
    assert not ev.lacking
    ev = find_evidence("Did JnJ's sales grow in 2022?", ["Johnson & Johnson sales grew 1.3% in 2022"])
    assert ev.names_found == ("JnJ",) and not ev.lacking
    # initials of lower-case words do not make an acronym: "just joking" is not JnJ
    assert find_evidence("Did JnJ's sales grow?", ["we were just joking about sales"]).lacking


def test_an_all_capital_name_counts_when_found_but_not_when_missing() -> None:
    # CAGR is often spelled out or absent from a filing that answers; it must not refuse by itself
    ev = find_evidence("What is Lockheed Martin's revenue CAGR?", ["Lockheed Martin net sales 2020 2022"])
    assert ev.capitals_missing == ("CAGR",) and ev.names_missing == () and not ev.lacking


def test_most_names_must_be_missing() -> None:
    passages = ["Kenvue, formerly part of JnJ, was separated in August 2023."]
    ev = find_evidence("What did JnJ realise from the separation of Kenvue (formerly Consumer Health)?", passages)
    assert ev.names_missing == ("Consumer Health",) and not ev.lacking  # 1 of 3
    assert find_evidence("What did Pfizer realise from Consumer Health?", passages).lacking  # 2 of 2


def test_years_no_passage_mentions() -> None:
    assert find_evidence("Net sales in 2031?", ["Net sales were 5 in 2022 and 4 in 2021."]).unshown == ("2031",)
    assert not find_evidence("Net sales in 2021 and 2031?", ["Net sales were 4 in 2021."]).lacking


def test_korean_questions_are_judged_by_the_share_of_their_terms_found() -> None:
    q = "청년일자리도약장려금은 어떤 기업을 대상으로 지원하는가요?"
    answering = ["청년일자리도약장려금은 5인 이상 우선지원대상기업을 대상으로 지원합니다."]
    ev = find_evidence(q, answering)
    assert ev.coverage is not None and ev.coverage > 0.5 and not ev.lacking
    ev = find_evidence(q, ["LaTeX 문서의 글꼴을 바꾸는 방법은 다음과 같습니다."])
    assert ev.coverage is not None and ev.coverage < 0.3 and ev.lacking
    assert find_evidence("What is label smoothing?", ["label smoothing"]).coverage is None  # English: names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("청년일자리도약장려금은 어떤 조건을 충족해야 받을 수 있나요?", ["청년일자리도약장려금"]),  # no verbs
        ("한시적인 청년채용장려금 사업의 목적은 무엇인가?", ["청년채용장려금"]),  # no adjectives, no short nouns
        ("고용보험법은 언제 제정되었나요?", ["고용보험법"]),
        ("구직급여 수급자는 어떤 조건에서 광역구직활동비를 받을 수 있나요?", ["구직급여", "광역구직활동비"]),
        ("이주비의 지급 조건은 무엇인가요?", []),
        ("What is label smoothing?", []),
    ],
)
def test_korean_names_are_the_long_nouns(question, names) -> None:
    assert korean_names(question) == names


def test_a_korean_question_naming_what_no_passage_shows_is_lacking() -> None:
    q = "청년일자리도약장려금은 어떤 기업을 대상으로 지원하는가요?"
    # Common words enough to pass the 30% share of terms, but not the programme.
    unrelated = ["이 문서는 기업과 대상 독자를 위해 어떤 지원을 하는지 설명합니다. 청년 독자를 위한 장은 없습니다."]
    ev = find_evidence(q, unrelated)
    assert ev.coverage is not None and ev.coverage >= 0.3
    assert ev.lacking and ev.unshown == ("청년일자리도약장려금",)
    assert not_found_text(q, ev) == (
        "문서에서 답을 찾지 못했습니다. 찾은 구절 어디에도 “청년일자리도약장려금”에 대한 내용이 없습니다."
    )
    # Spaced otherwise, or only in the file's name, it is shown.
    assert not find_evidence(q, ["청년 일자리 도약 장려금은 5인 이상 기업을 대상으로 지원합니다."]).lacking
    assert not find_evidence(q, unrelated, ["고용노동부_청년일자리도약장려금.pdf"]).lacking


def test_the_not_found_wording_names_what_is_missing_in_the_question_language() -> None:
    ev = find_evidence("What were Boeing's net sales in 2022?", ["Lockheed Martin net sales 2022"])
    assert not_found_text("What were Boeing's net sales in 2022?", ev) == (
        "Not found in your documents: none of the passages found mentions “Boeing”."
    )
    ev = find_evidence("2031년 예산은?", ["2024년 예산은 657,680백만원"])
    assert (
        not_found_text("2031년 예산은?", ev)
        == "문서에서 답을 찾지 못했습니다. 찾은 구절 어디에도 2031에 대한 내용이 없습니다."
    )
    assert not_found_text("What is X?") == NOT_FOUND_TEXT
    assert not_found_text("예산은?") == "문서에서 답을 찾지 못했습니다."
