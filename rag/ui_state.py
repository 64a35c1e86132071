"""What the Streamlit pages need that is not Streamlit: safe text, chat messages, sources, search modes.

Nothing here imports streamlit. The pages keep plain dicts (from ``answer_message`` /
``stored_message``) in session state and render document text through ``escape_markdown`` (so a
passage can never become a link, an image or HTML). Background ingestion is in ``ingest_jobs``.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .chat import Answer, Turn
from .citations import page_ref
from .declined import declined_text
from .errors import RagError
from .history import NO_ANSWER, StoredMessage
from .mdsafe import escape_markdown
from .models import Hit, ocr_label

logger = logging.getLogger(__name__)

# -- finding the part of a passage an answer relies on -------------------------------------------------

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


# -- chat messages -------------------------------------------------------------------------------------


def pages_label(source: dict) -> str:
    """ "4" or "4–5" (1-based) for a source dict."""
    return page_ref(int(source.get("page", 0)), source.get("page_end")).split(" ", 1)[1]


def answer_message(answer: Answer, *, notes: Sequence[str] = (), chat_id: str | None = None) -> dict:
    """A session-state message for a fresh answer (everything the page needs to redraw it)."""
    return {
        "id": uuid.uuid4().hex,
        "role": "assistant",
        "content": answer.text,
        "question": answer.question,
        "standalone_query": answer.standalone_query,
        "mode": answer.mode,
        "sources": answer.sources(),
        **answer.outcome(notes),
        "chat_id": chat_id,
    }


def live_message(stream) -> dict:
    """A message for an answer still streaming: its sources are known, citations not yet."""
    return {
        "id": "live",
        "role": "assistant",
        "content": "",
        "question": stream.question,
        "standalone_query": stream.standalone_query,
        "mode": "streaming",
        "sources": [{"n": n, "cited": False, **hit.to_dict()} for n, hit in enumerate(stream.hits, 1)],
    }


def user_message(text: str) -> dict:
    return {"id": uuid.uuid4().hex, "role": "user", "content": text}


def stored_message(message: StoredMessage, question: str = "") -> dict:
    """A session-state message for one reopened from the history."""
    if message.role == "user":
        return {"id": f"h{message.id}", "role": "user", "content": message.content}
    return {
        "id": f"h{message.id}",
        "role": "assistant",
        "content": message.content,
        "question": question,
        "standalone_query": message.standalone_query or question,
        "mode": message.mode or "answer",
        "sources": [dict(s) for s in message.sources],
        "error": message.meta.get("error"),
        "error_kind": message.meta.get("error_kind"),
        "incomplete": bool(message.meta.get("incomplete")),
        "uncited": bool(message.meta.get("uncited")),
        "declined": bool(message.meta.get("declined")),
        "unsupported_numbers": list(message.meta.get("unsupported_numbers") or []),
        "support_rate": message.meta.get("support_rate"),
        "dropped_sources": int(message.meta.get("dropped_sources") or 0),
        "model": message.meta.get("model"),
        "notes": list(message.meta.get("notes") or []),
    }


def stored_messages(messages: Iterable[StoredMessage]) -> list[dict]:
    """A reopened chat; a question whose answer never came (stored as it was asked, then the tab
    closed) is followed by a note saying so, never left looking unanswered on purpose."""
    out, question = [], ""
    for m in messages:
        if m.role == "user":
            if out and out[-1]["role"] == "user":
                out.append(interrupted_message(question))
            question = m.content
        out.append(stored_message(m, question))
    if out and out[-1]["role"] == "user":
        out.append(interrupted_message(question))
    return out


def interrupted_message(question: str) -> dict:
    """The place of an answer that never came: the page stopped before it was stored."""
    return {
        "id": uuid.uuid4().hex,
        "role": "assistant",
        "content": "",
        "question": question,
        "standalone_query": question,
        "mode": "error",
        "sources": [],
        "error": NO_ANSWER,
        "error_kind": "interrupted",
    }


def history_turns(messages: Sequence[dict], limit: int = 6) -> list[Turn]:
    """Earlier turns for follow-up rewriting: questions and real answers (not error notes)."""
    turns = [
        Turn(m["role"], m["content"])
        for m in messages
        # A declined answer is the app's not-found wording: nothing to resolve a follow-up against.
        if m["content"].strip() and (m["role"] == "user" or (m.get("mode") == "answer" and not m.get("declined")))
    ]
    return turns[-limit:]


@dataclass(frozen=True)
class Notice:
    """How to headline an answer: ``level`` is "success", "info", "warning" or "error"."""

    level: str
    text: str


def answer_notices(message: dict) -> list[Notice]:
    """What an answer is, said plainly: not found, search only, failed, cut off, uncited."""
    mode, error = message.get("mode"), message.get("error")
    notices = []
    if mode == "not_found":
        notices.append(
            Notice(
                "warning",
                "Not found in your documents: no passage was relevant enough to answer from. "
                "The nearest passages are below; lower the relevance threshold in the sidebar to use them.",
            )
        )
    elif mode == "search_only":
        notices.append(Notice("info", error or "Search only: no language model answered. Best passages below."))
    elif mode == "error":
        notices.append(Notice("error", error or "No answer could be produced."))
    elif message.get("incomplete"):
        notices.append(Notice("warning", "Incomplete answer: " + (error or "the answer was cut off.")))
    elif mode == "answer" and message.get("declined"):
        # The model found no answer in the sources: the app says so, in the question's language.
        notices.append(Notice("warning", declined_text(message.get("question") or "")))
    declined = bool(message.get("declined"))
    if mode == "answer" and message.get("uncited") and not message.get("incomplete") and not declined:
        notices.append(
            Notice("warning", "This answer cites no source: check it against the passages below before relying on it.")
        )
    if mode == "answer" and not declined and message.get("unsupported_numbers"):
        numbers = ", ".join(message["unsupported_numbers"])
        notices.append(
            Notice("warning", f"Numbers in this answer that appear in none of its sources: {numbers}. Check them.")
        )
    if message.get("dropped_sources"):
        n = message["dropped_sources"]
        notices.append(
            Notice("info", f"{n} more passage{'s' if n != 1 else ''} did not fit the model's context window.")
        )
    notices.extend(Notice("info", note) for note in message.get("notes") or ())
    return notices


#: How a cited source's support check is shown: it holds the claim's figures and words, or it does not.
SUPPORT_LABELS = {"supported": "✓", "not_found": "not in source", "partly": "partly"}


def support_label(source: dict) -> str:
    """ "✓", "not in source" or "partly" for a checked citation; "" when the source was not checked."""
    return SUPPORT_LABELS.get(str(source.get("support")), "")


def source_rows(sources: Sequence[dict]) -> list[dict]:
    """One table row per source; retriever columns left None where that retriever did not score it."""
    return [
        {
            "#": s.get("n", i),
            "cited": bool(s.get("cited")),
            "supports": support_label(s),
            "file": s.get("file_name", "?"),
            "page": pages_label(s),
            "ocr": ocr_label(bool(s.get("ocr")), s.get("ocr_confidence")),
            "dense": s.get("dense_score"),
            "lexical": s.get("lexical_score"),
            "rerank": s.get("rerank_score"),
            "score": s.get("score"),
        }
        for i, s in enumerate(sources, 1)
    ]


#: How the compact table says whether the answer cites a source, and how its support check went.
CITED_LABELS = {"supported": "✓ holds", "not_found": "⚠ check", "partly": "◐ partly"}


def cited_label(source: dict) -> str:
    """ "" (not cited), "cited" (not checked), or the support check of a cited source: "✓ holds"..."""
    if not source.get("cited"):
        return ""
    return CITED_LABELS.get(str(source.get("support")), "cited")


def short_name(name: str, limit: int = 30) -> str:
    """A long file name shortened in the middle, keeping its end (often a date or version)."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[: keep - keep // 3] + "…" + name[-(keep // 3) :]


#: File names in the sources table: about 115 px of the 300 px a phone leaves beside a chat message's avatar.
TABLE_NAME_CHARS = 16


def table_file_name(name: str) -> str:
    """A file name as the sources table shows it: without ".pdf" (they all are), shortened in the middle."""
    stem = name[:-4] if name.lower().endswith(".pdf") and len(name) > 4 else name
    return short_name(stem, TABLE_NAME_CHARS)


def table_rows(sources: Sequence[dict], *, answered: bool) -> list[dict]:
    """The sources table as shown: narrow enough for a phone. Number, file (shortened in the middle, the full
    name is on the passage card), page, whether the answer cites it (only for an answer) and how its check went,
    who read it (only when OCR read one), and one relevance figure: the cosine similarity, on a fixed scale
    (-1 to 1), unlike BM25's; the keyword and ranking scores are on the passage cards."""
    ocr = any(s.get("ocr") for s in sources)
    rows = []
    for i, s in enumerate(sources, 1):
        row: dict = {"#": s.get("n", i), "file": table_file_name(str(s.get("file_name", "?")))}
        row["page"] = pages_label(s)
        if answered:
            row["cited"] = cited_label(s)
        if ocr:
            row["ocr"] = ocr_label(bool(s.get("ocr")), s.get("ocr_confidence"))
        row["match"] = s.get("dense_score")
        rows.append(row)
    return rows


# -- retrieval with the hybrid switch ------------------------------------------------------------------


class Retriever:
    """``retrieve(query, k)`` over one collection in a search mode; when the library cannot search that way
    (no reranking model, a broken keyword index), it falls back a step, with a note, rather than fail."""

    FALLBACK = {"hybrid+rerank": "hybrid", "hybrid": "dense", "lexical": "dense"}

    def __init__(self, library, collection: str, *, mode: str = "hybrid") -> None:
        self.library = library
        self.collection = collection
        self.mode = mode
        self.notes: list[str] = []

    def __call__(self, query: str, k: int) -> list[Hit]:
        mode = self.mode
        while (fallback := self.FALLBACK.get(mode)) is not None:
            try:
                return self.library.search(query, self.collection, k, mode=mode)
            except RagError as e:
                logger.info("%s search unavailable, using %s: %s", mode, fallback, e)
                self.notes.append(f"{mode.capitalize()} search is not available ({e}); {fallback} search was used.")
                mode = fallback
        return self.library.search(query, self.collection, k, mode=mode)


#: How the chat's search modes are offered to users.
MODE_LABELS = {
    "hybrid": "Hybrid: keywords + meaning",
    "hybrid+rerank": "Hybrid, then reranked",
    "dense": "Meaning only (semantic)",
    "lexical": "Keywords only (BM25)",
}


def offered_modes(search_mode: str, rerank_model: str) -> list[str]:
    """The search modes a user can pick: reranking only with a model; the configured mode first."""
    modes = [m for m in ("hybrid+rerank", "hybrid", "dense", "lexical") if m != "hybrid+rerank" or rerank_model]
    return sorted(modes, key=lambda m: m != search_mode)

