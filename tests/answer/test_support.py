"""Citation checking: answers split into cited claims, each citation checked against its
source, and numbers that no source holds; hand-made cases."""

from __future__ import annotations

import pytest

from rag.answer.support import CitationCheck, check_support, says_nothing_new, split_claims
from rag.answer.terms import key_terms

FILING = (
    "Consolidated statements of operations (in millions). Net sales: 2019 5,794; 2018 4,765. "
    "Net sales increased 21.6% in fiscal 2019, driven by services. Operating loss was (123). "
    "The fiscal year ended March 31, 2019."
)
WARRANTY = "The X200 printer warranty lasts two years from the date of purchase."


def test_claims_keep_their_markers_and_lose_layout() -> None:
    answer = "Net sales were 5,794 [1]. Costs rose. [2] Both say so [1][3]\n1. Listed item [2]\n## 2. Heading"
    assert [(c.text, c.sources) for c in split_claims(answer)] == [
        ("Net sales were 5,794.", (1,)),
        ("Costs rose.", (2,)),  # a marker after the full stop belongs to the sentence before it
        ("Both say so", (1, 3)),
        ("Listed item", (2,)),  # "1." is a list number, not a figure of the claim
        ("Heading", ()),
    ]


def test_korean_claims_split_on_their_full_stops() -> None:
    claims = split_claims("매출액은 1,234억원입니다 [1]. 영업이익은 56억원입니다 [2].")
    assert [(c.text, c.sources) for c in claims] == [
        ("매출액은 1,234억원입니다.", (1,)),
        ("영업이익은 56억원입니다.", (2,)),
    ]


def test_a_correct_citation_is_supported_whatever_the_number_format() -> None:
    report = check_support("Net sales increased 21.6 percent in fiscal 2019 [1].", {1: FILING, 2: WARRANTY})
    assert report.checks == (CitationCheck("Net sales increased 21.6 percent in fiscal 2019.", 1, True, (), 1.0),)
    assert report.unsupported_numbers == () and report.support_rate == 1.0
    assert report.source_marks() == {1: "supported"}


def test_a_rounded_amount_with_a_scale_word_matches_the_table() -> None:
    # "(in millions) 5,794" rounds to $5.8 billion; it does not round to $5.9 billion.
    assert check_support("Net sales were $5.8 billion in 2019 [1].", {1: FILING}).checks[0].supported
    wrong = check_support("Net sales were $5.9 billion in 2019 [1].", {1: FILING})
    assert not wrong.checks[0].supported and wrong.checks[0].missing_numbers == ("$5.9 billion",)


def test_a_wrong_digit_is_not_in_the_source() -> None:
    # Issue 13: "5,749" for the source's "5,794".
    report = check_support("Net sales were 5,749 million in 2019 [1].", {1: FILING})
    [check] = report.checks
    assert not check.supported and check.missing_numbers == ("5,749 million",)
    assert report.unsupported_numbers == ("5,749 million",)
    assert report.source_marks() == {1: "not_found"} and report.missing_for(1) == ("5,749 million",)


def test_a_figure_cited_to_the_wrong_source() -> None:
    # Issue 13: a true figure, cited to a source that does not hold it.
    report = check_support("Net sales increased 21.6% in 2019 [2].", {1: FILING, 2: WARRANTY})
    [check] = report.checks
    assert check.source == 2 and not check.supported
    assert check.missing_numbers == ("21.6%", "2019")
    assert report.unsupported_numbers == ()  # the figures exist, in source 1


def test_words_must_match_when_there_are_no_numbers() -> None:
    sources = {1: FILING, 2: WARRANTY}
    ok = check_support("The X200 warranty lasts two years from purchase [2].", sources)
    off = check_support("The X200 warranty lasts two years from purchase [1].", sources)
    assert ok.checks[0].supported and ok.checks[0].term_share >= 0.8
    assert not off.checks[0].supported and off.checks[0].missing_numbers == () and off.checks[0].term_share < 0.4


def test_a_sentence_citing_two_sources_may_take_a_figure_from_each() -> None:
    sources = {1: "Net sales were 5,794 in 2019.", 2: "Net sales were 4,765 in 2018."}
    report = check_support("Net sales rose from 4,765 in 2018 to 5,794 in 2019 [1][2].", sources)
    assert [c.supported for c in report.checks] == [True, True]
    assert report.checks[0].missing_numbers == ("4,765", "2018")  # what source 1 alone lacks, for the record
    bad = check_support("Net sales rose from 4,765 to 6,000 [1][2].", sources)
    assert [c.supported for c in bad.checks] == [False, False] and bad.unsupported_numbers == ("6,000",)


def test_mixed_results_per_source_and_the_rate() -> None:
    answer = "Net sales were 5,794 in 2019 [1]. Operating loss was 321 [1]. The warranty lasts two years [2]."
    report = check_support(answer, {1: FILING, 2: WARRANTY})
    assert [c.supported for c in report.checks] == [True, False, True]
    assert report.source_marks() == {1: "partly", 2: "supported"}
    assert report.support_rate == pytest.approx(2 / 3)
    assert report.unsupported_numbers == ("321",)


def test_markers_list_numbers_and_uncited_numbers() -> None:
    answer = "Figures:\n1. Net sales were 5,794 [1].\n2. Staff: 999 people.\n3. Losses were (123) [1]."
    report = check_support(answer, {1: FILING})
    # "[1]", "1." "2." "3." are layout; 999 is stated without a citation and is in no source.
    assert report.unsupported_numbers == ("999",)
    assert [c.supported for c in report.checks] == [True, True]


def test_dates_are_compared_as_dates() -> None:
    sources = {1: FILING}
    assert check_support("The fiscal year ended on 2019-03-31 [1].", sources).checks[0].supported
    assert check_support("The fiscal year ended in March 2019 [1].", sources).checks[0].supported
    wrong = check_support("The fiscal year ended March 30, 2019 [1].", sources)
    assert not wrong.checks[0].supported and wrong.checks[0].missing_numbers == ("March 30, 2019",)


def test_korean_claims_are_checked_on_stems_and_figures() -> None:
    sources = {1: "2021년 매출액은 1,234억원이며 영업이익은 56억원이다.", 2: "회사는 서울에 본사를 두고 있다."}
    answer = (
        "2021년 매출액은 1,234억 원입니다 [1]. 영업이익은 65억 원입니다 [1]. "
        "본사는 서울에 있습니다 [2]. 매출액은 1,234억 원입니다 [2]."
    )
    report = check_support(answer, sources)
    assert [(c.source, c.supported) for c in report.checks] == [(1, True), (1, False), (2, True), (2, False)]
    assert report.checks[1].missing_numbers == ("65억",)
    assert report.unsupported_numbers == ("65억",)


def test_a_year_written_short_in_the_source_supports_the_full_year() -> None:
    sources = {1: "사업기간 : (청년일자리도약장려금) ’22년~‘24년(3년)"}
    report = check_support("청년일자리도약장려금의 사업기간은 2022년부터 2024년까지입니다 [1].", sources)
    assert report.support_rate == 1.0 and report.unsupported_numbers == ()
    wrong = check_support("청년일자리도약장려금의 사업기간은 2021년부터 2024년까지입니다 [1].", sources)
    assert wrong.checks[0].missing_numbers == ("2021",)


def test_no_citations_no_checks() -> None:
    report = check_support("The warranty lasts two years.", {1: WARRANTY})
    assert report.checks == () and report.support_rate is None and report.source_marks() == {}


def test_citations_of_sources_not_given_are_not_checked() -> None:
    assert check_support("Two years [7].", {1: WARRANTY}).checks == ()


def test_key_terms_drop_particles_stopwords_and_units() -> None:
    assert key_terms("The net sales were $5 million") == {"net", "sale", "5"}
    assert key_terms("매출액은") == key_terms("매출액이") == key_terms("매출액") == {"매출", "출액"}
    assert {"영업", "이익"} <= key_terms("영업이익이 증가했습니다")


def test_a_run_of_digits_beyond_decimal_precision_is_no_match_and_no_crash() -> None:
    report = check_support("Net sales were $5.8 billion [1].", {1: "Serial 1" + "0" * 40 + "5 of net sales."})
    assert not report.checks[0].supported and report.unsupported_numbers == ("$5.8 billion",)


def test_markers_alone_or_a_copied_source_header_claim_nothing_and_are_not_counted_as_supported() -> None:
    # A small model replied "[2][3] [4]" or copied a source's header instead of answering (answer benchmark).
    sources = {1: "The X200 warranty lasts two years.", 2: "Toner: open the front cover.", 3: "x", 4: "y"}
    assert check_support("[2][3] [4]", sources).checks == ()
    assert check_support("[1] MANUAL.pdf, p. 3 [2]", sources).checks == ()
    report = check_support("[1] MANUAL.pdf, p. 3. The warranty lasts two years [1].", sources)
    assert [(c.source, c.supported) for c in report.checks] == [(1, True)]


def test_a_figure_only_table_claim_with_korean_unit_words_is_supported_by_its_row() -> None:
    # From the answer benchmark: the passage's table says "(단위: 백만원)" once; the claim repeats the unit.
    sources = {1: "최근 5년 간 투입된 사업비\n연도 2020 2021 2022\n사업비 796,338 1,121,166 542,769"}
    assert [c.supported for c in check_support("2020년: 796,338 백만원 [1]", sources).checks] == [True]
    assert [c.supported for c in check_support("2020년: 796,339 백만원 [1]", sources).checks] == [False]


def test_a_sentence_that_only_points_at_its_sources_is_not_checked() -> None:
    sources = {1: "집행절차: 1단계 참여신청, 2단계 채용, 3단계 지원금 신청", 2: "참여 기업 요건: 5인 이상"}
    question = "청년일자리도약장려금 사업 집행절차는 어떤 단계로 되어 있나요?"
    pointing = "청년일자리도약장려금 사업 집행절차는 [1]와 [2]에서 설명된 단계로 구성되어 있습니다."
    # Without the question its words meet source 1's, and it would count as supported.
    assert [c.supported for c in check_support(pointing, sources).checks] == [True, False]
    assert check_support(pointing, sources, question=question).checks == ()
    answer = "집행절차는 참여신청, 채용, 지원금 신청 단계입니다 [1]."
    assert [c.supported for c in check_support(answer, sources, question=question).checks] == [True]


def test_a_restated_question_without_pointer_words_is_still_checked() -> None:
    sources = {1: "Commercial aircraft demand is cyclical and depends on airline profitability."}
    question = "Is Boeing's business subject to cyclicality?"
    report = check_support("Boeing's business is not subject to cyclicality [1].", sources, question=question)
    assert len(report.checks) == 1 and not report.checks[0].supported
    english = check_support("The risks are described in [1].", sources, question="What are Boeing's main risks?")
    assert english.checks == ()


def test_a_source_that_only_names_what_was_asked_about_does_not_support_what_the_claim_adds() -> None:
    # From the answer benchmark (TRAIN_265): the claim is page 3's procedure, also cited to page 1, which
    # names the programme (nine bigrams of the question) but says nothing of the procedure.
    sources = {
        1: "<청년일자리도약장려금>\n- 민간운영기관은 참여신청 접수·승인, 요건심사 등 수행, 고용센터는 지원금 지급",
        2: "(청년일자리도약장려금) 5인 이상 우선지원대상기업에서 청년을 정규직으로 채용하면 지원하는 것임",
    }
    question = "청년일자리도약장려금은 어떤 조건을 충족해야 받을 수 있나요?"
    claim = "청년일자리도약장려금은 민간운영기관이 참여신청 접수·승인, 요건심사 등 수행합니다 [1][2]."
    checked = check_support(claim, sources, question=question)
    assert [(c.source, c.supported) for c in checked.checks] == [(1, True), (2, False)]
    # Without the question every word counts, and the programme's name alone carried source 2.
    assert [c.supported for c in check_support(claim, sources).checks] == [True, True]


def test_a_claim_adding_little_to_the_question_is_checked_on_all_its_words() -> None:
    # "Yes" and one more word are no content to look for: the words it shares with the question count too.
    sources = {1: "Dividends paid to common shareholders were $0.55 per share in each quarter of 2022."}
    question = "Has CVS Health paid dividends to common shareholders in Q2 of FY2022?"
    claim = "Yes, CVS Health paid dividends to common shareholders in Q2 of FY2022 [1]."
    assert [c.supported for c in check_support(claim, sources, question=question).checks] == [True]


def test_markers_that_number_a_sentences_parts_cite_what_follows_them() -> None:
    # The stand-in model's Korean reply: each marker opens the fact it takes from that source.
    sources = {
        1: "청년 일자리 창출 지원 2024년 확정 예산 657,680 백만원",
        2: "청년 신규 일자리 창출을 통한 청년고용 활성화를 목적으로 지원",
        3: "빈일자리 업종에 취업한 청년의 생계부담 완화와 구인난 해소를 목적으로 지원",
    }
    answer = "[1] 657,680 백만원 [2] 청년고용 활성화를 목적으로 지원 [3] 빈일자리 구인난 해소를 목적으로 지원"
    assert [(c.text, c.sources) for c in split_claims(answer)] == [
        ("657,680 백만원", (1,)),
        ("청년고용 활성화를 목적으로 지원", (2,)),
        ("빈일자리 구인난 해소를 목적으로 지원", (3,)),
    ]
    assert [(c.source, c.supported) for c in check_support(answer, sources).checks] == [(1, True), (2, True), (3, True)]
    # Read as one sentence citing all three, the budget figure would be missing from sources 2 and 3.
    # Markers closing the last part stay with it; a sentence that does not open with a marker cites backwards.
    assert [c.sources for c in split_claims("[1] 신청서 제출 [2][3]")] == [(1, 2, 3)]
    assert [c.sources for c in split_claims("Sales were 5,794 [1] and rose 21.6% [2].")] == [(1, 2)]


def test_an_answer_that_only_points_in_the_questions_words_says_nothing_new() -> None:
    question = "2020년부터 2024년까지 청년 일자리 창출 지원 사업비는 어떻게 변화하고 있는가?"
    pointing = (
        "2020년부터 2024년까지 청년 일자리 창출 지원 사업비는 [1]에서 확인할 수 있습니다. [2]에서 확인할 수 있습니다."
    )
    assert says_nothing_new(pointing, question)
    assert says_nothing_new("[1] [2]", question) and says_nothing_new("", question)
    assert says_nothing_new("The steps are described in [2] and [3].", "What are the steps to replace the toner?")
    # a figure the question does not state, a restatement without pointer words, or a claim say something
    assert not says_nothing_new("2020년 사업비는 796,338 백만원이며 [1]에서 확인할 수 있습니다.", question)
    assert not says_nothing_new(
        "Yes, Boeing's business is subject to cyclicality [1].", "Is Boeing's business cyclical?"
    )
    assert not says_nothing_new("The steps are in [1]. Open the cover and pull the cartridge out [1].", "Steps?")


def test_a_result_worked_out_right_from_the_source_needs_not_be_in_it() -> None:
    # 5,794 - 4,765 = 1,029: in no source, and right; its parts are in the filing.
    right = check_support("Net sales grew by 5,794 - 4,765 = 1,029 million in fiscal 2019 [1].", {1: FILING})
    assert [c.supported for c in right.checks] == [True] and right.unsupported_numbers == ()
    wrong = check_support("Net sales grew by 5,794 - 4,765 = 1,129 million in fiscal 2019 [1].", {1: FILING})
    assert [c.missing_numbers for c in wrong.checks] == [("1,129 million",)]
    assert wrong.unsupported_numbers == ("1,129 million",)
    # Right arithmetic on figures the source does not hold is still unsupported: the parts are checked.
    made_up = check_support("Net sales grew by 6,000 - 4,765 = 1,235 million in fiscal 2019 [1].", {1: FILING})
    assert [c.missing_numbers for c in made_up.checks] == [("6,000",)]


def test_a_figure_in_another_unit_than_its_table_is_not_supported() -> None:
    budget = "3. 예산 총괄표\n(단위: 백만원, %)\n청년일자리창출지원 233,321 889,078 657,680"
    question = "2024년 청년일자리창출지원 사업의 확정 예산은 얼마인가요?"
    right = check_support("확정 예산은 657,680백만원입니다 [1].", {1: budget}, question=question)
    wrong = check_support("확정 예산은 657,680만원입니다 [1].", {1: budget}, question=question)
    assert [c.supported for c in right.checks] == [True] and right.unsupported_numbers == ()
    # Its digits are in the table, in another unit: said, as the reason it is not there.
    said = "657,680만 (the table is in 백만원)"
    assert [c.missing_numbers for c in wrong.checks] == [(said,)] and wrong.unsupported_numbers == (said,)
    balance_sheet = "CONSOLIDATED BALANCE SHEETS (Dollars in millions)\nProperty, plant and equipment, net | 12,645"
    for claim, held in [("$12,645 million", True), ("$12.6 billion", True), ("$12,645 billion", False)]:
        report = check_support(f"Net PP&E was {claim} [1].", {1: balance_sheet}, question="What is net PP&E?")
        assert [c.supported for c in report.checks] == [held], claim
    assert report.unsupported_numbers == ("$12,645 billion (the table is in millions)",)
