"""Scores of an answer against the gold answer (pure functions): the gold's figures found in it, token F1 over
content terms, and a verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import takewhile
from pathlib import Path
from typing import Literal

from rag.answer.citations import SOURCE_REF, marker_spans
from rag.answer.figures import Figure, figures
from rag.answer.terms import key_terms
from rag.eval.qa import file_key
from rag.index.textnorm import SHORT_YEAR, YEAR

Verdict = Literal["correct", "partly", "wrong", "refused", "error"]
Grade = Literal["exact", "rounded", "missing"]

CORRECT_F1 = 0.5
PARTLY_F1 = 0.25
# A figure without a scale word may be a table's thousands or millions ("$12645.00" in a filing's millions).
_TABLE_SCALES = (1, 10**3, 10**6, 10**9)
_PERCENT = re.compile(r"%|percent|per cent|pct|퍼센트|프로", re.IGNORECASE)

# -- scoring (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberMatch:
    """One figure of the gold answer and how the answer gives it."""

    gold: str
    grade: Grade
    found: str | None = None


@dataclass(frozen=True)
class AnswerScore:
    """An answer against its gold answer."""

    verdict: Verdict
    f1: float
    numbers: tuple[NumberMatch, ...] = ()

    @property
    def exact(self) -> int:
        return sum(m.grade == "exact" for m in self.numbers)

    @property
    def rounded(self) -> int:
        return sum(m.grade == "rounded" for m in self.numbers)


def without_markers(text: str) -> str:
    """The text without its ``[n]`` citation markers and copied source headers (their digits are no figures
    or words of the answer)."""
    for start, end, _ in reversed(marker_spans(text)):
        text = text[:start] + " " + text[end:]
    return SOURCE_REF.sub(" ", text)


def gold_figures(gold: str, question: str = "") -> list[Figure]:
    """The figures an answer must give: the gold answer's, less those the question states itself."""
    asked = {f.key for f in figures(question)}
    out: dict[str, Figure] = {}
    for f in figures(gold):
        if f.key not in asked:
            out.setdefault(f.key, f)
    return list(out.values())


def _is_percent(f: Figure) -> bool:
    return bool(_PERCENT.search(f.text))


def _is_year(f: Figure) -> bool:
    """A year as written, in full or short ("1996", "’22"): no currency, separator or scale word."""
    return not f.is_date and bool(YEAR.fullmatch(f.text) or SHORT_YEAR.fullmatch(f.text))


def _scale_pairs(gold: Figure, given: Figure) -> list[tuple[int, int]]:
    """(gold scale, answer scale) pairs to compare at: a scale word where written, else any table scale."""
    if gold.scale == given.scale or (gold.scale != 1 and given.scale != 1) or _is_percent(gold) or _is_percent(given):
        return [(gold.scale, given.scale)]
    if gold.scale == 1:
        return [(k, given.scale) for k in _TABLE_SCALES]
    return [(gold.scale, k) for k in _TABLE_SCALES]


def _decimals(value: Decimal) -> int:
    """Decimal places without trailing zeros (12645.00 has none)."""
    return max(0, -value.normalize().as_tuple().exponent)  # type: ignore[operator]


def _significant(value: Decimal) -> int:
    """Significant digits as written (2.0 has two; 12,000 has two: trailing zeros of a whole number are not)."""
    digits = value.as_tuple().digits
    text = "".join(map(str, digits)).lstrip("0")
    return len(text if value.as_tuple().exponent < 0 else text.rstrip("0")) or 1  # type: ignore[operator]


def number_grade(gold: Figure, given: Figure) -> Grade:
    """How ``given`` gives ``gold``: exact (within one unit of the gold's last digit: 24.25-24.27 for 24.26;
    equal for a gold of one or two significant digits, where one unit is another number: 4 is not 5),
    rounded (the gold rounded to the answer's coarser precision: 24.3 or 24 for 24.26) or missing.

    Signs are not compared (a table's "(123)" is 123). A year is exact only as itself.
    """
    if _is_year(gold):  # 1995 is another year, not 1996 within a unit
        return "exact" if given.value == gold.value and given.scale == 1 else "missing"
    if gold.is_date or given.is_date:
        match = given.key == gold.key or (gold.is_date and given.key.startswith(gold.key + "-"))
        return "exact" if match else "missing"
    assert gold.value is not None and given.value is not None
    best: Grade = "missing"
    for kg, ka in _scale_pairs(gold, given):
        target, amount = gold.value * kg, given.value * ka
        # The gold's last significant digit: FinanceBench writes "$12645.00" for a figure in whole millions.
        unit = Decimal(10) ** -_decimals(gold.value) * kg
        quantum = Decimal(10) ** -given.decimals * ka
        if quantum <= unit:
            if abs(target - amount) <= (unit if _significant(gold.value) >= 3 else 0):
                return "exact"
            continue
        # Coarser than the gold: a rounding of it, if it keeps two significant digits ("1" is no answer to 1.33).
        if _significant(given.value) < 2:
            continue
        try:
            rounded = (target / quantum).quantize(Decimal(1), ROUND_HALF_UP) * quantum
        except InvalidOperation:  # beyond Decimal's precision: no rounding of it
            continue
        if rounded == amount:
            best = "rounded"
    return best


def match_numbers(gold: Sequence[Figure], answer: str) -> tuple[NumberMatch, ...]:
    """Each gold figure with the best grade any of the answer's figures earns, and that figure."""
    given = figures(without_markers(answer))
    out = []
    for g in gold:
        grades = [(number_grade(g, a), a) for a in given]
        exact = next((a for grade, a in grades if grade == "exact"), None)
        rounded = next((a for grade, a in grades if grade == "rounded"), None)
        if exact is not None:
            out.append(NumberMatch(g.text, "exact", exact.text))
        elif rounded is not None:
            out.append(NumberMatch(g.text, "rounded", rounded.text))
        else:
            out.append(NumberMatch(g.text, "missing"))
    return tuple(out)


def token_f1(answer: str, gold: str) -> float:
    """F1 of the two texts' content terms (``key_terms``: lower-cased words, Korean as bigrams of stems;
    no digit runs)."""
    # Figures are matched as numbers; as terms "24.26" would be "24" and "26".
    got = {t for t in key_terms(without_markers(answer)) if not t.isdigit()}
    want = {t for t in key_terms(gold) if not t.isdigit()}
    shared = len(got & want)
    if not shared:
        return 0.0
    precision, recall = shared / len(got), shared / len(want)
    return 2 * precision * recall / (precision + recall)


def verdict(numbers: Sequence[NumberMatch], f1: float, *, refused: bool = False, failed: bool = False) -> Verdict:
    """The question's verdict from its figures and F1 (see the module docstring)."""
    if failed:
        return "error"
    if refused:
        return "refused"
    if numbers and all(m.grade == "exact" for m in numbers):
        return "correct"
    if not numbers and f1 >= CORRECT_F1:
        return "correct"
    if any(m.grade != "missing" for m in numbers) or f1 >= PARTLY_F1:
        return "partly"
    return "wrong"


def score_answer(
    answer: str, gold: str, question: str = "", *, refused: bool = False, failed: bool = False
) -> AnswerScore:
    """Score one answer's text against the gold answer."""
    numbers = match_numbers(gold_figures(gold, question), answer)
    f1 = token_f1(answer, gold)
    return AnswerScore(verdict(numbers, f1, refused=refused, failed=failed), round(f1, 4), numbers)


def issuer(file_name: str) -> str:
    """Who a document is about, from its file name: the parts before the first one starting with a digit
    ("JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf" -> "johnson_johnson"), or the whole name when none does."""
    stem = Path(file_key(file_name)).stem
    parts = [p for p in re.split(r"[_\s-]+", stem) if p] or [stem]
    # The first part is the name even when it starts with a digit ("3M_2018_10K").
    lead = [parts[0], *takewhile(lambda p: not p[:1].isdigit(), parts[1:])]
    return "_".join(lead).casefold()
