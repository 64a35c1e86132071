"""Chat history in SQLite, per collection: chats, messages with their sources, Markdown export."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.answer.citations import source_label
from rag.errors import HistoryError, NotFoundError
from rag.mdsafe import escape_markdown, safe_answer_markdown

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chats_by_collection ON chats (collection, updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    sources TEXT,
    standalone_query TEXT,
    mode TEXT,
    meta TEXT,
    reply_to INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat_id, id);
"""
_UNTITLED = "New chat"
_TITLE_CHARS = 60


@dataclass(frozen=True)
class ChatSummary:
    """One chat in a list: newest first by ``updated_at`` (ISO 8601, UTC)."""

    id: str
    collection: str
    title: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class StoredMessage:
    """One message; assistant messages carry their numbered sources, rewritten query and mode."""

    id: int
    chat_id: str
    role: str
    content: str
    created_at: str
    sources: tuple[dict, ...] = ()
    standalone_query: str | None = None
    mode: str | None = None
    #: what else the answer's display needs: error, error_kind, incomplete, uncited, notes, model
    meta: Mapping[str, object] = field(default_factory=dict)
    #: an answer's question (its message id): the answer is listed right after it, even when it was
    #: stored later than another question of the chat (two tabs on one chat)
    reply_to: int | None = None


@dataclass(frozen=True)
class ChatRecord:
    """A reopened chat: its summary and every message in order."""

    summary: ChatSummary
    messages: tuple[StoredMessage, ...]


def _now() -> str:
    # Microseconds keep the order of quick successive writes.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _title_from(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 1].rstrip() + "…"


class ChatHistory:
    """Chat history in one SQLite file; every call opens its own short-lived connection."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                # WAL lets Streamlit session threads read while one of them writes.
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                columns = {r["name"] for r in conn.execute("PRAGMA table_info(messages)")}
                if "meta" not in columns:  # a history file from before answers kept their state
                    conn.execute("ALTER TABLE messages ADD COLUMN meta TEXT")
                if "reply_to" not in columns:  # from before questions were stored as they were asked
                    conn.execute("ALTER TABLE messages ADD COLUMN reply_to INTEGER")
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(f"cannot open chat history at {self.path}: {e}") from e

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        except sqlite3.Error as e:
            raise HistoryError(f"chat history at {self.path} failed: {e}") from e
        finally:
            conn.close()

    def create_chat(self, collection: str, title: str = "") -> str:
        """A new empty chat; returns its id. Without a title the first question becomes one."""
        chat_id = uuid.uuid4().hex
        now = _now()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO chats (id, collection, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (chat_id, collection, _title_from(title) or _UNTITLED, now, now),
            )
        return chat_id

    def append_message(
        self,
        chat_id: str,
        role: str,
        content: str,
        *,
        sources: Sequence[Mapping] = (),
        standalone_query: str | None = None,
        mode: str | None = None,
        meta: Mapping[str, object] | None = None,
        reply_to: int | None = None,
    ) -> StoredMessage:
        """Add a message at the end of a chat and bump the chat's ``updated_at``.

        The chat page stores a question the moment it is asked and its answer when it ends, with
        ``reply_to`` set to the question's id: a reload or a closed tab in between loses neither.
        """
        with self._connect() as conn:
            return self._insert(conn, chat_id, role, content, sources, standalone_query, mode, meta, reply_to)

    def append_exchange(
        self,
        chat_id: str,
        question: str,
        answer: str,
        *,
        sources: Sequence[Mapping] = (),
        standalone_query: str | None = None,
        mode: str | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> tuple[StoredMessage, StoredMessage]:
        """A question and its answer in one transaction: never a question left without its answer."""
        with self._connect() as conn:
            asked = self._insert(conn, chat_id, "user", question, (), None, None, None)
            answered = self._insert(conn, chat_id, "assistant", answer, sources, standalone_query, mode, meta, asked.id)
        return asked, answered

    def _insert(
        self,
        conn: sqlite3.Connection,
        chat_id: str,
        role: str,
        content: str,
        sources: Sequence[Mapping],
        standalone_query: str | None,
        mode: str | None,
        meta: Mapping[str, object] | None,
        reply_to: int | None = None,
    ) -> StoredMessage:
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {role!r}")
        now = _now()
        sources_json = json.dumps([dict(s) for s in sources], ensure_ascii=False) if sources else None
        meta_json = json.dumps(dict(meta), ensure_ascii=False) if meta else None
        row = conn.execute("SELECT title FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no chat with id {chat_id!r}")
        cur = conn.execute(
            "INSERT INTO messages (chat_id, role, content, sources, standalone_query, mode, meta, reply_to,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (chat_id, role, content, sources_json, standalone_query, mode, meta_json, reply_to, now),
        )
        title = _title_from(content) if row["title"] == _UNTITLED and role == "user" else row["title"]
        conn.execute("UPDATE chats SET updated_at = ?, title = ? WHERE id = ?", (now, title, chat_id))
        return StoredMessage(
            id=int(cur.lastrowid or 0),
            chat_id=chat_id,
            role=role,
            content=content,
            created_at=now,
            sources=tuple(dict(s) for s in sources),
            standalone_query=standalone_query,
            mode=mode,
            meta=dict(meta or {}),
            reply_to=reply_to,
        )

    def list_chats(self, collection: str) -> list[ChatSummary]:
        """The collection's chats, most recently updated first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM chats WHERE collection = ? ORDER BY updated_at DESC, rowid DESC", (collection,)
            ).fetchall()
        return [_summary(row) for row in rows]

    def get_chat(self, chat_id: str) -> ChatRecord:
        """Reopen a chat with all its messages; NotFoundError when it does not exist."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM chats WHERE id = ?", (chat_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no chat with id {chat_id!r}")
            rows = conn.execute(
                # An answer right after its question, whenever it was stored.
                "SELECT * FROM messages WHERE chat_id = ? ORDER BY COALESCE(reply_to, id), id",
                (chat_id,),
            ).fetchall()
        return ChatRecord(summary=_summary(row), messages=tuple(_message(r) for r in rows))

    def rename_chat(self, chat_id: str, title: str) -> None:
        with self._connect() as conn:
            cur = conn.execute("UPDATE chats SET title = ? WHERE id = ?", (_title_from(title) or _UNTITLED, chat_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no chat with id {chat_id!r}")

    def delete_chat(self, chat_id: str) -> None:
        """Delete a chat and its messages; NotFoundError when it does not exist."""
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"no chat with id {chat_id!r}")
        logger.info("deleted chat %s", chat_id)

    def export_markdown(self, chat_id: str) -> str:
        """The chat as Markdown, each answer followed by its sources (file and page, cited or not).

        Everything that came from a user, a document or the model is made inert: the file is opened
        in other Markdown viewers, which must not fetch an image or follow a link a PDF planted.
        """
        record = self.get_chat(chat_id)
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
            if message.standalone_query and message.standalone_query.strip() != question.strip():
                lines += [f"_Searched for: {_inert(message.standalone_query)}_", ""]
            if message.sources:
                lines += ["**Sources**", ""]
                lines += [_source_line(s) for s in message.sources]
                lines.append("")
                lines += _passages(message)
        return "\n".join(lines).rstrip() + "\n"


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


def _summary(row: sqlite3.Row) -> ChatSummary:
    return ChatSummary(
        id=row["id"],
        collection=row["collection"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        chat_id=row["chat_id"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        sources=tuple(json.loads(row["sources"])) if row["sources"] else (),
        standalone_query=row["standalone_query"],
        mode=row["mode"],
        meta=json.loads(row["meta"]) if row["meta"] else {},
        reply_to=row["reply_to"],
    )
