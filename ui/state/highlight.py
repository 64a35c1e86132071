"""Which part of a passage an answer relies on: the sentence it is cited (or found) for, and the cited figures,
marked in the escaped passage. Nothing here imports streamlit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.mdsafe import escape_markdown

# A sentence ends at . ! ? (followed by a space or the end: not "3.1" or "e.g.x"), or at a blank line.
_SENTENCE = re.compile(r"(?:[^.!?。！？\n]|[.!?](?![\s]|$)|\n(?!\s*\n))+(?:[.!?]+(?=\s|$)|[。！？]+|(?=\n\s*\n)|$)")
_WORD = re.compile(r"\w+", re.UNICODE)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_STOP = frozenset(
    "a an and are as at be been by can do does for from had has have how in into is it its of on or that the "
    "their there these this those to was were what when where which who why will with you your".split()
)
_CITATION = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*)\s*\]")


def _terms(text: str) -> set[str]:
    """Content words, plus character bigrams of Korean words (particles attach to nouns: 모델은, 모델이)."""
    terms: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or (len(word) < 2 and not _HANGUL.match(word)):
            continue
        terms.add(word)
        if _HANGUL.search(word) and len(word) > 1:
            terms.update(word[i : i + 2] for i in range(len(word) - 1))
    return terms


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed."""
    spans = []
    for m in _SENTENCE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def citing_text(answer: str, number: int) -> str:
    """The sentences of an answer that cite source ``number``, markers removed."""
    out = []
    for start, end in sentence_spans(answer):
        sentence = answer[start:end]
        for m in _CITATION.finditer(sentence):
            numbers = {int(n) for n in re.findall(r"\d+", m.group(1))}
            if number in numbers:
                out.append(_CITATION.sub("", sentence))
                break
    return " ".join(out)


def best_span(passage: str, reference: str, *, min_overlap: int = 2) -> tuple[int, int] | None:
    """The passage sentence sharing the most content words with ``reference`` (an answer's claims or
    the question); None when nothing shares at least ``min_overlap`` of them (a reference of one content
    word, "What is BLEU?", needs only that one)."""
    wanted = _terms(reference)
    if not wanted:
        return None
    min_overlap = min(min_overlap, len(wanted))
    best, best_score = None, 0.0
    for start, end in sentence_spans(passage):
        terms = _terms(passage[start:end])
        shared = len(terms & wanted)
        if shared < min_overlap:
            continue
        score = shared / (len(terms) ** 0.5 + 1)  # favour dense matches over merely long sentences
        if score > best_score:
            best, best_score = (start, end), score
    return best


# A figure as written in a sentence: 28.4, 2,000, 1706.03762; not the digits of a word (FY2019, v2).
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?!\w)")


def _figure(text: str) -> str:
    return text.replace(",", "")  # 2,000 and 2000 are one figure


def number_spans(passage: str, reference: str) -> list[tuple[int, int]]:
    """(start, end) of each figure in ``passage`` that ``reference`` (an answer's claims) also states: the
    numbers a reader checks first."""
    wanted = {_figure(m.group(0)) for m in _NUMBER.finditer(reference)}
    return [m.span() for m in _NUMBER.finditer(passage) if _figure(m.group(0)) in wanted]


@dataclass(frozen=True)
class Highlight:
    """What to mark in a passage: the sentence it is cited or found for, and the cited figures in it.

    ``basis`` says what the sentence was matched with: "claim" (the answer's sentences citing the passage),
    "question" (the question searched) or "" (no sentence found)."""

    span: tuple[int, int] | None
    basis: str
    numbers: tuple[tuple[int, int], ...] = ()


def passage_highlight(message: dict, source: dict) -> Highlight:
    """The sentence closest to the answer's claims citing ``source``; when the claim shares too few words
    with the passage (a paraphrase, a one-word claim) the sentence closest to the question instead, rather
    than nothing. The claims' figures are marked wherever they occur in the passage."""
    passage = str(source.get("text", ""))
    claims = ""
    if message.get("mode") == "answer" and source.get("cited"):
        claims = citing_text(message.get("content") or "", int(source.get("n", 0)))
    numbers = tuple(number_spans(passage, claims)) if claims else ()
    if claims and (span := best_span(passage, claims)) is not None:
        return Highlight(span, "claim", numbers)
    question = message.get("standalone_query") or message.get("question") or ""
    span = best_span(passage, question)
    return Highlight(span, "question" if span is not None else "", numbers)


def _escaped(text: str, *, one_line: bool = False) -> str:
    """``escape_markdown`` of a piece of a passage, keeping the space (or paragraph break) at its ends,
    which escaping the piece alone would strip."""
    body = escape_markdown(" ".join(text.split()) if one_line else text)

    def gap(edge: str) -> str:
        if not edge:
            return ""
        return " " if one_line or "\n\n" not in edge else "\n\n"

    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    if not body:
        return gap(lead + trail)
    return gap(lead) + body + gap(trail)


def _with_numbers(text: str, offset: int, numbers: Sequence[tuple[int, int]], *, one_line: bool) -> str:
    """A piece of the passage (starting at ``offset``) escaped, with the figures in it in bold."""
    out, last = [], 0
    for start, end in numbers:
        start, end = start - offset, end - offset
        if start < last or end > len(text) or start < 0:
            continue
        out.append(_escaped(text[last:start], one_line=one_line))
        out.append(f"**{escape_markdown(text[start:end])}**")
        last = end
    out.append(_escaped(text[last:], one_line=one_line))
    return "".join(out)


def passage_markdown(
    passage: str,
    span: tuple[int, int] | None,
    *,
    numbers: Sequence[tuple[int, int]] = (),
    mark: str = "orange-background",
) -> str:
    """The escaped passage, with ``span`` highlighted (Streamlit's ``:color[...]`` directive) and the figures
    at ``numbers`` in bold."""
    numbers = sorted(numbers)
    if span is None:
        return _with_numbers(passage, 0, numbers, one_line=False).strip()
    start, end = span
    before, middle, after = passage[:start], passage[start:end], passage[end:]
    parts = []
    if before.strip():
        parts.append(_with_numbers(before, 0, numbers, one_line=False).rstrip())
        parts.append(" " if not before.endswith("\n\n") else "\n\n")
    # One line: a directive's text may not span lines.
    parts.append(f":{mark}[{_with_numbers(middle, start, numbers, one_line=True).strip()}]")
    if after.strip():
        parts.append("\n\n" if after.startswith("\n\n") else " ")
        parts.append(_with_numbers(after, end, numbers, one_line=False).lstrip())
    return "".join(parts)
