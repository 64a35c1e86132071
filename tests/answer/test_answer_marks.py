"""What the pages, a reopened chat and the Markdown export show of an answer's checks: declined answers in the
app's words (no 'cites no source' under them), each citation's support mark, numbers found in no source."""

from __future__ import annotations

from pathlib import Path

from rag.answer.declined import DECLINED_TEXT_EN, DECLINED_TEXT_KO
from rag.answer.history import ChatHistory
from ui.state.messages import history_turns, stored_messages
from ui.state.notices import answer_notices, source_rows


def source(n: int, **extra: object) -> dict:
    return {"n": n, "file_name": "filing.pdf", "page": n, "text": f"passage {n}", "cited": False, **extra}


def test_a_declined_answer_is_headlined_as_not_found_in_the_question_language() -> None:
    korean = {"mode": "answer", "declined": True, "question": "매출액은 얼마입니까?", "uncited": False}
    assert [(n.level, n.text) for n in answer_notices(korean)] == [("warning", DECLINED_TEXT_KO)]
    english = {"mode": "answer", "declined": True, "question": "What was revenue?"}
    assert [n.text for n in answer_notices(english)] == [DECLINED_TEXT_EN]


def test_no_uncited_warning_under_a_refusal_but_still_under_an_uncited_answer() -> None:
    # Issue 13: "cites none of the sources" appeared under correct refusals.
    declined = answer_notices({"mode": "answer", "declined": True, "uncited": True, "question": "q?"})
    assert not any("cites no source" in n.text for n in declined)
    assert any("cites no source" in n.text for n in answer_notices({"mode": "answer", "uncited": True}))
    assert not any("cites no source" in n.text for n in answer_notices({"mode": "not_found", "uncited": True}))


def test_numbers_in_no_source_are_listed() -> None:
    notices = answer_notices({"mode": "answer", "unsupported_numbers": ["5,749", "45%"]})
    assert [(n.level, n.text) for n in notices] == [
        ("warning", "Numbers in this answer that appear in none of its sources: 5,749, 45%. Check them.")
    ]
    assert answer_notices({"mode": "answer", "unsupported_numbers": []}) == []


def test_the_sources_table_says_which_citations_hold() -> None:
    rows = source_rows(
        [source(1, cited=True, support="supported"), source(2, cited=True, support="not_found"), source(3)]
    )
    assert [r["supports"] for r in rows] == ["✓", "not in source", ""]


def test_a_reopened_chat_keeps_marks_and_declines_and_the_export_says_them(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "history.sqlite3")
    chat_id = history.create_chat("documents")
    history.append_exchange(
        chat_id,
        "What were net sales?",
        "Net sales were 5,749 [1]. Staff: 999 [2].",
        sources=[
            source(1, cited=True, support="not_found", missing_numbers=["5,749"]),
            source(2, cited=True, support="supported", missing_numbers=[]),
        ],
        mode="answer",
        meta={"unsupported_numbers": ["5,749"], "support_rate": 0.5},
    )
    history.append_exchange(
        chat_id, "배당금은 얼마입니까?", DECLINED_TEXT_KO, sources=[source(1)], mode="answer", meta={"declined": True}
    )
    first, declined = stored_messages(history.get_chat(chat_id).messages)[1::2]
    assert [r["supports"] for r in source_rows(first["sources"])] == ["not in source", "✓"]
    assert first["unsupported_numbers"] == ["5,749"] and first["support_rate"] == 0.5
    assert any("5,749" in n.text for n in answer_notices(first))
    assert declined["declined"] and [n.text for n in answer_notices(declined)] == [DECLINED_TEXT_KO]
    # The app's not-found wording is no conversation to resolve a follow-up against.
    assert [t.content for t in history_turns(stored_messages(history.get_chat(chat_id).messages))] == [
        "What were net sales?",
        "Net sales were 5,749 [1]. Staff: 999 [2].",
        "배당금은 얼마입니까?",
    ]

    markdown = history.export_markdown(chat_id)
    assert "filing.pdf, p. 2 · cited · claim not found in this source (lacks 5,749)\n" in markdown
    assert "filing.pdf, p. 3 · cited · supports the claim\n" in markdown
    assert "_Numbers in the answer that appear in none of its sources: 5,749_" in markdown
    assert DECLINED_TEXT_KO.split(".")[0] in markdown


def test_a_moved_citation_is_said_beside_the_answer_in_the_page_a_reopened_chat_and_the_export(
    tmp_path: Path,
) -> None:
    note = "Citation moved from [1] to [2]: $249.99 is in source 2, not in source 1."
    fresh = {"mode": "answer", "moved_citations": [note]}
    assert [(n.level, n.text) for n in answer_notices(fresh)] == [("info", note)]
    # Under the app's own not-found wording there is no citation to speak of.
    assert answer_notices({**fresh, "declined": True, "question": "q?"})[1:] == []

    history = ChatHistory(tmp_path / "history.sqlite3")
    chat_id = history.create_chat("documents")
    history.append_exchange(
        chat_id,
        "What does the X200 cost?",
        "The X200 costs $249.99 [2].",
        sources=[source(1), source(2, cited=True, support="supported", missing_numbers=[])],
        mode="answer",
        meta={"moved_citations": [note], "support_rate": 1.0},
    )
    reopened = stored_messages(history.get_chat(chat_id).messages)[1]
    assert reopened["moved_citations"] == [note]
    assert ("info", note) in [(n.level, n.text) for n in answer_notices(reopened)]
    # Brackets escaped, as everything the export quotes, so "[2]" cannot become a link; "$" so that two amounts
    # are not read as LaTeX.
    exported = history.export_markdown(chat_id)
    assert "_Citation moved from \\[1\\] to \\[2\\]: \\$249.99 is in source 2, not in source 1._" in exported


def test_wrong_arithmetic_is_warned_beside_the_answer_in_the_page_a_reopened_chat_and_the_export(
    tmp_path: Path,
) -> None:
    note = "Arithmetic checked: (4,882 / 5,512) * 100 comes to 88.57%, not 86.8%."
    fresh = {"mode": "answer", "wrong_arithmetic": [note]}
    assert [(n.level, n.text) for n in answer_notices(fresh)] == [("warning", note)]
    # Under the app's own not-found wording there is no answer to check.
    assert answer_notices({**fresh, "declined": True, "question": "q?"})[1:] == []

    history = ChatHistory(tmp_path / "history.sqlite3")
    chat_id = history.create_chat("documents")
    history.append_exchange(
        chat_id,
        "What share of revenue was capex?",
        "Capex was (4,882 / 5,512) * 100 = 86.8% of revenue [1].",
        sources=[source(1, cited=True, support="supported", missing_numbers=[])],
        mode="answer",
        meta={"wrong_arithmetic": [note]},
    )
    reopened = stored_messages(history.get_chat(chat_id).messages)[1]
    assert reopened["wrong_arithmetic"] == [note]
    assert ("warning", note) in [(n.level, n.text) for n in answer_notices(reopened)]
    exported = history.export_markdown(chat_id)
    assert "_Arithmetic checked: (4,882 / 5,512) * 100 comes to 88.57%, not 86.8%._" in exported
