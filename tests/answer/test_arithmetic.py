"""Calculations an answer writes out, worked out again (hand-checked values)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rag.answer.arithmetic import agrees, check_arithmetic, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6,489 / ((253 + 282) / 2)", "24.25794392523364485981308411"),
        ("(4,882 / 5,512) * 100", "88.57039187227866473149492017"),
        ("$12,483 / ($19,803 + $10,387) * 365", "150.9206690957270619410400795"),
        ("9,221 - 3,403", "5818"),
        ("2 + 3 * 4", "14"),
        ("(2 + 3) × 4", "20"),
        ("10 ÷ 4 − 1", "1.5"),
        ("$328.1 million / $900.0 million", "0.3645555555555555555555555556"),
    ],
)
def test_written_calculations_are_worked_out_with_precedence_and_brackets(expression: str, value: str) -> None:
    assert evaluate(expression) == Decimal(value)


@pytest.mark.parametrize(
    "expression",
    ["5 / 0", "(2 + 3", "2 + 3)", "$1.2 billion - 900 million", "2 +"],
)
def test_what_cannot_be_worked_out_is_not_judged(expression: str) -> None:
    # Division by zero, unbalanced brackets, mixed scale words (the units would be judged, not the sums).
    assert evaluate(expression) is None


def test_a_wrong_result_is_marked_with_what_the_expression_comes_to() -> None:
    text = (
        "The ratio is calculated as (Cost of goods sold / Average inventory) * 365 = "
        "$12,483 / ($19,803 + $10,387) * 365 = 1.4 times [2][3]."
    )
    [calc] = check_arithmetic(text)
    assert calc.expression == "$12,483 / ($19,803 + $10,387) * 365" and calc.written == "1.4"
    assert not calc.correct
    assert calc.note() == "Arithmetic checked: $12,483 / ($19,803 + $10,387) * 365 comes to 150.92, not 1.4."


def test_a_percentage_is_checked_as_written_or_as_the_ratio_a_hundred_times() -> None:
    right, ratio, wrong = check_arithmetic(
        "Share: (4,882 / 5,512) * 100 = 88.6%. Q4: $328.1 / $900.0 = 36%. Capex: 4,882 / 5,512 = 86.8%."
    )
    assert right.correct and ratio.correct and not wrong.correct
    assert wrong.note() == "Arithmetic checked: 4,882 / 5,512 comes to 88.57%, not 86.8%."


def test_results_are_judged_to_their_own_precision_and_without_their_sign() -> None:
    value = Decimal("24.2579")
    assert agrees(value, "24.26") and agrees(value, "24.3") and agrees(value, "24")
    assert agrees(value, "24.25")  # cut, not rounded: a small slip, not a wrong sum
    assert not agrees(value, "24.36") and not agrees(value, "25")
    # "International sales declined 0.6%": 2.4% - 3.0% written as a decline.
    assert agrees(Decimal("-0.6"), "0.6%")


def test_ranges_years_and_sentences_without_a_result_are_no_calculations() -> None:
    assert check_arithmetic("Revenue grew from 2019-2020 = 12 stores opened") == ()
    assert check_arithmetic("From FY2020 - FY2022 = 3 years") == ()
    assert check_arithmetic("Net working capital is 9,221 - 3,403 million [1].") == ()
    assert check_arithmetic("The 2019–2020 total = 12") == ()
    assert check_arithmetic("Cash as of 12/31/2022 = $5.8 billion [1].") == ()
    # "capital = 9,221" starts no calculation; the one after it is checked.
    [(expression, correct)] = [(c.expression, c.correct) for c in check_arithmetic("capital = 9,221 - 3,403 = 5,818")]
    assert expression == "9,221 - 3,403" and correct


def test_several_calculations_in_one_answer_are_each_checked() -> None:
    calcs = check_arithmetic("2 x 3 = 6, and 12 × 2 = 25 [1].")
    assert [(c.expression, c.correct) for c in calcs] == [("2 x 3", True), ("12 × 2", False)]


def test_a_sum_meant_left_to_right_is_not_judged_by_precedence() -> None:
    # "$253 million + $282 million / 2" is the average the model meant; 253 + 141 is no one's answer.
    [meant] = check_arithmetic("The average PP&E is $253 million + $282 million / 2 = $267.5 million [1].")
    assert meant.correct and meant.value == Decimal("394")
    [wrong] = check_arithmetic("Average: ($2,530 + $2,822) / 2 = $2,676.5 million.")
    assert not wrong.correct
    assert wrong.note() == "Arithmetic checked: ($2,530 + $2,822) / 2 comes to $2,676.0 million, not $2,676.5 million."


def test_calculator_marks_and_a_unit_before_the_result_are_read() -> None:
    [marked] = check_arithmetic("which equals <<(5,450 + 6,228) / 2>> = 3,839 [2].")
    assert marked.expression == "(5,450 + 6,228) / 2" and not marked.correct
    [days] = check_arithmetic("(Cost / Average inventory) * 365 days = $14,127 / $12,483 * 365 days = 413.07 [1]")
    assert days.expression == "$14,127 / $12,483 * 365" and days.correct
