"""Chat messages as the pages keep them: plain dicts in session state, from a fresh answer, a live stream, or
the history. Nothing here imports streamlit; document text is rendered through ``escape_markdown`` (so a
passage can never become a link, an image or HTML). Background ingestion is in ``ui.state.jobs``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from rag.answer.chat import Answer, Turn
from rag.answer.export import NO_ANSWER
from rag.answer.history import StoredMessage


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
        "pointers_only": bool(message.meta.get("pointers_only")),
        "asked_again": bool(message.meta.get("asked_again")),
        "unsupported_numbers": list(message.meta.get("unsupported_numbers") or []),
        "moved_citations": list(message.meta.get("moved_citations") or []),
        "wrong_arithmetic": list(message.meta.get("wrong_arithmetic") or []),
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
