"""Citations moved to the source that holds the sentence's figures, when the model cited one that does not.

A small model often states a figure right and cites the wrong number: "$12,645 million [3]" where source 5,
the balance sheet, holds 12,645 and source 3 does not. The reader who opens [3] finds nothing and distrusts a
right answer; the one who trusts it is pointed at the wrong page. When the sources a sentence cites lack its
figures and some of them hold none at all, and another source holds what it states (every figure and enough
of its words), that source's marker replaces theirs and the move is reported, so the answer shows which
citation the app changed and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.answer.citations import marker_spans
from rag.answer.figures import Figure, figures
from rag.answer.support import (
    SourceFacts,
    claim_text,
    content_terms,
    list_prefix,
    sentence_pieces,
    source_facts,
    words_held,
)
from rag.answer.terms import key_terms

_TRAILING_SPACE = re.compile(r"[ \t]*$")
_UNIT_MARK = re.compile(r"[%$€£₩¥]|percent|퍼센트", re.IGNORECASE)


@dataclass(frozen=True)
class CitationMove:
    """The model cited ``cited`` for ``sentence``; none holds its ``figures``; source ``to`` holds them all."""

    sentence: str
    cited: tuple[int, ...]
    to: int
    figures: tuple[str, ...]

    def note(self) -> str:
        """The move, said to the reader."""
        was = " ".join(f"[{n}]" for n in self.cited)
        where = "source " + " or ".join(str(n) for n in self.cited)
        held = ", ".join(self.figures)
        return f"Citation moved from {was} to [{self.to}]: {held} is in source {self.to}, not in {where}."


def _distinctive(f: Figure) -> bool:
    """A figure that picks out its source: not a date or a year (context: "in 2022"), nor a small count ("two
    segments", "5 per month") that most pages hold somewhere."""
    if f.value is None:
        return False
    year = f.decimals == 0 and f.scale == 1 and 1900 <= f.value <= 2100 and f.text.lstrip("'’‘").isdigit()
    return not year and (f.value >= 100 or f.decimals > 0 or f.scale != 1 or bool(_UNIT_MARK.search(f.text)))


def _target(piece: str, facts: Mapping[int, SourceFacts]) -> tuple[tuple[int, ...], int, tuple[Figure, ...]] | None:
    """(the cited sources that hold none of the sentence's figures, the source to cite instead, the figures)."""
    cited = [n for _, _, numbers in marker_spans(piece) for n in numbers if n in facts]
    cited = list(dict.fromkeys(cited))
    if not cited:
        return None
    text = claim_text(piece)
    claimed = tuple(f for f in figures(text) if _distinctive(f))
    if not claimed:
        return None
    held = {n: [f for f in claimed if facts[n].holds(f)] for n in cited}
    if all(any(f in held[n] for n in cited) for f in claimed):
        return None  # the cited sources hold every figure between them: nothing to move
    empty = tuple(n for n in cited if not held[n])
    if not empty:
        return None  # each cited source holds part: the check marks what is missing, the citation stays
    terms = content_terms(key_terms(text))
    candidates: list[tuple[float, int]] = []
    for m, f_m in facts.items():
        if m in cited or not all(f_m.holds(f) for f in claimed):
            continue
        ok, share = words_held(terms, f_m)
        if ok:
            candidates.append((share, -m))
    if not candidates:
        return None
    _, neg = max(candidates)
    return empty, -neg, claimed


def _rewrite(piece: str, empty: Sequence[int], to: int) -> str:
    """The sentence with ``empty`` sources' markers replaced by one ``[to]`` where the first of them stood."""
    out, last, placed = [], 0, False
    for begin, end, numbers in marker_spans(piece):
        kept: list[int] = []
        for n in numbers:
            if n not in empty:
                kept.append(n)
            elif not placed:
                kept.append(to)
                placed = True
        before = piece[last:begin]
        if kept:
            out.append(before + "".join(f"[{n}]" for n in dict.fromkeys(kept)))
        else:  # the marker goes, and the space before it
            out.append(_TRAILING_SPACE.sub("", before))
        last = end
    out.append(piece[last:])
    return "".join(out)


def repoint_citations(answer: str, sources: Mapping[int, str]) -> tuple[str, tuple[CitationMove, ...]]:
    """The answer with citations moved where its figures are (see the module docstring), and the moves."""
    facts = {n: source_facts(text) for n, text in sources.items()}
    lines, moves = [], []
    for line in answer.split("\n"):
        cut = list_prefix(line)
        pieces = []
        for piece in sentence_pieces(line[cut:]):
            found = _target(piece, facts)
            if found is not None:
                empty, to, claimed = found
                piece = _rewrite(piece, empty, to)
                moves.append(CitationMove(claim_text(piece), empty, to, tuple(dict.fromkeys(f.text for f in claimed))))
            pieces.append(piece)
        lines.append(line[:cut] + "".join(pieces))
    return "\n".join(lines), tuple(moves)
