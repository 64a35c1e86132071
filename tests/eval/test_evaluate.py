"""Retrieval evaluation: hand-checked metrics, the QA loader, and one real run of `python -m rag eval`."""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import pytest

from rag.errors import EvalDataError
from rag.eval.metrics import doc_matches, hit_at_k, page_matches, percentile, recall_at_k, reciprocal_rank
from rag.eval.qa import GoldPage, Question, load_questions
from rag.eval.report import EvalReport, ModeRun, QuestionResult, RankedHit, misses, mode_metrics
from rag.eval.tables import format_table
from tests.conftest import SHARED, shared_path


def rh(rank: int, file_name: str, page: int, page_end: int | None = None) -> RankedHit:
    return RankedHit(rank, file_name, page, page if page_end is None else page_end, f"{file_name}:{rank}", "d", 0.5)


def q(qid: str, docs: tuple[str, ...], pages: tuple[GoldPage, ...] = ()) -> Question:
    return Question(qid, "en", f"question {qid}?", "answer", docs, (), pages)


# -- metrics ----------------------------------------------------------------------------------


def test_document_level_metrics_by_hand():
    hits = [rh(1, "A.pdf", 0), rh(2, "B.pdf", 3), rh(3, "A.pdf", 1), rh(4, "C.pdf", 0), rh(5, "B.pdf", 7)]
    m = doc_matches(hits, ["B.pdf", "C.pdf"])
    assert m == [frozenset(), {"B.pdf"}, frozenset(), {"C.pdf"}, {"B.pdf"}]
    # top 1: A -> 0 of 2 gold; top 3: A B A -> B = 1/2; top 4 and beyond: B and C = 2/2 (B twice counts once)
    assert recall_at_k(m, 2, 1) == 0.0
    assert recall_at_k(m, 2, 3) == 0.5
    assert recall_at_k(m, 2, 4) == 1.0
    assert recall_at_k(m, 2, 10) == 1.0  # k past the list's end
    assert hit_at_k(m, 1) == 0.0 and hit_at_k(m, 2) == 1.0
    assert reciprocal_rank(m) == 0.5  # first gold at rank 2
    assert reciprocal_rank(doc_matches(hits, ["Z.pdf"])) == 0.0
    assert reciprocal_rank([]) == 0.0 and recall_at_k([], 1, 5) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(m, 0, 1)
    with pytest.raises(ValueError):
        hit_at_k(m, 0)


def test_page_level_metrics_by_hand():
    gold = [GoldPage("A.pdf", 5), GoldPage("A.pdf", 9)]
    hits = [
        rh(1, "A.pdf", 3, 4),  # ends one page before 5: no
        rh(2, "B.pdf", 5, 5),  # page 5 of another document: no
        rh(3, "A.pdf", 4, 5),  # spans 4-5: finds A5 (page_end is inclusive)
        rh(4, "A.pdf", 5, 6),  # A5 again
        rh(5, "A.pdf", 8, 10),  # spans 8-10: finds A9
    ]
    m = page_matches(hits, gold)
    assert m == [frozenset(), frozenset(), {gold[0]}, {gold[0]}, {gold[1]}]
    # recall@3 = 1/2 (A5); @4 still 1/2 (A5 twice); @5 = 2/2; MRR = 1/3
    assert [recall_at_k(m, 2, k) for k in (1, 3, 4, 5)] == [0.0, 0.5, 0.5, 1.0]
    assert [hit_at_k(m, k) for k in (2, 3)] == [0.0, 1.0]
    assert reciprocal_rank(m) == pytest.approx(1 / 3)


def test_file_names_compare_as_nfc_basenames():
    nfd = unicodedata.normalize("NFD", "고용노동부_조기재취업수당.pdf")
    assert nfd != "고용노동부_조기재취업수당.pdf"
    assert doc_matches([rh(1, nfd, 0)], ["pdfs/x/고용노동부_조기재취업수당.pdf"]) == [{"고용노동부_조기재취업수당.pdf"}]
    assert page_matches([rh(1, nfd, 2)], [GoldPage("고용노동부_조기재취업수당.pdf", 2)])[0]


def test_percentile_interpolates_between_ranks():
    values = [40.0, 10.0, 30.0, 20.0]
    # sorted 10 20 30 40; p50 at position 1.5 -> 25; p95 at 2.85 -> 30 + 0.85 * 10 = 38.5
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))


def _results() -> list[QuestionResult]:
    # q1: one gold doc, gold page X5.   q2: two gold docs, no evidence pages.
    q1 = q("q1", ("X.pdf",), (GoldPage("X.pdf", 5),))
    q2 = q("q2", ("X.pdf", "Y.pdf"))
    return [
        QuestionResult(
            q1,
            (
                ModeRun("dense", (rh(1, "Y.pdf", 0), rh(2, "X.pdf", 5)), 0.010),
                ModeRun("lexical", (rh(1, "X.pdf", 1), rh(2, "X.pdf", 2), rh(3, "X.pdf", 4, 6)), 0.002),
            ),
        ),
        QuestionResult(
            q2,
            (
                ModeRun("dense", (rh(1, "X.pdf", 0), rh(2, "Y.pdf", 0)), 0.030),
                ModeRun("lexical", (rh(1, "Z.pdf", 0), rh(2, "Z.pdf", 1), rh(3, "Y.pdf", 0)), 0.004),
            ),
        ),
    ]


def test_mode_metrics_average_over_questions_by_hand():
    results = _results()
    dense = mode_metrics(results, "dense", (1, 3))
    # doc recall@1: q1 Y -> 0; q2 X -> 1/2  => mean 0.25.  recall@3: q1 1, q2 1 => 1.0
    assert dense.doc.recall == {1: 0.25, 3: 1.0}
    # doc hit@1: q1 0, q2 1 => 0.5.  MRR: q1 1/2, q2 1 => 0.75
    assert dense.doc.hit == {1: 0.5, 3: 1.0} and dense.doc.mrr == 0.75
    # page level only over q1: X5 at rank 2
    assert dense.page.n == 1 and dense.page.recall == {1: 0.0, 3: 1.0} and dense.page.mrr == 0.5
    # latencies 10 and 30 ms: p50 = 20, p95 = 10 + 0.95 * 20 = 29
    assert dense.latency_p50_ms == pytest.approx(20.0) and dense.latency_p95_ms == pytest.approx(29.0)

    lexical = mode_metrics(results, "lexical", (1, 3))
    # doc: q1 X at rank 1 -> recall 1, rr 1; q2 Y at rank 3 -> recall@1 0, recall@3 1/2, rr 1/3
    assert lexical.doc.recall == {1: 0.5, 3: 0.75}
    assert lexical.doc.mrr == pytest.approx((1 + 1 / 3) / 2)
    # page: q1's X5 inside the span 4-6 at rank 3
    assert lexical.page.recall == {1: 0.0, 3: 1.0} and lexical.page.mrr == pytest.approx(1 / 3)


def test_misses_table_and_json_of_a_report():
    results = _results()
    ks = (1, 3)
    report = EvalReport(
        "c",
        ("dense", "lexical"),
        ks,
        tuple(mode_metrics(results, m, ks) for m in ("dense", "lexical")),
        tuple(results),
        source="tiny.jsonl",
    )
    # at k=1, dense: q1 (page level) misses X5; q2 (doc level) finds X, so only a partial miss
    assert [(m.result.question.id, m.level) for m in misses(report, "dense", 1)] == [("q1", "page")]
    assert [(m.result.question.id, m.found) for m in misses(report, "dense", 1, partial=True)] == [
        ("q1", 0.0),
        ("q2", 0.5),
    ]
    assert misses(report, "lexical", 3) == []

    table = format_table(report)
    header = next(line for line in table.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "dense", "lexical"]
    rows = {line.rsplit(None, 2)[0].strip(): line.split()[-2:] for line in table.splitlines()[2:] if "  " in line}
    assert rows["doc recall@1"] == ["0.250", "0.500"]
    assert rows["doc hit@1"] == ["0.500", "0.500"]  # two gold docs in q2: hit rows are shown
    assert rows["page MRR@3"] == ["0.500", "0.333"]
    assert rows["latency p50 ms"][0] == "20.0"

    data = json.loads(report.to_json())
    assert data["metrics"]["lexical"]["doc"]["recall"] == {"1": 0.5, "3": 0.75}
    assert data["questions"][0]["gold_pages"] == [{"file_name": "X.pdf", "page": 5}]
    assert data["questions"][1]["runs"]["lexical"]["hits"][2]["file_name"] == "Y.pdf"
    assert RankedHit.from_dict(data["questions"][0]["runs"]["dense"]["hits"][1]) == results[0].runs[0].hits[1]


# -- loader -----------------------------------------------------------------------------------


def test_load_questions_single_multi_and_evidence(tmp_path):
    qa = tmp_path / "qa" / "set.jsonl"
    qa.parent.mkdir()
    lines = [
        {
            "id": "a",
            "lang": "en",
            "question": " What? ",
            "answer": "x",
            "doc": "R.pdf",
            "pdf_path": "pdfs/R.pdf",
            "evidence": [{"doc": "R", "page_index0": 4}, {"doc": "R", "page_index0": 4}, {"page_index0": 2}],
        },
        {
            "id": "b",
            "lang": "ko",
            "question": "무엇?",
            "answer": "y",
            "docs": ["S.pdf", "T.pdf"],
            "pdf_paths": ["pdfs/S.pdf", "pdfs/T.pdf"],
            "evidence_page": None,
        },
        {
            "id": "c",
            "question": "Which?",
            "pdf_paths": ["pdfs/S.pdf", "pdfs/T.pdf"],
            "evidence": [{"doc": "T", "page_index0": 0}],
        },
    ]
    qa.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]))
    a, b, c = load_questions(qa)
    assert (a.id, a.question, a.docs) == ("a", "What?", ("R.pdf",))
    assert a.pdf_paths == ((tmp_path / "pdfs" / "R.pdf").resolve(),)  # relative to the QA folder's parent
    assert a.pages == (GoldPage("R.pdf", 2), GoldPage("R.pdf", 4))  # deduplicated, sorted
    assert (b.lang, b.docs, b.pages) == ("ko", ("S.pdf", "T.pdf"), ())
    assert c.pages == (GoldPage("T.pdf", 0),)
    assert [x.id for x in load_questions(qa, limit=2)] == ["a", "b"]
    assert load_questions(qa, base_dir=tmp_path / "elsewhere")[0].pdf_paths[0].parent.name == "pdfs"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "question": "q", "doc": "A.pdf"}\n{"id": "a", "question": "r", "doc": "A.pdf"}', "duplicate"),
        ('{"id": "a", "doc": "A.pdf"}', "non-empty 'id' and 'question'"),
        ('{"id": "a", "question": "q"}', "no gold document"),
        ('{"id": "a", "question": "q", "doc": "A.pdf"}\nnot json', "line 2: not JSON"),
        (
            '{"id": "a", "question": "q", "docs": ["A.pdf", "B.pdf"], "evidence": [{"doc": "C", "page_index0": 1}]}',
            "evidence document",
        ),
        ('{"id": "a", "question": "q", "doc": "A.pdf", "evidence": [{"page_index0": -1}]}', "negative"),
        ("", "no questions"),
    ],
)
def test_load_questions_rejects_malformed_files(tmp_path, content, message):
    qa = tmp_path / "bad.jsonl"
    qa.write_text(content)
    with pytest.raises(EvalDataError, match=message):
        load_questions(qa)


def test_shared_qa_sets_load():
    path = shared_path("qa", "financebench_dev.jsonl")
    questions = load_questions(path)
    assert all(x.pages and len(x.docs) == 1 and x.pdf_paths[0].is_file() for x in questions)
    assert all(g.file_name == x.docs[0] for x in questions for g in x.pages)


# -- end to end -------------------------------------------------------------------------------

ATTENTION = "attention_vaswani2017_arxiv1706.03762.pdf"
DPR = "dpr_karpukhin2020_arxiv2004.04906.pdf"
# Answers checked by hand in the PDFs' text (pypdf 0-based page indices).
QUESTIONS = [
    (
        "attn-adam",
        "Which beta1, beta2 and epsilon values did the Transformer use with the Adam optimizer?",
        "0.9, 0.98, 1e-9",
        ATTENTION,
        6,
    ),
    ("attn-smooth", "What value of label smoothing was employed during Transformer training?", "0.1", ATTENTION, 7),
    (
        "dpr-split",
        "Into how many passages of 100 words was the English Wikipedia dump split for DPR?",
        "21,015,324",
        DPR,
        3,
    ),
    (
        "dpr-speed",
        "How many questions per second does DPR process with FAISS compared with BM25/Lucene?",
        "995.0 vs 23.7",
        DPR,
        6,
    ),
]


def _recompute(entry: dict, mode: str, ks: list[int]) -> dict:
    """Scores of one question from its hits in the JSON, computed here without rag.eval.evaluate."""
    hits = entry["runs"][mode]["hits"]
    gold_docs = set(entry["gold_docs"])
    gold_pages = {(g["file_name"], g["page"]) for g in entry["gold_pages"]}

    def found(hit: dict) -> tuple[set, set]:
        pages = {(f, p) for f, p in gold_pages if f == hit["file_name"] and hit["page"] <= p <= hit["page_end"]}
        return {hit["file_name"]} & gold_docs, pages

    per_hit = [found(h) for h in hits]
    out = {}
    for level, gold, i in (("doc", gold_docs, 0), ("page", gold_pages, 1)):
        if not gold:
            continue
        first = next((r for r, f in enumerate(per_hit, 1) if f[i]), None)
        out[level] = {
            "recall": {str(k): len(set().union(*(f[i] for f in per_hit[:k]))) / len(gold) for k in ks},
            "mrr": 1 / first if first else 0.0,
        }
    return out


def test_eval_command_end_to_end(settings, embedder, monkeypatch, tmp_path, capsys):
    from rag.cli import common
    from rag.cli.main import main
    from rag.library import Library

    for name in (ATTENTION, DPR):
        shared_path("pdfs", "general", name)
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.storage.data_dir))
    # The per-page clock also runs while a fresh extraction process starts: on a busy machine that alone
    # can exceed the default 5 s and fail a good file. Timeouts are not what this test is about.
    monkeypatch.setenv("RAG_PAGE_TIMEOUT", "120")
    monkeypatch.setattr(common, "open_library", lambda s: Library(s, embedder=embedder))  # reuse the loaded model
    qa = tmp_path / "qa" / "papers.jsonl"
    qa.parent.mkdir()
    qa.write_text(
        "".join(
            json.dumps(
                {
                    "id": i,
                    "lang": "en",
                    "question": text,
                    "answer": answer,
                    "doc": doc,
                    "pdf_path": f"pdfs/general/{doc}",
                    "evidence": [{"doc": doc[:-4], "page_index0": page}],
                }
            )
            + "\n"
            for i, text, answer, doc, page in QUESTIONS
        )
    )
    report_path = tmp_path / "report.json"
    argv = ["eval", str(qa), "--base", str(SHARED), "--collection", "papers", "--ingest", "--json", str(report_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 ingested, 0 duplicate, 0 failed" in out
    assert "papers.jsonl: 4 questions, collection 'papers' (2 documents," in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "dense", "lexical", "hybrid"]

    data = json.loads(report_path.read_text())
    assert data["ks"] == [1, 3, 5, 10] and data["missing_docs"] == []
    assert [e["id"] for e in data["questions"]] == [x[0] for x in QUESTIONS]
    for mode in ("dense", "lexical", "hybrid"):
        reported = data["metrics"][mode]
        per_q = [_recompute(e, mode, data["ks"]) for e in data["questions"]]
        for level in ("doc", "page"):
            for k in data["ks"]:
                expected = sum(x[level]["recall"][str(k)] for x in per_q) / len(per_q)
                assert reported[level]["recall"][str(k)] == pytest.approx(expected), (mode, level, k)
                row = next(line for line in lines if line.startswith(f"{level} recall@{k} "))
                assert row.split()[-3:][data["modes"].index(mode)] == f"{expected:.3f}"
            assert reported[level]["mrr"] == pytest.approx(sum(x[level]["mrr"] for x in per_q) / len(per_q))
        ms = sorted(e["runs"][mode]["ms"] for e in data["questions"])
        assert reported["latency_ms"]["p50"] == pytest.approx((ms[1] + ms[2]) / 2)
        for e in data["questions"]:
            hits = e["runs"][mode]["hits"]
            assert 0 < len(hits) <= 10 and [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
            assert all(h["file_name"] in (ATTENTION, DPR) and h["page"] <= h["page_end"] for h in hits)
            assert all(h["chunk_id"].startswith(h["doc_id"]) for h in hits)
    # Sanity, not a tuning target: these questions name their paper's own terms.
    assert data["metrics"]["hybrid"]["doc"]["recall"]["5"] >= 0.75

    # Again without ingesting: fewer modes and other cut-offs, columns in the order asked for.
    again = ["--modes", "lexical,dense", "-k", "2,1", "--limit", "2"]
    assert main(["eval", str(qa), "--base", str(SHARED), "--collection", "papers", *again]) == 0
    out = capsys.readouterr().out
    assert "ingested" not in out and "2 questions" in out
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "lexical", "dense"]
    assert "page recall@2" in out and "page MRR@2" in out and "recall@10" not in out


def test_eval_command_errors_are_messages(settings, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.storage.data_dir))
    from rag.cli.main import main

    qa = tmp_path / "qa" / "set.jsonl"
    qa.parent.mkdir()
    qa.write_text(json.dumps({"id": "a", "question": "q?", "doc": "nope.pdf", "pdf_path": "pdfs/nope.pdf"}))
    assert main(["eval", str(qa), "--ingest", "--collection", "nothing-here"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not found" in err and str(Path("pdfs") / "nope.pdf") in err
    assert main(["eval", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read the QA file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(qa), "-k", "0,5"])
