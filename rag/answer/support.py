"""Does each cited source hold what its sentence claims? Numbers, dates and key terms checked, no model.

A small model cites confidently and wrongly (a digit off, a figure cited to the wrong source). Every cited
sentence is checked against the text of each source it cites: its numbers (written any way: "5,794" is
"5794", "21.6 percent" is "21.6%", "$5.8 billion" rounds "5,794" million) must appear there, and enough of
its content words. Numbers the answer states that no source holds at all are listed too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rag.answer.citations import SOURCE_REF, marker_spans
from rag.answer.terms import key_terms
from rag.index.textnorm import SHORT_YEAR, short_year

# -- figures: numbers and dates as written, normalised for comparison ----------------------------------

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
    "만": 10**4,
    "억": 10**8,
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
# A list item's number and a heading's hashes are layout, not figures.
_LIST_NUMBER = re.compile(r"^\s*(?:#+\s*)?(?:\d{1,2}[.)]|[-*•])\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?。！？])")


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


def _source_keys(found: Sequence[Figure]) -> set[str]:
    """Keys a source offers: its figures, and a date's month and year on their own."""
    keys = set()
    for f in found:
        keys.add(f.key)
        if f.is_date:
            parts = f.key[5:].split("-")
            keys.add(f"date:{parts[0]}-{parts[1]}")
            keys.add(str(int(parts[0])))
    return keys


def _rounds_to(claimed: Figure, source: Figure) -> bool:
    """``claimed`` is ``source`` rounded, with a scale word the source's table may leave unsaid:
    "$5.8 billion" from "5,794" (in millions), "21.6%" from "21.58"."""
    if claimed.value is None or source.value is None:
        return False
    if claimed.scale == 1 and source.scale == 1:
        scales = (1,)
    else:  # a figure without a scale word may be in thousands or millions (a filing's table)
        scales = (source.scale,) if source.scale != 1 else (1, 10**3, 10**6, 10**9)
    quantum = Decimal(10) ** -claimed.decimals * claimed.scale
    target = claimed.value * claimed.scale
    for k in scales:
        amount = source.value * k
        try:
            rounded = (amount / quantum).quantize(Decimal(1), "ROUND_HALF_UP") * quantum
        except InvalidOperation:  # beyond Decimal's precision (an OCR'd run of digits): no rounding of it
            continue
        if amount != target and rounded == target:
            return True
    return False


def found_in(claimed: Figure, keys: Set[str], source_figures: Sequence[Figure]) -> bool:
    """The source holds the figure: the same normalised form, or (amounts) a rounding of one of its own."""
    if claimed.key in keys:
        return True
    if claimed.is_date:
        return False
    return any(_rounds_to(claimed, f) for f in source_figures if not f.is_date)


# -- claims: the answer's sentences with their citation markers -----------------------------------------

_SENTENCE_END = re.compile(r"(?:[.!?]+|[。！？]+)(?:\s*\[[^\]\n]{1,40}\])*(?=\s|$)|[。！？]+(?:\s*\[[^\]\n]{1,40}\])*")


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer, its markers removed, and the source numbers it cites."""

    text: str
    sources: tuple[int, ...]


def sentence_pieces(line: str) -> list[str]:
    """One line cut into its sentences as written, markers included (joined, they give the line back); a
    marker after the full stop ("… two years. [1]") belongs to the sentence before it."""
    start = 0
    pieces = []
    for m in _SENTENCE_END.finditer(line):
        pieces.append(line[start : m.end()])
        start = m.end()
    pieces.append(line[start:])
    return pieces


def claim_text(piece: str) -> str:
    """A sentence as checked: without its markers or spaces before its stops."""
    text = piece
    for begin, end, _ in reversed(marker_spans(text)):
        text = text[:begin] + text[end:]
    return _SPACE_BEFORE_STOP.sub(r"\1", " ".join(text.split()))


def list_prefix(line: str) -> int:
    """Length of the line's list number or heading hashes (layout, not a figure), 0 without one."""
    m = _LIST_NUMBER.match(line)
    return m.end() if m else 0


def split_claims(answer: str) -> list[Claim]:
    """The answer's sentences (line by line), each with its markers (``sentence_pieces``)."""
    claims = []
    for line in answer.splitlines():
        for piece in sentence_pieces(line[list_prefix(line) :]):
            cited = tuple(dict.fromkeys(n for _, _, numbers in marker_spans(piece) for n in numbers))
            text = claim_text(piece)
            if text or cited:
                claims.append(Claim(text, cited))
    return claims


# -- the report --------------------------------------------------------------------------------------

# A claim shares at least this share of its content words with a source that supports it. Answers
# paraphrase, so not all; a figure in the wrong source's sentence shares few.
MIN_TERM_SHARE = 0.4
# ... or at least this many, for long sentences that add connecting words the source lacks.
MIN_SHARED_TERMS = 4


@dataclass(frozen=True)
class CitationCheck:
    """One citation: does source ``source`` hold what ``sentence`` says?"""

    sentence: str
    source: int
    supported: bool
    missing_numbers: tuple[str, ...] = ()  # the sentence's figures this source lacks, as written
    term_share: float = 1.0  # share of the sentence's content words found in the source


@dataclass(frozen=True)
class SupportReport:
    """Every citation checked, and the figures the answer states that no source holds."""

    checks: tuple[CitationCheck, ...]
    unsupported_numbers: tuple[str, ...]
    support_rate: float | None  # supported checks / checks; None when nothing was cited

    def source_marks(self) -> dict[int, str]:
        """Per cited source: "supported" (every sentence citing it checks out), "not_found" (none does)
        or "partly"."""
        by_source: dict[int, list[bool]] = {}
        for check in self.checks:
            by_source.setdefault(check.source, []).append(check.supported)
        return {
            n: "supported" if all(results) else "not_found" if not any(results) else "partly"
            for n, results in by_source.items()
        }

    def missing_for(self, source: int) -> tuple[str, ...]:
        """Figures cited to ``source`` that it does not hold."""
        missing = [m for c in self.checks if c.source == source and not c.supported for m in c.missing_numbers]
        return tuple(dict.fromkeys(missing))


@dataclass(frozen=True)
class SourceFacts:
    """What a text offers a claim: its figures, their comparison keys and its content words."""

    figures: tuple[Figure, ...]
    keys: frozenset[str]
    terms: frozenset[str]

    def holds(self, claimed: Figure) -> bool:
        """The text holds the figure (``found_in``)."""
        return found_in(claimed, self.keys, self.figures)


def source_facts(text: str) -> SourceFacts:
    """The figures and content words of one source's text."""
    found = figures(text)
    return SourceFacts(tuple(found), frozenset(_source_keys(found)), frozenset(content_terms(key_terms(text))))


def content_terms(terms: set[str]) -> set[str]:
    """The words among ``key_terms`` (digit runs are the figures' business)."""
    return {t for t in terms if not t.isdigit()}


def words_held(terms: set[str], facts: SourceFacts) -> tuple[bool, float]:
    """Whether a source holds enough of a claim's content words, and the share it holds."""
    shared = len(terms & facts.terms)
    share = shared / len(terms) if terms else 1.0
    return share >= MIN_TERM_SHARE or shared >= MIN_SHARED_TERMS, share


def _unique_texts(found: Sequence[Figure]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.text for f in found))


# Words a sentence uses to point at its sources rather than to say something ("... consists of the steps
# described in [2] and [3]", "...[2]에서 설명된 단계로 구성되어 있습니다").
POINTER_WORDS = (
    "described describe shown show listed list explained explain outlined outline detailed detail mentioned "
    "mention stated state provided provide given found see refer referred following follow information "
    "source document passage step consist consists include includes "
    "설명 나와 나온 제시 명시 언급 참조 참고 구성 다음 내용 출처 자료 문서 단계 포함 이루어 에서"
)
# Korean terms are bigrams, and a verb's inflection leaves one or two ("설명된" gives "명된"): a sentence
# may hold this share of terms outside the question's and the pointer words and still say nothing new
# (a program named by its parent's name in "…창출지원 사업 집행절차는 [2]에서 설명된 단계로 구성되어 있습니다").
_RESTATING_SLACK = 1 / 3
_POINTING = frozenset(content_terms(key_terms(POINTER_WORDS)))


def _said(terms: set[str], asked: set[str]) -> set[str]:
    """The words a claim adds to the question, which its source must hold; all its words when it adds
    fewer than two or a small share (a restatement: "Yes, Boeing's business is subject to cyclicality").

    Any passage about the programme or company asked about shares the question's words; a Korean name
    alone gives nine bigrams ("청년일자리도약장려금"), enough for ``MIN_SHARED_TERMS``. What a claim says
    beyond the question is what tells the passage that holds it from the one that only names its subject.
    """
    added = terms - asked
    return added if len(added) >= 2 and len(added) > _RESTATING_SLACK * len(terms) else terms


def check_support(answer: str, sources: Mapping[int, str], question: str = "") -> SupportReport:
    """Check every citation of ``answer`` against ``sources`` (number -> the text the model was given).

    A citation is supported when its sentence's figures all appear in that source and enough content
    words do: of the words it adds to the ``question``, when it adds enough (``_said``). A sentence citing
    several sources may draw a figure from each: then every figure must be in one of them, and each cited
    source must hold at least one figure or enough words. Given the ``question``, a sentence without
    figures that points at its sources ("the steps described in [2]") and otherwise only repeats the
    question's words claims nothing to check: it shares words with any source it cites. A plain
    restatement ("Boeing's business is not subject to cyclicality") is still checked, on all its words.
    """
    asked = content_terms(key_terms(question))
    restating = asked | _POINTING if question else None
    facts = {n: source_facts(text) for n, text in sources.items()}
    everything = source_facts("\n\n".join(sources.values()))
    checks: list[CitationCheck] = []
    unsupported: list[Figure] = []
    for claim in split_claims(SOURCE_REF.sub(" ", answer)):
        claimed = figures(claim.text)
        unsupported += [f for f in claimed if not everything.holds(f)]
        cited = [n for n in claim.sources if n in facts]
        if not cited:
            continue
        terms = content_terms(key_terms(claim.text))
        if not terms and not claimed:  # "[2][3]" alone, or a copied source header: nothing claimed to check
            continue
        if (
            restating is not None
            and not claimed
            and terms & _POINTING
            and len(terms - restating) <= _RESTATING_SLACK * len(terms)
        ):
            continue
        held = {n: [f for f in claimed if facts[n].holds(f)] for n in cited}
        said = _said(terms, asked)
        for n in cited:
            words_ok, share = words_held(said, facts[n])
            missing = [f for f in claimed if f not in held[n]]
            if len(cited) == 1:
                supported = not missing and words_ok
            else:
                every_figure_somewhere = all(any(f in held[m] for m in cited) for f in claimed)
                supported = every_figure_somewhere and words_ok and (bool(held[n]) or not claimed)
            checks.append(CitationCheck(claim.text, n, supported, _unique_texts(missing), round(share, 3)))
    rate = sum(c.supported for c in checks) / len(checks) if checks else None
    return SupportReport(tuple(checks), _unique_texts(unsupported), rate)
