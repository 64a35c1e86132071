"""Find ``[n]`` citation markers in an answer and map them to the numbered sources."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One bracketed marker holding one or more numbers: [1], [1, 3], [2-3], [1;2], [Source 2], [sources 1 and 4].
# Three digits at most, so years like [2021] or big indices are not taken for citations.
_NUM = r"(?:sources?\s*)?\d{1,3}"
_SEP = r"\s*(?:,|;|-|–|—|\band\b|&)\s*"
_MARKER = re.compile(rf"\[\s*({_NUM}(?:{_SEP}{_NUM})*)\s*\]", re.IGNORECASE)
_MARKER_WITH_SPACE = re.compile(r"([ \t]*)" + _MARKER.pattern, re.IGNORECASE)
_PART = re.compile(r"(\d{1,3})(?:\s*[-–—]\s*(?:sources?\s*)?(\d{1,3}))?", re.IGNORECASE)
# A range wider than this is almost certainly not a citation of every source in between.
_MAX_RANGE = 20


@dataclass(frozen=True)
class CitationReport:
    """Which source numbers an answer cites; ``invalid`` ones were never given to the model."""

    cited: tuple[int, ...]
    invalid: tuple[int, ...]

    @property
    def uncited(self) -> bool:
        return not self.cited


def _numbers(body: str) -> list[int]:
    """Expand the inside of one marker ("1, 3-4") into numbers, in written order."""
    out: list[int] = []
    for m in _PART.finditer(body):
        first = int(m.group(1))
        if m.group(2) is None:
            out.append(first)
            continue
        last = int(m.group(2))
        low, high = min(first, last), max(first, last)
        out.extend(range(low, high + 1) if high - low <= _MAX_RANGE else (low, high))
    return out


def _unique(values: list[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


def parse_citations(text: str, n_sources: int) -> CitationReport:
    """Collect cited source numbers (first-appearance order) and those outside ``1..n_sources``."""
    numbers = [n for m in _MARKER.finditer(text) for n in _numbers(m.group(1))]
    valid = [n for n in numbers if 1 <= n <= n_sources]
    invalid = [n for n in numbers if not 1 <= n <= n_sources]
    return CitationReport(cited=_unique(valid), invalid=_unique(invalid))


def clean_citations(text: str, n_sources: int) -> str:
    """Rewrite markers so they only name given sources; a marker left empty is removed."""

    def fix(m: re.Match[str]) -> str:
        numbers = _numbers(m.group(2))
        valid = _unique([n for n in numbers if 1 <= n <= n_sources])
        if len(valid) == len(_unique(numbers)):
            return m.group(0)
        # The space before a removed marker goes too, so "claim [9]." becomes "claim.".
        return f"{m.group(1)}[{', '.join(str(n) for n in valid)}]" if valid else ""

    return _MARKER_WITH_SPACE.sub(fix, text)


def page_ref(page: int, page_end: int | None = None) -> str:
    """Human page reference from 0-based page indices: "p. 4" or "pp. 4–5"."""
    if page_end is not None and page_end > page:
        return f"pp. {page + 1}–{page_end + 1}"
    return f"p. {page + 1}"


def source_label(file_name: str, page: int, page_end: int | None = None) -> str:
    """ "report.pdf, p. 4" for showing a source to a person."""
    return f"{file_name}, {page_ref(page, page_end)}"
