"""Does each cited source hold what its sentence claims? Numbers, dates and key terms checked, no model.

A small model cites confidently and wrongly (a digit off, a figure cited to the wrong source). Every cited
sentence is checked against the text of each source it cites: its numbers (written any way: "5,794" is
"5794", "21.6 percent" is "21.6%", "$5.8 billion" rounds "5,794" million) must appear there, and enough of
its content words. Numbers the answer states that no source holds at all are listed too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.answer.arithmetic import check_arithmetic
from rag.answer.citations import SOURCE_REF, marker_spans
from rag.answer.figures import Figure, declared_scales, figures, found_in, source_keys
from rag.answer.terms import key_terms

# A list item's number and a heading's hashes are layout, not figures.
_LIST_NUMBER = re.compile(r"^\s*(?:#+\s*)?(?:\d{1,2}[.)]|[-*•])\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?。！？])")


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


def forward_parts(piece: str) -> list[str]:
    """A sentence that opens with a marker and numbers its parts with more ("[1] 657,680 백만원 [2] 청년고용 …")
    cut into one part per marker: such a marker cites what follows it, as a small model lists its sources' facts.

    Markers with no text after them ("[1] 신청서 제출 [2][3]") stay with the part before them.
    """
    spans = marker_spans(piece)
    if len(spans) < 2 or piece[: spans[0][0]].strip():
        return [piece]
    cuts, last_end = [], 0
    for start, end, _ in spans:
        if not cuts or piece[last_end:start].strip():
            cuts.append(start)
        last_end = end
    if len(cuts) > 1 and not claim_text(piece[cuts[-1] :]):
        cuts.pop()
    return [piece[a:b] for a, b in zip(cuts, [*cuts[1:], len(piece)])]


def split_claims(answer: str) -> list[Claim]:
    """The answer's sentences (line by line), each with its markers (``sentence_pieces``); a sentence whose
    markers number its parts, one claim per part (``forward_parts``)."""
    claims = []
    for line in answer.splitlines():
        for piece in (p for whole in sentence_pieces(line[list_prefix(line) :]) for p in forward_parts(whole)):
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
    declared: frozenset[int] = frozenset()  # the units its tables are declared in ("단위: 백만원")

    def holds(self, claimed: Figure) -> bool:
        """The text holds the figure (``found_in``)."""
        return found_in(claimed, self.keys, self.figures, self.declared)


def source_facts(text: str) -> SourceFacts:
    """The figures and content words of one source's text."""
    found = figures(text)
    return SourceFacts(
        tuple(found), frozenset(source_keys(found)), frozenset(content_terms(key_terms(text))), declared_scales(text)
    )


def content_terms(terms: set[str]) -> set[str]:
    """The words among ``key_terms`` (digit runs are the figures' business)."""
    return {t for t in terms if not t.isdigit()}


def words_held(terms: set[str], facts: SourceFacts) -> tuple[bool, float]:
    """Whether a source holds enough of a claim's content words, and the share it holds."""
    shared = len(terms & facts.terms)
    share = shared / len(terms) if terms else 1.0
    return share >= MIN_TERM_SHARE or shared >= MIN_SHARED_TERMS, share


def _unique_texts(found: Sequence[Figure], facts: SourceFacts | None = None) -> tuple[str, ...]:
    """The figures as written, each once; one whose digits the source holds in another unit says so."""
    return tuple(dict.fromkeys(_as_missing(f, facts) for f in found))


_UNIT_NAMES = {1: "원", 10**3: "천원", 10**4: "만원", 10**6: "백만원", 10**7: "천만원", 10**8: "억원", 10**9: "십억원"}
_UNIT_NAMES_EN = {10**3: "thousands", 10**6: "millions", 10**9: "billions"}


def _as_missing(figure: Figure, facts: SourceFacts | None) -> str:
    """``figure`` as written, with the unit of the source's table when the source has its digits in that unit
    ("657,680만 (the table is in 백만원)": the answer read the table's unit wrong, by a factor of a hundred)."""
    if facts is None or figure.scale == 1 or not facts.declared or figure.key not in facts.keys:
        return figure.text
    korean = bool(re.search(r"[\uac00-\ud7a3]", figure.text))
    names = [(_UNIT_NAMES if korean else _UNIT_NAMES_EN).get(k) for k in sorted(facts.declared)]
    shown = " or ".join(n for n in names if n)
    return f"{figure.text} (the table is in {shown})" if shown else figure.text


# Words a sentence uses to point at its sources rather than to say something ("... consists of the steps
# described in [2] and [3]", "...[2]에서 설명된 단계로 구성되어 있습니다").
POINTER_WORDS = (
    "described describe shown show listed list explained explain outlined outline detailed detail mentioned "
    "mention stated state provided provide given found see refer referred following follow information "
    "source document passage step consist consists include includes "
    "설명 나와 나온 제시 명시 언급 참조 참고 구성 다음 내용 출처 자료 문서 단계 포함 이루어 에서 확인"
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


def _points_only(terms: set[str], restating: set[str]) -> bool:
    """A sentence without figures that points at its sources and otherwise repeats the question's words."""
    return bool(terms & _POINTING) and len(terms - restating) <= _RESTATING_SLACK * len(terms)


def says_nothing_new(answer: str, question: str) -> bool:
    """Whether no sentence of the answer says anything: each is empty once its markers and copied source
    headers are gone, or only points at its sources in the question's words and figures ("2020년부터
    2024년까지 사업비는 [1]에서 확인할 수 있습니다")."""
    restating = content_terms(key_terms(question)) | _POINTING
    asked = {f.key for f in figures(question)}
    for claim in split_claims(SOURCE_REF.sub(" ", answer)):
        terms = content_terms(key_terms(claim.text))
        if any(f.key not in asked for f in figures(claim.text)) or (terms and not _points_only(terms, restating)):
            return False
    return True


def check_support(answer: str, sources: Mapping[int, str], question: str = "") -> SupportReport:
    """Check every citation of ``answer`` against ``sources`` (number -> the text the model was given).

    A citation is supported when its sentence's figures all appear in that source and enough content
    words do: of the words it adds to the ``question``, when it adds enough (``_said``). A sentence citing
    several sources may draw a figure from each: then every figure must be in one of them, and each cited
    source must hold at least one figure or enough words. Given the ``question``, a sentence without
    figures that points at its sources ("the steps described in [2]") and otherwise only repeats the
    question's words claims nothing to check: it shares words with any source it cites. A plain
    restatement ("Boeing's business is not subject to cyclicality") is still checked, on all its words.
    The result of a calculation the sentence writes out and gets right ("249.99 + 50.01 = 300.00") need not be
    in the source; the figures it is made of must.
    """
    asked = content_terms(key_terms(question))
    restating = asked | _POINTING if question else None
    facts = {n: source_facts(text) for n, text in sources.items()}
    everything = source_facts("\n\n".join(sources.values()))
    checks: list[CitationCheck] = []
    unsupported: list[Figure] = []
    for claim in split_claims(SOURCE_REF.sub(" ", answer)):
        # The result of a calculation worked out right is the app's to vouch for, not the source's: its figures are.
        derived = {f.key for c in check_arithmetic(claim.text) if c.correct for f in figures(c.written)}
        claimed = [f for f in figures(claim.text) if f.key not in derived]
        unsupported += [f for f in claimed if not everything.holds(f)]
        cited = [n for n in claim.sources if n in facts]
        if not cited:
            continue
        terms = content_terms(key_terms(claim.text))
        if not terms and not claimed:  # "[2][3]" alone, or a copied source header: nothing claimed to check
            continue
        if restating is not None and not claimed and _points_only(terms, restating):
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
            checks.append(CitationCheck(claim.text, n, supported, _unique_texts(missing, facts[n]), round(share, 3)))
    rate = sum(c.supported for c in checks) / len(checks) if checks else None
    return SupportReport(tuple(checks), _unique_texts(unsupported, everything), rate)
