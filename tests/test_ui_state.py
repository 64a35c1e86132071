"""What the pages show, as plain data: answer notices and the search modes offered."""

from __future__ import annotations

from rag.ui_state import Notice, answer_notices, offered_modes


def test_each_kind_of_answer_is_headlined_as_what_it_is():
    assert [n.level for n in answer_notices({"mode": "not_found"})] == ["warning"]
    assert "Not found in your documents" in answer_notices({"mode": "not_found"})[0].text
    search_only = answer_notices({"mode": "search_only", "error": "Ollama is not running at http://x."})
    assert search_only == [Notice("info", "Ollama is not running at http://x.")]
    assert answer_notices({"mode": "error", "error": "timed out"}) == [Notice("error", "timed out")]
    cut = answer_notices({"mode": "answer", "incomplete": True, "error": "the stream was cut off", "uncited": True})
    assert cut == [Notice("warning", "Incomplete answer: the stream was cut off")]  # no uncited warning on top
    assert answer_notices({"mode": "answer", "cited": [1]}) == []


def test_an_uncited_answer_and_dropped_sources_are_said():
    notices = answer_notices({"mode": "answer", "uncited": True, "dropped_sources": 3, "notes": ["Dense was used."]})
    assert [n.level for n in notices] == ["warning", "info", "info"]
    assert "cites no source" in notices[0].text
    assert notices[1].text == "3 more passages did not fit the model's context window."
    assert notices[2].text == "Dense was used."
    assert answer_notices({"mode": "answer", "dropped_sources": 1})[0].text.startswith("1 more passage did not")


def test_search_modes_offered_put_the_configured_one_first_and_rerank_only_with_a_model():
    assert offered_modes("hybrid", "") == ["hybrid", "dense", "lexical"]
    assert offered_modes("dense", "") == ["dense", "hybrid", "lexical"]
    assert offered_modes("hybrid+rerank", "/models/reranker") == ["hybrid+rerank", "hybrid", "dense", "lexical"]
