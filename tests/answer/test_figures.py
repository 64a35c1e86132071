"""Figures in text: one key for each way a number, a date or a short year is written; hand-made cases."""

from __future__ import annotations

import pytest

from rag.answer.figures import declared_scales, figures, found_in, source_keys


def keys(text: str) -> list[str]:
    return sorted(f.key for f in figures(text))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("5,794", "5794"),
        ("21.6%", "21.6 percent"),
        ("21.6 per cent", "21.60%"),
        ("$5.8 billion", "5.8bn"),
        ("(123)", "123"),  # a table's negative: signs are not compared
        ("March 31, 2019", "2019-03-31"),
        ("31 March 2019", "3/31/2019"),
        ("2019년 3월 31일", "March 31st, 2019"),
        ("1,234억원", "1234억"),
        ("’22년", "2022년"),  # a year written short, as Korean documents do
        ("FY'22", "2022"),
        ("the '90s", "1990"),
    ],
)
def test_one_figure_written_two_ways_has_one_key(a: str, b: str) -> None:
    assert keys(a) == keys(b) and keys(a)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X200, FY2022 and the 3rd model", []),  # names and ordinals are not figures
        ("A 10-K filing", ["10"]),
        ("In 2019, 21.6%", ["2019", "21.6"]),
        ("March 2019", ["date:2019-03"]),
        ("5,794 and 5,749", ["5749", "5794"]),  # a wrong digit is another number
        ("사업기간 : ’22년~‘24년(3년)", ["2022", "2024", "3"]),
        ("'22' and it's 22", ["22", "22"]),  # a quoted number and a contraction are no short years
    ],
)
def test_figures_found(text: str, expected: list[str]) -> None:
    assert keys(text) == expected


def test_a_rounding_with_a_scale_word_is_found_in_a_table_of_millions_and_a_date_gives_its_month() -> None:
    table = figures("Net sales 5,794 4,765 (in millions); fiscal year ended March 31, 2019")
    keys_ = source_keys(table)
    assert found_in(figures("$5.8 billion")[0], keys_, table)
    assert not found_in(figures("$5.7 billion")[0], keys_, table)
    assert found_in(figures("March 2019")[0], keys_, table)


def test_korean_scale_words_of_a_budget_table() -> None:
    assert [(f.key, f.scale) for f in figures("657,680백만원, 1,234천원, 6,577억원, 3천만원")] == [
        ("657680", 10**6),
        ("1234", 10**3),
        ("6577", 10**8),
        ("3", 10**7),
    ]


def test_a_table_s_declared_unit_is_read() -> None:
    assert declared_scales("3. 예산 총괄표\n(단위: 백만원, %)") == {10**6}
    assert declared_scales("(단위 : 원)") == {1}
    assert declared_scales("CONSOLIDATED BALANCE SHEETS (Amounts in millions, except per share data)") == {10**6}
    assert declared_scales("(in thousands) … (Dollars in millions)") == {10**3, 10**6}
    assert declared_scales("Net sales were 5,794.") == frozenset()


def test_an_amount_with_a_scale_word_must_be_in_the_declared_unit() -> None:
    table = figures("청년일자리창출지원 233,321 889,078 657,680")
    table_keys = {f.key for f in table}
    millions_of_won = frozenset({10**6})

    def held(claim: str) -> bool:
        [claimed] = figures(claim)
        return found_in(claimed, table_keys, table, millions_of_won)

    assert held("657,680백만원") and held("6,577억원")  # the same amount, and it rounded
    assert not held("657,680만원")  # the table's figure in another unit: a hundredth of it
    assert not held("6,576억원")  # 6,576.8억 rounds to 6,577
    # Without a declared unit the digits are all there is to go by.
    assert found_in(figures("657,680만원")[0], table_keys, table)
