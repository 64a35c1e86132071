"""The Evaluate page through AppTest: a malformed upload is an error message; a shared dev set, ingested
into a fresh temp store, yields the metrics table, the chart and the misses inspector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app_support import app_environment, new_app, page_text
from tests.conftest import shared_path
from tests.fake_ollama import dead_host

PAGE = "pages/2_Evaluate.py"


@pytest.fixture
def at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    qa = shared_path("qa", "dacon_ko_dev.jsonl")
    monkeypatch.setenv("RAG_SHARED_DATA", str(qa.parent.parent))
    # A fresh PDF reader process's start-up counts against the per-page limit; on a busy machine that alone
    # can pass the default 5 s. Timeouts are not what this test is about.
    with app_environment(tmp_path / "data", dead_host(), RAG_PAGE_TIMEOUT="120") as settings:
        assert str(settings.storage.data_dir).startswith(str(tmp_path))
        app = new_app().run()
        app.switch_page(PAGE).run()
        assert not app.exception, [e.value for e in app.exception]
        yield app


def test_malformed_upload_is_an_error_not_a_traceback(at):
    assert "Evaluate retrieval" in page_text(at)
    bad = json.dumps({"id": "x", "question": "no gold document"}).encode()
    at.file_uploader(key="eval_upload").set_value([("bad.jsonl", bad, "application/json")]).run()
    at.button(key="eval_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("no gold document" in e.value for e in at.error), page_text(at)
    assert not at.dataframe


def test_dev_set_run_shows_metrics_chart_and_misses(at):
    at.selectbox(key="eval_set").set_value("dacon_ko_dev.jsonl")
    at.text_input(key="eval_collection").set_value("dacon-eval")
    at.number_input(key="eval_limit").set_value(3)
    at.checkbox(key="eval_ingest").check()
    at.run()
    at.button(key="eval_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, page_text(at)

    report = at.session_state["eval_report"]
    assert report.collection == "dacon-eval" and len(report.questions) == 3
    assert [r.status for r in report.ingest] == ["ingested"]  # the three first questions share one PDF
    metrics = at.dataframe[0].value
    assert list(metrics.columns) == list(report.modes) == ["dense", "lexical", "hybrid"]
    for m in report.metrics:
        assert metrics.loc["doc recall@5", m.mode] == pytest.approx(m.doc.recall[5])
        assert metrics.loc["doc MRR@10", m.mode] == pytest.approx(m.doc.mrr)
    assert "Misses" in page_text(at)

    # An uploaded set (no ingestion) whose second question's gold document is not in the collection: a
    # certain miss, listed with what was retrieved instead.
    gold = report.questions[0].question
    rows = [
        {"id": "in", "question": gold.question, "answer": gold.answer, "doc": gold.docs[0]},
        {"id": "out", "question": "청년 일자리 예산은?", "answer": "?", "doc": "absent *x* <b>.pdf"},
    ]
    qa = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    at.checkbox(key="eval_ingest").uncheck()
    at.number_input(key="eval_limit").set_value(0)
    at.file_uploader(key="eval_upload").set_value([("mine.jsonl", qa, "application/json")]).run()
    at.button(key="eval_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    report = at.session_state["eval_report"]
    assert report.source == "mine.jsonl" and report.missing_docs == ("absent *x* <b>.pdf",)
    assert any("absent" in w.value for w in at.warning)
    at.selectbox(key="miss_mode").set_value("dense")
    at.selectbox(key="miss_k").set_value(1)
    at.run()
    # The inspector lists exactly the questions whose gold document is not in the chosen top k.
    missed = [r for r in report.questions if not any(h.file_name in r.question.docs for h in r.run("dense").hits[:1])]
    assert "out" in [r.question.id for r in missed]
    assert len(at.expander) == len(missed)
    assert f"{len(missed)} of 2 questions" in page_text(at)
    box = at.expander[[r.question.id for r in missed].index("out")]
    assert "Gold documents: absent *x* <b>.pdf" in box.text[0].value  # plain text, not rendered
    hits = box.dataframe[0].value
    assert list(hits["rank"]) == [1] and list(hits["file_name"]) == [gold.docs[0]] and "preview" in hits.columns
