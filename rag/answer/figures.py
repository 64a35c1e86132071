"""Figures in text: numbers and dates as written, normalised so "5,794", "$5.8 billion" (of millions), "21.6
percent" and "’22" compare with the forms a source writes them in."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence, Set
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rag.index.textnorm import SHORT_YEAR, short_year

_SCALES = {
    "thousand": 10**3,
    "thousands": 10**3,
    "k": 10**3,
    "million": 10**6,
    "millions": 10**6,
    "mn": 10**6,
    "m": 10**6,
    "billion": 10**9,
    "billions": 10**9,
    "bn": 10**9,
    "b": 10**9,
    "trillion": 10**12,
    "천": 10**3,
    "만": 10**4,
    "백만": 10**6,
    "천만": 10**7,
    "억": 10**8,
    "십억": 10**9,
    "백억": 10**10,
    "천억": 10**11,
    "조": 10**12,
}
_PERCENT = {"%", "percent", "per cent", "pct", "퍼센트", "프로"}
_UNIT = "|".join(sorted((re.escape(u) for u in [*_SCALES, *_PERCENT]), key=len, reverse=True))
# Not glued to a Latin word or another number ("X200", "v1.2", "FY2022" are names, not figures); Hangul may
# follow ("2021년", "1,234억원"). A table's negative "(123)" is read as 123: signs are not compared.
_NUMBER = re.compile(
    rf"(?<![A-Za-z0-9_.,])(?:[$€£₩¥]\s?)?(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    rf"(?:\s*(?P<unit>{_UNIT}))?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATES = (
    re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<m>\d{1,2})-(?P<day>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<m>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})(?!\d)"),
    re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE),
    re.compile(rf"(?<!\d)(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE),
    re.compile(r"(?<!\d)(?P<year>\d{4})\s*년\s*(?P<m>\d{1,2})\s*월(?:\s*(?P<day>\d{1,2})\s*일)?"),
    re.compile(rf"\b{_MONTH}\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE),
)


@dataclass(frozen=True)
class Figure:
    """A number or date as the text writes it, and the normalised forms it is compared by."""

    text: str
    key: str  # "5794", "21.6", "date:2021-03-31", "date:2021-03"
    value: Decimal | None = None  # unsigned, without its scale word (None for dates)
    scale: int = 1
    decimals: int = 0

    @property
    def is_date(self) -> bool:
        return self.value is None


def _decimal_key(value: Decimal) -> str:
    """A Decimal's canonical text: "5.80" and "5.8" alike, never exponent notation."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dates(text: str) -> tuple[list[Figure], str]:
    """The dates in ``text``, and the text with them blanked out (so their parts are not read as numbers)."""
    found: list[Figure] = []
    chars = list(text)
    for pattern in _DATES:
        for m in pattern.finditer("".join(chars)):
            groups = m.groupdict()
            month = _MONTHS[groups["month"].lower()] if groups.get("month") else int(groups["m"])
            if not 1 <= month <= 12:
                continue
            key = f"date:{int(groups['year']):04d}-{month:02d}"
            if groups.get("day"):
                key += f"-{int(groups['day']):02d}"
            found.append(Figure(m.group(0), key))
            chars[m.start() : m.end()] = " " * (m.end() - m.start())
    return found, "".join(chars)


def _short_years(text: str) -> list[Figure]:
    """ "’22" as the year 2022 (compared as "2022" is: the same key and value)."""
    out = []
    for m in SHORT_YEAR.finditer(text):
        year = Decimal(short_year(m.group("yy")))
        out.append(Figure(m.group(0), _decimal_key(year), year))
    return out


def figures(text: str) -> list[Figure]:
    """Every date and number in ``text``, in no particular order (citation markers are the caller's)."""
    text = unicodedata.normalize("NFKC", text)
    found, rest = _dates(text)
    found, rest = found + _short_years(rest), SHORT_YEAR.sub(lambda m: " " * len(m.group(0)), rest)
    for m in _NUMBER.finditer(rest):
        digits = m.group("num").replace(",", "")
        try:
            value = Decimal(digits)
        except InvalidOperation:  # pragma: no cover - the pattern only admits digits
            continue
        unit = (m.group("unit") or "").lower()
        scale = _SCALES.get(unit, 1)
        decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
        found.append(Figure(m.group(0).strip(), _decimal_key(value), value, scale, decimals))
    return found


def source_keys(found: Sequence[Figure]) -> set[str]:
    """Keys a source offers: its figures, and a date's month and year on their own."""
    keys = set()
    for f in found:
        keys.add(f.key)
        if f.is_date:
            parts = f.key[5:].split("-")
            keys.add(f"date:{parts[0]}-{parts[1]}")
            keys.add(str(int(parts[0])))
    return keys


def _same_amount(claimed: Figure, amount: Decimal) -> bool:
    """``amount`` is the claimed amount, or rounds to it at the claim's precision."""
    assert claimed.value is not None
    target = claimed.value * claimed.scale
    quantum = Decimal(10) ** -claimed.decimals * claimed.scale
    try:
        return amount == target or (amount / quantum).quantize(Decimal(1), "ROUND_HALF_UP") * quantum == target
    except InvalidOperation:  # beyond Decimal's precision (an OCR'd run of digits): no rounding of it
        return False


def _rounds_to(claimed: Figure, source: Figure) -> bool:
    """``claimed`` is ``source`` rounded, with a scale word the source's table may leave unsaid:
    "$5.8 billion" from "5,794" (in millions), "21.6%" from "21.58"."""
    if claimed.value is None or source.value is None:
        return False
    if claimed.scale == 1 and source.scale == 1:
        scales = (1,)
    else:  # a figure without a scale word may be in thousands or millions (a filing's table)
        scales = (source.scale,) if source.scale != 1 else (1, 10**3, 10**6, 10**9)
    target = claimed.value * claimed.scale
    return any(source.value * k != target and _same_amount(claimed, source.value * k) for k in scales)


# A table's unit, said once above it: "(단위: 백만원, %)", "(Amounts in millions, except per share data)".
_DECLARED = re.compile(
    r"단위\s*[:：]?\s*(?P<ko>천|만|백만|천만|억|십억|조)?\s*원|\bin\s+(?P<en>thousands|millions|billions)\b",
    re.IGNORECASE,
)
_DECLARED_EN = {"thousands": 10**3, "millions": 10**6, "billions": 10**9}


def declared_scales(text: str) -> frozenset[int]:
    """The units a text's tables are declared in (1 for "단위: 원"); empty when it declares none."""
    found = set()
    for m in _DECLARED.finditer(unicodedata.normalize("NFKC", text)):
        if m.group("en"):
            found.add(_DECLARED_EN[m.group("en").lower()])
        else:
            found.add(_SCALES[m.group("ko")] if m.group("ko") else 1)
    return frozenset(found)


def found_in(
    claimed: Figure, keys: Set[str], source_figures: Sequence[Figure], declared: Set[int] = frozenset()
) -> bool:
    """The source holds the figure: the same normalised form, or (amounts) a rounding of one of its own.

    An amount with a scale word, in a source that declares its tables' unit, must be a figure of the source
    in that unit: "657,680만원" is not the "657,680" of a table in 백만원, "6,577억원" is.
    """
    if claimed.is_date:
        return claimed.key in keys
    if declared and claimed.scale != 1:
        for f in source_figures:
            if f.value is None:
                continue
            scales = {f.scale} if f.scale != 1 else {1, *declared}
            if any(_same_amount(claimed, f.value * k) for k in scales):
                return True
        return False
    if claimed.key in keys:
        return True
    return any(_rounds_to(claimed, f) for f in source_figures if not f.is_date)
