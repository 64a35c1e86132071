"""Calculations an answer writes out ("6,489 / ((253 + 282) / 2) = 24.26"), worked out again by the app.

Small models pick figures from their sources well enough and divide badly: the stand-in model wrote
"(4,882 / 5,512) * 100 = 86.8%" (88.57) and "$12,483 / ($19,803 + $10,387) * 365 = 1.4" (150.9). A result
that is not what its own expression gives is marked beside the answer; the figures it is made of are checked
against the sources as every figure is (``rag.answer.support``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation

_CURRENCY = r"[$€£₩¥]"
_SCALE_WORDS = r"thousand|million|billion|trillion|mn|bn"
_NUM = rf"{_CURRENCY}?\s?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?(?:\s?%|\s(?:{_SCALE_WORDS})\b)?"
# "x" and a hyphen or dash only between spaces ("0.36 x 100", "9,221 - 3,403"): "2019-2020" is a range.
_OP = r"[+*/×÷−]|(?<=\s)[-–x](?=\s)"
# The text as tokens: a word runs on through its digits ("FY2022", "Q4"), so no figure is read out of a name.
_SCAN = re.compile(
    rf"(?P<num>{_NUM})|(?P<op>{_OP})|(?P<open>[(\[])|(?P<close>[)\]])|(?P<eq>=)|(?P<space>\s+)"
    r"|(?P<word>[^\W\d_]\w*)|(?P<other>.)",
    re.IGNORECASE | re.DOTALL,
)
_RESULT = re.compile(rf"\s*[~≈]?\s*(?P<result>-?\s?{_NUM})", re.IGNORECASE)
_EXPRESSION_KINDS = frozenset({"num", "op", "open", "close", "space"})
#: Tokens read back from an "=": a written calculation is short, and the walk stays linear in the answer.
_MAX_TOKENS = 80
_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}")
_OPS = {"−": "-", "–": "-", "×": "*", "x": "*", "X": "*", "÷": "/"}


@dataclass(frozen=True)
class Calculation:
    """One written calculation: its expression, the result the answer gives and the one it comes to."""

    expression: str
    written: str
    value: Decimal
    correct: bool

    def note(self) -> str:
        shown = _show(self.value, self.expression, self.written)
        return f"Arithmetic checked: {self.expression} comes to {shown}, not {self.written}."


def _number(text: str) -> tuple[Decimal, str]:
    """A written figure's value (currency sign, commas and scale word dropped) and its scale word ("" or "%")."""
    digits = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    assert digits is not None
    unit = text[digits.end() :].strip().lower()
    return Decimal(digits.group(0).replace(",", "")), unit


def _apply(left: Decimal, op: str, right: Decimal) -> Decimal:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    return left * right if op == "*" else left / right


class _Parser:
    """Recursive descent over + - * / and brackets, in Decimal; ``flat``: every operator alike, left to right."""

    def __init__(self, tokens: list[tuple[str, str]], *, flat: bool = False) -> None:
        self.tokens, self.i, self.flat = tokens, 0, flat

    def parse(self) -> Decimal:
        value = self.sum()
        if self.i != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def sum(self) -> Decimal:
        value = self.product()
        ops = (("op", "+"), ("op", "-"), ("op", "*"), ("op", "/")) if self.flat else (("op", "+"), ("op", "-"))
        while (t := self.peek()) in ops:
            self.i += 1
            right = self.product()
            value = _apply(value, t[1], right)
        return value

    def product(self) -> Decimal:
        value = self.atom()
        while not self.flat and (t := self.peek()) in (("op", "*"), ("op", "/")):
            self.i += 1
            value = _apply(value, t[1], self.atom())
        return value

    def atom(self) -> Decimal:
        t = self.peek()
        if t is None:
            raise ValueError("expression ends early")
        self.i += 1
        if t[0] == "num":
            return Decimal(t[1])
        if t == ("op", "-"):
            return -self.atom()
        if t[0] == "open":
            value = self.sum()
            if self.peek() != ("close", ")"):
                raise ValueError("unclosed bracket")
            self.i += 1
            return value
        raise ValueError(f"unexpected {t[1]!r}")


def evaluate(expression: str, *, flat: bool = False) -> Decimal | None:
    """The value of a written calculation; None when it is not one (unbalanced, mixed scales, division by 0).

    ``flat``: read left to right, as "253 + 282 / 2 = 267.5" was meant."""
    tokens: list[tuple[str, str]] = []
    scales = set()
    for m in _SCAN.finditer(expression):
        kind = m.lastgroup or "other"
        if kind not in _EXPRESSION_KINDS:
            return None
        if kind == "num":
            value, unit = _number(m.group(0))
            if unit and unit != "%":  # a bare "/ 2" or "* 100" is a constant, not another scale
                scales.add(unit)
            tokens.append(("num", str(value)))
        elif kind == "op":
            tokens.append(("op", _OPS.get(m.group(0), m.group(0))))
        elif kind in ("open", "close"):
            tokens.append((kind, "(" if kind == "open" else ")"))
    if len(scales) > 1:  # "$1.2 billion - 900 million": the model's units, not its arithmetic, would be judged
        return None
    try:
        return _Parser(tokens, flat=flat).parse()
    except (ValueError, InvalidOperation, DivisionByZero, ZeroDivisionError):
        return None


def _decimals(written: str) -> int:
    m = re.search(r"\.(\d+)", written)
    return len(m.group(1)) if m else 0


def _show(value: Decimal, expression: str, written: str) -> str:
    """``value`` written as the result is (currency sign, percentage, decimals: at least two where it is not
    whole at the result's), a ratio as a percentage when the result is one and the expression has none."""
    percent = "%" in written
    if percent and "%" not in expression and abs(value) < 1:
        value *= 100
    places = _decimals(written)
    if value != value.quantize(Decimal(10) ** -places):
        places = max(2, places)
    currency = re.match(rf"-?\s?({_CURRENCY})", written)
    scale = _number(written)[1]
    suffix = "%" if percent else f" {scale}" if scale else ""
    return (currency.group(1) if currency else "") + f"{value:,.{places}f}" + suffix


def agrees(value: Decimal, written: str) -> bool:
    """Whether the written result is ``value`` rounded or cut to its own decimals, its sign aside ("a decline
    of 0.6%"); a percentage may also be the ratio a hundred times."""
    result, unit = _number(written)
    places = Decimal(10) ** -_decimals(written)
    candidates = [abs(value)]
    if unit == "%":
        candidates.append(abs(value) * 100)
    try:
        return any(c.quantize(places, mode) == result for c in candidates for mode in (ROUND_HALF_UP, ROUND_DOWN))
    except InvalidOperation:  # beyond Decimal's precision at those places: no rounding of it
        return False


def _expression_before(tokens: list[re.Match[str]], eq: int) -> tuple[str, Decimal] | None:
    """The calculation written just before the "=" at ``tokens[eq]``: the longest run of figures, operators
    and brackets that works out, past a closing ">>" ("<<a / b>> = c") or one unit word ("* 365 days = c")."""
    i = eq - 1
    while i >= 0 and tokens[i].lastgroup == "space":
        i -= 1
    if i >= 1 and tokens[i].group(0) == ">" and tokens[i - 1].group(0) == ">":
        i -= 2
    elif i >= 1 and tokens[i].lastgroup == "word" and tokens[i - 1].lastgroup == "space":
        i -= 2
    end = i
    while i >= 0 and end - i < _MAX_TOKENS and tokens[i].lastgroup in _EXPRESSION_KINDS:
        i -= 1
    run = list(tokens[i + 1 : end + 1])
    while run:
        while run and run[0].lastgroup not in ("num", "open"):
            run.pop(0)
        kinds = [t.lastgroup for t in run]
        if kinds.count("num") < 2 or "op" not in kinds:
            return None
        text = " ".join(run[0].string[run[0].start() : run[-1].end()].split())
        if _DATE.search(text):  # "as of 12/31/2022 = $5.8 billion" is no division
            return None
        if (value := evaluate(text)) is not None:
            return text, value
        run.pop(0)  # "(6,489 / 267.5 = 24.26)": an opening bracket the calculation does not close
    return None


def check_arithmetic(text: str) -> tuple[Calculation, ...]:
    """Each calculation written out with its result ("a / b = c"), worked out again."""
    text = unicodedata.normalize("NFKC", text)
    tokens = list(_SCAN.finditer(text))
    out = []
    for i, token in enumerate(tokens):
        if token.lastgroup != "eq" or (result := _RESULT.match(text, token.end())) is None:
            continue
        found = _expression_before(tokens, i)
        if found is None:
            continue
        expression, value = found
        written = " ".join(result.group("result").split())
        # Small models write "253 + 282 / 2" for the average: the sum meant is not judged by precedence.
        flat = evaluate(expression, flat=True)
        correct = agrees(value, written) or (flat is not None and agrees(flat, written))
        out.append(Calculation(expression, written, value, correct))
    return tuple(out)
