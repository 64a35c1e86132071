"""Figures in text: one key for each way a number, a date or a short year is written; hand-made cases."""

from __future__ import annotations

import pytest

from rag.answer.figures import figures, found_in, source_keys


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
