"""Chat history in SQLite, per collection: chats, messages with their sources, Markdown export."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.answer.export import chat_markdown
from rag.errors import HistoryError, NotFoundError

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
        """The chat as Markdown, each answer followed by its sources (``export.chat_markdown``)."""
        return chat_markdown(self.get_chat(chat_id))


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
