"""A chat as a Markdown file: each answer with its sources, the cited passages quoted, and the support marks.

Everything that came from a user, a document or the model is made inert: the file is opened in other
Markdown viewers, which must not fetch an image or follow a link a PDF planted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rag.answer.citations import source_label
from rag.mdsafe import escape_markdown, safe_answer_markdown

if TYPE_CHECKING:
    from rag.answer.history import ChatRecord, StoredMessage

#: Shown for a question without a stored answer: the tab closed or reloaded mid-answer, or the app stopped.
#: The app may still finish an answer after a reload (Streamlit lets the old run go on); it is then stored.
NO_ANSWER = (
    "No answer (interrupted): the page was closed or reloaded while the answer was being written. "
    "If the app finished it anyway, it shows when you reopen this chat."
)


def full_title(record: ChatRecord) -> str:
    """The chat's title; an automatic one (the first question, cut for the list) in full."""
    title = record.summary.title
    first = next((m.content for m in record.messages if m.role == "user"), "")
    if title.endswith("…") and " ".join(first.split()).startswith(title[:-1]):
        return " ".join(first.split())
    return title


_UNSAFE_FILE_CHARS = re.compile(r"[^\w.-]+")


def export_filename(record: ChatRecord) -> str:
    """A file name for a chat's Markdown: its title and date, e.g. ``what-is-attention-2026-12-01.md``.

    Letters of any script are kept; path separators, punctuation and spaces become dashes.
    """
    summary = record.summary
    stem = _UNSAFE_FILE_CHARS.sub("-", unicodedata.normalize("NFC", full_title(record)).lower())
    stem = stem.strip("-.")
    if len(stem) > 60:  # at a word's end
        stem = stem[:61].rsplit("-", 1)[0] if "-" in stem[:61] else stem[:60]
    stem = stem.rstrip("-.") or "chat"
    return f"{stem}-{summary.updated_at[:10]}.md"


def _passages(message: StoredMessage) -> list[str]:
    """The text of each passage the answer cited (every passage when no answer was generated:
    the passages are then the reply), as quotes, so the file can be checked without the app."""
    generated = message.mode == "answer" and bool(message.content)
    lines = []
    for source in message.sources:
        if generated and not source.get("cited"):
            continue
        text = str(source.get("text") or "").strip()
        if not text:
            continue
        where = source_label(str(source.get("file_name", "?")), int(source.get("page", 0)), source.get("page_end"))
        label = _inert(where)
        lines += [f"**\\[{source.get('n')}\\] {label}**", ""]
        # Document text exactly as text (no Markdown of its own), one quote, paragraphs kept.
        quoted = escape_markdown(text).replace("\n\n", "\n>\n> ")
        lines += ["> " + quoted, ""]
    return lines


def _mode_note(mode: str | None) -> str:
    if mode == "search_only":
        return "_No answer generated (language model unavailable); best passages below._"
    return "_No answer text._"


def _inert(text: str) -> str:
    """Text with its formatting kept but no link, image, autolink or HTML left live."""
    return safe_answer_markdown(" ".join(text.split()))


def _source_line(source: Mapping) -> str:
    number = source.get("n")
    label = _inert(source_label(str(source.get("file_name", "?")), int(source.get("page", 0)), source.get("page_end")))
    line = f"- \\[{number}\\] {label}" if number is not None else f"- {label}"
    line += " · cited" if source.get("cited") else ""
    # The app's check of the citation: the source holds the claim's figures and words, or not.
    support = _SUPPORT_NOTES.get(str(source.get("support")), "")
    missing = source.get("missing_numbers") or []
    if support and missing:
        support += f" (lacks {_inert(', '.join(str(m) for m in missing))})"
    return line + support


_SUPPORT_NOTES = {
    "supported": " · supports the claim",
    "not_found": " · claim not found in this source",
    "partly": " · supports some claims",
}


def chat_markdown(record: ChatRecord) -> str:
    """The chat as Markdown, each answer followed by its sources (file and page, cited or not).

    Everything that came from a user, a document or the model is made inert: the file is opened
    in other Markdown viewers, which must not fetch an image or follow a link a PDF planted.
    """
    summary = record.summary
    lines = [
        f"# {_inert(full_title(record))}",
        "",
        f"_Collection: {_inert(summary.collection)} · {summary.updated_at[:10]}_",
        "",
    ]
    question = ""
    for i, message in enumerate(record.messages):
        if message.role == "user":
            question = message.content
            lines += ["## Question", "", _inert(question), ""]
            if i + 1 == len(record.messages) or record.messages[i + 1].role == "user":
                lines += [f"_{NO_ANSWER}_", ""]
            continue
        answer = safe_answer_markdown(message.content) if message.content else _mode_note(message.mode)
        lines += ["### Answer", "", answer, ""]
        if message.meta.get("incomplete"):
            lines += ["_The answer stopped early and is incomplete._", ""]
        if message.meta.get("error"):
            lines += [f"_Problem: {_inert(str(message.meta['error']))}_", ""]
        if message.meta.get("unsupported_numbers"):
            numbers = ", ".join(str(n) for n in message.meta["unsupported_numbers"])  # type: ignore[attr-defined]
            lines += [f"_Numbers in the answer that appear in none of its sources: {_inert(numbers)}_", ""]
        for note in message.meta.get("moved_citations") or ():  # type: ignore[attr-defined]
            lines += [f"_{_inert(str(note))}_", ""]
        for note in message.meta.get("wrong_arithmetic") or ():  # type: ignore[attr-defined]
            lines += [f"_{_inert(str(note))}_", ""]
        if message.standalone_query and message.standalone_query.strip() != question.strip():
            lines += [f"_Searched for: {_inert(message.standalone_query)}_", ""]
        if message.sources:
            lines += ["**Sources**", ""]
            lines += [_source_line(s) for s in message.sources]
            lines.append("")
            lines += _passages(message)
    return "\n".join(lines).rstrip() + "\n"
