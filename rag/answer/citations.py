"""Find ``[n]`` citation markers in an answer (near-miss forms normalised first) and map them to sources."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One bracketed marker holding one or more numbers: [1], [1, 3], [2-3], [1;2], [Source 2], [sources 1 and 4].
# Three digits at most, so years like [2021] or big indices are not taken for citations.
_NUM = r"(?:sources?\s*)?\d{1,3}"
_SEP = r"\s*(?:,|;|-|–|—|\band\b|&)\s*"
_MARKER = re.compile(rf"\[\s*({_NUM}(?:{_SEP}{_NUM})*)\s*\]", re.IGNORECASE)
_MARKER_WITH_SPACE = re.compile(r"([ \t]*)" + _MARKER.pattern, re.IGNORECASE)
#: A source's header copied into an answer ("REPORT.pdf, p. 4", "a.pdf, pp. 2–3"): a reference, not a claim.
SOURCE_REF = re.compile(r"[^\s\[\]]+\.pdf,\s*pp?\.\s*\d+(?:\s*[–-]\s*\d+)?", re.IGNORECASE)
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
    """Values in first-appearance order, each once."""
    return tuple(dict.fromkeys(values))


# -- near-miss citations -----------------------------------------------------------------------------
# Small models cite by copying the source tag or by habits from other tools. Each form below is rewritten
# to [n]; every one needs a word ("source", "출처"), a tag or an unusual bracket, so a year "(2019)", an
# amount "(123)" or a list number "1." never becomes a citation. Numbers have three digits at most.
_N = r"\d{1,3}"
_NS = rf"{_N}(?:\s*(?:,|;|-|–|—|\band\b|&|및|와|과)\s*(?:sources?\s*)?{_N})*"
_WORD = r"(?:sources?|출처|소스|자료|documents?|docs?)"
_NEAR_MISS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A copied source tag: <source id="3" file="a.pdf" page="p. 2">, <source id=3>, <source 3>, <source [3] …>.
    (re.compile(rf"<\s*source\b[^<>\n]*?(?:\bid\s*=\s*[\"']?|\s|\[)({_N})\b[^<>\n]*>", re.IGNORECASE), r"[\1]"),
    # A copied closing tag, or an opening one without a number, carries no citation.
    (re.compile(r"[ \t]*<\s*/\s*source\b[^<>\n]*>", re.IGNORECASE), ""),
    (re.compile(r"<\s*source\s*>\s*", re.IGNORECASE), ""),
    # (source 3), (Source: 3), (sources 1, 2), (출처 3), (see source 3)
    (re.compile(rf"\(\s*(?:see\s+)?{_WORD}\s*(?:#|no\.?|:)?\s*({_NS})\s*\)", re.IGNORECASE), r"[\1]"),
    # [source: 3], [Source #3], [출처: 3], [doc 3]; the plain [Source 3] is parsed as it is.
    (re.compile(rf"\[\s*{_WORD}\s*(?:#|no\.?|:)\s*({_NS})\s*\]", re.IGNORECASE), r"[\1]"),
    (re.compile(rf"\[\s*(?:출처|소스|자료|documents?|docs?)\s*({_NS})\s*\]", re.IGNORECASE), r"[\1]"),
    # 【3】, 【3†source】, ［3］ (full-width brackets), [3†L1-L5] (a tool's anchor after a dagger)
    (re.compile(rf"[【［]\s*({_NS})\s*(?:†[^】］\n]*)?[】］]"), r"[\1]"),
    (re.compile(rf"\[\s*({_NS})\s*†[^\]\n]*\]"), r"[\1]"),
    # [^3] (a footnote), [[3]] (a wiki link), [3, p. 4] / [1, page 2] (a page after the number)
    (re.compile(rf"\[\^\s*({_N})\s*\]"), r"[\1]"),
    (re.compile(rf"\[\[\s*({_NS})\s*\]\]"), r"[\1]"),
    (re.compile(rf"\[\s*({_N})\s*,\s*(?:p\.|pp\.|pages?)\s*[\d\s,–-]*\]", re.IGNORECASE), r"[\1]"),
    # A copied source header, "[1] REPORT.pdf, p. 3, the claim": the marker stays, the file and page go.
    (re.compile(rf"\[({_N})\][ \t]*{SOURCE_REF.pattern}[ \t]*[,:;]?[ \t]*", re.IGNORECASE), r"[\1] "),
    # "Source 3:" or "[Source 3]:" opening a line: the claim that follows is the source's.
    (re.compile(rf"(?m)^([ \t]*(?:[-*•]\s+)?)\[?{_WORD}\s*({_N})\]?\s*:", re.IGNORECASE), r"\1[\2]"),
)


def normalise_citations(text: str) -> str:
    """Rewrite tag-style and near-miss citations (``<source id="3">``, ``(source 3)``, ``【3】``, ``[^3]``,
    ``[[3]]``, "Source 3:" …) as ``[n]``, so they are parsed, checked and shown like any other."""
    for pattern, replacement in _NEAR_MISS:
        text = pattern.sub(replacement, text)
    return text


def marker_spans(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """(start, end, numbers) of every ``[n]``-style marker, in order."""
    return [(m.start(), m.end(), tuple(_numbers(m.group(1)))) for m in _MARKER.finditer(text)]


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


def only_pointers(text: str) -> bool:
    """The text says nothing of its own: empty, or only markers ("[2][3] [4]") and copied source headers.

    Small models sometimes answer with where the answer is instead of what it is.
    """
    rest = SOURCE_REF.sub(" ", _MARKER.sub(" ", text))
    return not re.search(r"[^\W_]", rest)


def page_ref(page: int, page_end: int | None = None) -> str:
    """Human page reference from 0-based page indices: "p. 4" or "pp. 4–5"."""
    if page_end is not None and page_end > page:
        return f"pp. {page + 1}–{page_end + 1}"
    return f"p. {page + 1}"


def source_label(file_name: str, page: int, page_end: int | None = None) -> str:
    """ "report.pdf, p. 4" for showing a source to a person."""
    return f"{file_name}, {page_ref(page, page_end)}"
