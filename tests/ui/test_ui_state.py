"""What the pages show, as plain data: answer notices and the search modes offered."""

from __future__ import annotations

from rag.retrieve.modes import offered_modes
from ui.state.notices import ASKED_AGAIN_TEXT, Notice, answer_notices, scores_text


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


PASSAGE = (
    "We trained on the WMT 2014 English-German dataset. On the English-to-German translation task, the big"
    " transformer model outperforms the best previously reported models by more than 2.0 BLEU, establishing"
    " a new state-of-the-art BLEU score of 28.4. Training took 3.5 days on 8 P100 GPUs."
)


def _answer(content: str, question: str) -> dict:
    return {"mode": "answer", "content": content, "question": question, "standalone_query": question}


def test_a_claim_that_shares_too_few_words_falls_back_to_the_question():
    from ui.state.highlight import passage_highlight

    # The claim paraphrases ("scores 28.4"): no two content words in common with any one sentence.
    message = _answer("It scores 28.4 [1].", "What BLEU score does the big transformer reach?")
    mark = passage_highlight(message, {"n": 1, "cited": True, "text": PASSAGE})
    assert mark.basis == "question"
    assert PASSAGE[mark.span[0] : mark.span[1]].startswith("On the English-to-German translation task")
    # A claim that does share the words is still what decides the sentence.
    message = _answer("Training took 3.5 days on 8 GPUs [1].", "What BLEU score does the big transformer reach?")
    mark = passage_highlight(message, {"n": 1, "cited": True, "text": PASSAGE})
    assert mark.basis == "claim" and PASSAGE[mark.span[0] : mark.span[1]].startswith("Training took")
    # A source the answer does not cite is matched with the question; a one-word question still finds it.
    mark = passage_highlight(_answer("x [2].", "BLEU?"), {"n": 1, "cited": False, "text": PASSAGE})
    assert mark.basis == "question" and "BLEU" in PASSAGE[mark.span[0] : mark.span[1]] and not mark.numbers
    nothing = passage_highlight(_answer("x [1].", "kimchi stew recipe"), {"n": 1, "cited": True, "text": PASSAGE})
    assert (nothing.span, nothing.basis) == (None, "")


def test_the_figures_an_answer_cites_are_marked_in_the_passage():
    from ui.state.highlight import number_spans, passage_highlight, passage_markdown

    message = _answer("It scores 28.4 [1], after 3.5 days; 2,000 warm-up steps [2].", "What BLEU score?")
    mark = passage_highlight(message, {"n": 1, "cited": True, "text": PASSAGE})
    assert [PASSAGE[a:b] for a, b in mark.numbers] == ["28.4", "3.5"]  # not 2,000: cited for source 2
    marked = passage_markdown(PASSAGE, mark.span, numbers=mark.numbers)
    assert "**28\\.4**" in marked and "**3\\.5**" in marked and marked.count("**") == 4
    assert marked.count(":orange-background[") == 1 and "**28\\.4**\\.]" in marked  # inside the sentence's mark
    assert "Training took **3\\.5** days on 8 P100" in marked  # spaces around the figure kept
    # Figures match as figures: 2,000 is 2000; digits inside a word or a longer number are not figures.
    text = "Revenue was 2,000 in FY2019 and 12000 in 2019."
    assert [text[a:b] for a, b in number_spans(text, "2000 units in 2019")] == ["2,000", "2019"]
    assert passage_markdown("no figures here", None, numbers=[]) == "no figures here"


def test_the_sources_table_is_compact_enough_for_a_phone():
    from ui.state.notices import table_rows

    sources = [
        {"n": 1, "file_name": "dpr_karpukhin2020_dense_passage_retrieval.pdf", "page": 3, "cited": True,
         "support": "supported", "dense_score": 0.72, "lexical_score": 4.5, "score": 0.03},
        {"n": 2, "file_name": "a.pdf", "page": 0, "page_end": 1, "cited": True, "dense_score": 0.41},
        {"n": 3, "file_name": "b.pdf", "page": 9, "lexical_score": 2.0, "dense_score": None},
    ]  # fmt: skip
    rows = table_rows(sources, answered=True)
    assert [list(r) for r in rows] == [["#", "file", "page", "cited", "match"]] * 3  # no BM25, no fused score
    # Cut in the middle, keeping the end (a year, a version), not cut off after "dpr_karpukhin2020_".
    assert rows[0]["file"] == "dpr_karpuk…ieval" and len(rows[0]["file"]) == 16
    assert [r["page"] for r in rows] == ["4", "1–2", "10"]
    assert [r["file"] for r in rows[1:]] == ["a", "b"]
    assert [r["cited"] for r in rows] == ["✓ holds", "cited", ""]
    assert [r["match"] for r in rows] == [0.72, 0.41, None]  # None: the table shows its placeholder, a dash
    assert "cited" not in table_rows(sources, answered=False)[0]
    ocr = table_rows([{**sources[2], "ocr": True, "ocr_confidence": 87.0}], answered=False)
    assert ocr[0]["ocr"] == "OCR 87%"


def test_an_answer_of_pointers_only_is_said_plainly() -> None:
    sources = [{"n": 1, "cited": False}, {"n": 2, "cited": True}, {"n": 3, "cited": True}]
    notices = answer_notices({"mode": "answer", "pointers_only": True, "content": "[2][3]", "sources": sources})
    assert [n.level for n in notices] == ["warning"]
    assert "no answer in words, only pointed to sources 2 and 3: read them below" in notices[0].text
    empty = answer_notices({"mode": "answer", "pointers_only": True, "content": "", "sources": sources[:1]})
    assert empty[0].text.startswith("The model gave no answer in words. Ask again")
    # A reply cut off by the stop button is an incomplete answer, said once.
    cut = answer_notices({"mode": "answer", "pointers_only": True, "incomplete": True, "error": "stopped"})
    assert [n.text for n in cut] == ["Incomplete answer: stopped"]


def test_an_answer_the_model_was_asked_again_for_says_so() -> None:
    sources = [{"n": 1, "cited": True}]
    again = answer_notices({"mode": "answer", "asked_again": True, "content": "Two years [1].", "sources": sources})
    assert [(n.level, n.text) for n in again] == [("info", ASKED_AGAIN_TEXT)]
    twice = answer_notices({"mode": "answer", "asked_again": True, "pointers_only": True, "sources": sources})
    assert [n.level for n in twice] == ["warning"]
    assert twice[0].text.startswith("The model gave no answer in words, even when asked a second time, only pointed")


def test_scores_are_named_and_a_placed_statement_says_why_it_is_there():
    ranked = {"dense_score": 0.62, "lexical_score": 4.5, "score": 0.0312}
    assert scores_text(ranked) == (
        "match 0.62 (cosine) · keywords 4.50 (BM25) · ranking 0.0312 (the order: both rankings fused)"
    )
    placed = {"dense_score": 0.41, "score": 1.2, "statement": "cash flow statement"}
    assert scores_text(placed) == (
        "match 0.41 (cosine) · placed here: the document's cash flow statement, which the question's items call for"
    )
    assert scores_text({"dense_score": 0.5, "score": 0.5}) == "match 0.50 (cosine)"
