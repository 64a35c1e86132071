"""The answer benchmark: scoring on hand-made cases, and the runner through the real chat path and a fake Ollama."""

import json

import pytest

from rag.answer.figures import figures
from rag.cli.main import main
from rag.eval.answers import AnswerReport, ConfigSummary, MeteredLLM, default_configs, run_answers
from rag.eval.answers_report import format_table, progress_line
from rag.eval.qa import parse_questions
from rag.eval.scoring import NumberMatch, gold_figures, issuer, number_grade, score_answer, token_f1, verdict
from rag.settings import AnswerSettings
from tests.fake_ollama import FakeOllama
from tests.pdfgen import text_pdf

# -- scoring -----------------------------------------------------------------------------------------


def grade(answer: str, gold: str) -> str:
    [g] = figures(gold)
    [a] = figures(answer)
    return number_grade(g, a)


def test_within_one_unit_of_the_last_gold_digit_is_exact_and_a_coarser_rounding_is_partly():
    assert grade("24.27", "24.26") == "exact"
    assert grade("24.28", "24.26") == "missing"
    assert grade("24.3", "24.26") == "rounded"  # the gold rounded to the answer's precision
    assert grade("24.4", "24.26") == "missing"
    assert grade("24", "24.26") == "rounded"
    assert grade("2", "1.9") == "missing"  # one significant digit is no rounding worth credit
    assert score_answer("The ratio is about 24.3 [1].", "24.26").verdict == "partly"
    assert score_answer("The ratio is 24.26 [1].", "24.26").verdict == "correct"
    assert score_answer("The ratio is 31.02 [1].", "24.26").verdict == "wrong"


def test_one_unit_off_a_small_gold_is_another_number_and_a_copied_source_header_is_no_answer():
    assert grade("4", "5") == "missing" and grade("6", "5") == "missing" and grade("5", "5") == "exact"
    assert grade("13", "12") == "missing" and grade("12.0", "12") == "exact"
    assert grade("125", "124") == "exact"  # three significant digits: one unit is rounding noise
    # but a year one off is another year, written in full or short
    assert grade("1995", "1996") == "missing" and grade("2022", "’22") == "exact" and grade("2021", "’22") == "missing"
    assert grade("$1,995 million", "$1996 million") == "exact"  # an amount is not a year
    # A small model copied the header of a source instead of answering: "p. 4" is not the gold's "5".
    copied = "[1] 고용노동부_청년일자리창출지원.pdf, p. 4 [2][3]"
    assert score_answer(copied, "5인 이상 우선지원 기업").verdict == "wrong"
    assert score_answer("[1] REPORT.pdf, pp. 12–13 [2]", "12").verdict == "wrong"


def test_scale_words_currency_and_percent_forms_match_the_gold():
    assert grade("$12,645 million", "$12645.00") == "exact"  # trailing zeros of the gold are formatting
    assert grade("$12.6 billion", "$12645.00") == "rounded"
    assert grade("$12,646 million", "$12645.00") == "exact"
    assert grade("$12,700 million", "$12645.00") == "missing"
    assert grade("1.9 percent", "1.9%") == "exact"
    assert grade("400", "0.4%") == "missing"  # a percentage is not a table figure in thousands
    assert score_answer("Capex was $12,645 million [2].", "$12645.00").verdict == "correct"
    assert score_answer("Capex was $12.6 billion [2].", "$12645.00").verdict == "partly"


def test_figures_the_question_states_and_citation_markers_are_not_answers():
    assert [f.key for f in gold_figures("In 2019 the ratio was 24.26", "What was the ratio in 2019?")] == ["24.26"]
    # "[1]" is a citation, not the figure 1
    assert score_answer("The sources give it [1].", "1").numbers == (NumberMatch("1", "missing"),)
    assert score_answer("It is 1 [2].", "1").verdict == "correct"


def test_every_gold_figure_is_needed_for_correct():
    gold = "Effective tax rate in FY2022 was 0.62%, compared to -14.76% in FY2021."
    both = score_answer("It was 0.62% in FY2022 and -14.76% in FY2021 [1].", gold)
    one = score_answer("It was 0.62% in FY2022 [1].", gold)
    assert both.verdict == "correct" and both.exact == 2
    assert one.verdict == "partly" and one.exact == 1


def test_korean_answers_are_scored_by_bigrams_of_their_stems():
    gold = "청년 신규 일자리 창출을 통한 청년고용을 활성화하고, 청년취업 촉진 및 구인난 해소에 목적이 있습니다."
    close = "이 사업의 목적은 청년 신규 일자리 창출을 통한 청년고용 활성화와 구인난 해소입니다 [1]."
    unrelated = "지원금은 고용센터에서 지급합니다 [2]."
    assert token_f1(close, gold) >= 0.5 > token_f1(unrelated, gold)
    assert score_answer(close, gold).verdict == "correct"
    assert score_answer(unrelated, gold).verdict == "wrong"
    # Korean figures with their units: 657,680백만원 is the gold 657680백만원
    assert score_answer("확정 예산은 657,680백만원입니다 [1].", "657680백만원").verdict == "correct"
    # '22 is 2022: an answer giving the years in full gives the gold's short ones
    years = score_answer("사업기간은 2022년부터 2024년까지입니다 [1].", "'22년~'24년까지")
    assert [(m.gold, m.grade) for m in years.numbers] == [("'22", "exact"), ("'24", "exact")]


def test_verdict_thresholds_and_precedence():
    missing = (NumberMatch("5", "missing"),)
    assert verdict((), 0.5) == "correct"
    assert verdict((), 0.49) == "partly"
    assert verdict((), 0.24) == "wrong"
    assert verdict(missing, 0.3) == "partly"  # no figure, but the words are close
    assert verdict(missing, 0.1) == "wrong"
    assert verdict((NumberMatch("5", "exact"),), 0.0, refused=True) == "refused"
    assert verdict((NumberMatch("5", "exact"),), 0.9, failed=True) == "error"


def test_issuer_is_the_file_name_before_its_first_part_with_a_digit():
    assert issuer("BOEING_2022_10K.pdf") == issuer("BOEING_2018_10K.pdf") == "boeing"
    assert issuer("JOHNSON_JOHNSON_2023_8K_dated-2023-08-30.pdf") == "johnson_johnson"
    assert issuer("3M_2018_10K.pdf") == "3m"
    assert issuer("고용노동부_청년일자리창출지원.pdf") == "고용노동부_청년일자리창출지원"


# -- the runner, end to end ----------------------------------------------------------------------

DOCS = {
    "ACME_2021_10K.pdf": [
        "ACME Corporation annual report for fiscal 2021.",
        "ACME total revenue in fiscal 2021 was $12,645 million.",
        "ACME sells rocket skates and anvils to customers in the desert.",
    ],
    "ACME_2020_10K.pdf": [
        "ACME Corporation annual report for fiscal 2020.",
        "ACME employed 1,200 people at the end of fiscal 2020.",
    ],
    "GLOBEX_2022_10K.pdf": [
        "Globex Corporation annual report for fiscal 2022.",
        "Globex operating margin in fiscal 2022 was 24.26 percent.",
        "Globex builds doomsday devices for volcano lairs.",
    ],
    "INITECH_2022_10K.pdf": [
        "Initech annual report for fiscal 2022.",
        "Initech sells printers and TPS report software to offices.",
    ],
}
QA = [
    {"id": "acme", "question": "What was ACME total revenue in fiscal 2021?", "answer": "$12645.00",
     "doc": "ACME_2021_10K.pdf"},
    {"id": "globex", "question": "What was Globex operating margin in fiscal 2022?", "answer": "24.26",
     "doc": "GLOBEX_2022_10K.pdf"},
    {"id": "initech", "question": "What does Initech sell?",
     "answer": "Initech sells printers and TPS report software to offices.", "doc": "INITECH_2022_10K.pdf"},
    {"id": "hooli", "question": "What was Hooli revenue in 2022?", "answer": "$5 billion", "doc": "HOOLI_2022_10K.pdf"},
]  # fmt: skip
# Asked in this order: per question, baseline then page context, answerable then absent.
REPLIES = [
    "ACME revenue in fiscal 2021 was $12,645 million [1].",  # acme, baseline: correct
    "ACME revenue was about $12.6 billion [1]. It grew 99.9 percent [1].",  # page context: partly, one unsupported
    "The provided sources do not contain this information.",  # absent: declined
    "ACME revenue was $11,020 million [1].",  # absent: answered anyway
    "Globex operating margin was 24.3 percent [1].",  # globex, baseline: partly (rounded)
    "Globex operating margin in fiscal 2022 was 24.26 percent [1].",  # page context: correct
    "I cannot find this in the documents.",  # absent: declined
    "The sources do not mention Globex.",  # absent: declined
    "The documents do not say.",  # initech, baseline: refused
    "Initech sells printers and TPS report software to offices [1].",  # page context: correct
    "Initech sells staplers [1].",  # absent: answered anyway
    "None of the sources mention Initech.",  # absent: declined
]


@pytest.fixture
def collection(library, tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name, lines in DOCS.items():
        (folder / name).write_bytes(text_pdf(lines))
    results = library.ingest([folder])
    assert {r.status for r in results} == {"ingested"}
    return library.settings.storage.collection


def questions():
    return parse_questions([json.dumps(row) for row in QA], "/nowhere")


def test_runner_asks_through_the_chat_and_counts_each_configuration(library, collection):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        for reply in REPLIES:
            server.queue_chat(reply)
        llm = MeteredLLM(server.url, "llama3.2")
        report = run_answers(
            library,
            questions(),
            collection,
            llm,
            chat_config=AnswerSettings(min_score=-1.0, rewrite_followups=False, evidence_gate=False),
        )
        requests = server.chat_requests
    baseline, context = report.summaries
    assert baseline.config == "top chunks (baseline)" and context.config == "page context 1400"
    assert (baseline.questions, baseline.correct, baseline.partly, baseline.wrong, baseline.refused) == (3, 1, 1, 0, 1)
    assert (context.questions, context.correct, context.partly, context.wrong, context.refused) == (3, 2, 1, 0, 0)
    assert (baseline.absent, baseline.absent_not_found) == (context.absent, context.absent_not_found) == (3, 2)
    assert baseline.citation_support == 1.0 and context.citation_support == 0.75
    assert report.skipped == ("hooli",)
    assert len(requests) == len(report.records) == 12
    for record, request in zip(report.records, requests, strict=True):
        # the server's own count (the fake's: characters / 4), not the estimate
        sent = sum(len(m["content"]) for m in request.body["messages"]) // 4
        assert record.prompt_tokens_from_server and record.prompt_tokens == sent
        assert record.prompt_tokens_estimate and record.ttft_s is not None and record.ttft_s > 0
    # Absent-document questions: every filing of the issuer is kept out of what the model reads.
    acme_absent = [r for r in report.records if r.id == "acme" and r.kind == "absent"]
    assert all(r.excluded == ("ACME_2020_10K.pdf", "ACME_2021_10K.pdf") for r in acme_absent)
    assert all(not any(s.startswith("ACME_") for s in r.sources) for r in acme_absent)
    prompt = requests[2].body["messages"][-1]["content"]
    assert "ACME_" not in prompt and "GLOBEX_2022_10K.pdf" in prompt
    table = format_table(report)
    assert "| top chunks (baseline) | 3 | 1 | 1 | 0 | 1 | 0 | 1.00 | 2/3 (0.67) |" in table
    assert "| page context 1400 | 3 | 2 | 1 | 0 | 0 | 0 | 0.75 | 2/3 (0.67) |" in table


def test_a_reply_asked_again_is_scored_as_the_second_with_the_first_prompt_counted(library, collection):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat("[1]")
        server.queue_chat("ACME revenue in fiscal 2021 was $12,645 million [1].")
        llm = MeteredLLM(server.url, "llama3.2", seed=7)
        report = run_answers(
            library,
            questions()[:1],
            collection,
            llm,
            chat_config=AnswerSettings(min_score=-1.0, rewrite_followups=False, evidence_gate=False),
            configs=default_configs(library)[1:],
            absent=False,
        )
        first, second = (r.body for r in server.chat_requests)
    (record,) = report.records
    assert record.asked_again and record.verdict == "correct" and record.supported == 1
    # the prompt's size is the answer's prompt, not the longer conversation that asked again
    assert record.prompt_tokens == sum(len(m["content"]) for m in first["messages"]) // 4
    assert first["options"]["seed"] == second["options"]["seed"] == 7


def test_a_written_calculation_is_counted_and_a_wrong_one_shown_in_the_progress_line(library, collection):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat("ACME revenue in fiscal 2021 was 12,000 + 645 = $12,745 million [1].")
        report = run_answers(
            library,
            questions()[:1],
            collection,
            MeteredLLM(server.url, "llama3.2"),
            chat_config=AnswerSettings(min_score=-1.0, rewrite_followups=False, evidence_gate=False),
            configs=default_configs(library)[1:],
            absent=False,
        )
    (record,) = report.records
    assert (record.calculations, record.wrong_arithmetic) == (1, 1)
    assert progress_line(record).endswith(" arithmetic wrong 1/1")


def test_gated_questions_are_refused_and_correct_not_found_without_calling_the_model(library, collection):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        llm = MeteredLLM(server.url, "llama3.2")
        report = run_answers(
            library,
            questions()[:2],
            collection,
            llm,
            chat_config=AnswerSettings(min_score=0.99, rewrite_followups=False),
        )
        assert server.chat_requests == []
    for s in report.summaries:
        assert (s.questions, s.refused, s.absent, s.absent_not_found) == (2, 2, 2, 2)
        assert s.median_prompt_tokens is None and s.median_ttft_s is None
    assert all(r.mode == "not_found" and r.ttft_s is None for r in report.records)


def test_a_run_stopped_by_hand_reports_the_questions_every_configuration_finished(library, collection):
    seen = []

    def stop_at_the_third(record):
        seen.append(record)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with FakeOllama() as server:
        server.add_model("llama3.2")
        for reply in [*REPLIES[:2], *REPLIES[4:6]]:
            server.queue_chat(reply)
        llm = MeteredLLM(server.url, "llama3.2")
        cfg = AnswerSettings(min_score=-1.0, rewrite_followups=False)
        report = run_answers(
            library, questions(), collection, llm, chat_config=cfg, absent=False, progress=stop_at_the_third
        )
    assert report.stopped_early and [r.id for r in report.records] == ["acme", "acme"]
    assert [(s.questions, s.correct, s.partly) for s in report.summaries] == [(1, 1, 0), (1, 0, 1)]
    assert "stopped early" in format_table(report)


def test_the_table_says_how_many_citations_the_app_moved() -> None:
    row = dict(questions=31, correct=4, partly=15, wrong=11, refused=1, errors=0, citation_support=15 / 44)
    rest = dict(absent=0, absent_not_found=0, median_prompt_tokens=1791, prompt_tokens_from_server=True)
    summaries = (
        ConfigSummary("page context 1400", **row, **rest, median_ttft_s=62.0, moved=4),
        ConfigSummary("page context 900", **row, **rest, median_ttft_s=33.0),
    )
    table = format_table(AnswerReport("qwen", "financebench", "none", (), summaries))
    assert "| page context 1400 | 31 | 4 | 15 | 11 | 1 | 0 | 0.34 (4 moved) | - | 1791 | 62.0 |" in table
    assert "| page context 900 | 31 | 4 | 15 | 11 | 1 | 0 | 0.34 | - | 1791 | 33.0 |" in table


def test_eval_answers_from_the_command_line(library, collection, settings, monkeypatch, tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(row) for row in QA[:2]), encoding="utf-8")
    out = tmp_path / "answers.json"
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.storage.data_dir))
    monkeypatch.setenv("RAG_MIN_SCORE", "-1")
    with FakeOllama() as server:
        server.add_model("qwen")
        for reply in ["OK", *REPLIES[:2], *REPLIES[4:6]]:  # the first answers the warm-up
            server.queue_chat(reply)
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        code = main(["eval", str(qa), "--answers", "--model", "qwen", "--no-absent", "--json", str(out)])
        warm_up, *asked = server.chat_requests
        assert warm_up.body["stream"] is False  # the model is loaded before the first question is timed
        assert {r.body["model"] for r in server.chat_requests} == {"qwen"}
        assert len(asked) == 4 and all(r.body["stream"] for r in asked)
        assert main(["eval", str(qa), "--answers", "--model", "nosuch", "--no-absent"]) == 2
    captured = capsys.readouterr()
    assert code == 0
    assert "| top chunks (baseline) | 2 | 1 | 1 | 0 | 0 | 0 |" in captured.out
    assert "| page context 1400 | 2 | 1 | 1 | 0 | 0 | 0 |" in captured.out
    assert "acme [top chunks (baseline), answerable] correct" in captured.err
    assert "'nosuch' is not on the Ollama server" in captured.err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [r["verdict"] for r in data["records"]] == ["correct", "partly", "partly", "correct"]
    assert data["summaries"][0]["not_found_accuracy"] is None and data["absent_from"] == "none"


def test_one_configuration_alone_for_comparing_two_checkouts(library, collection, tmp_path, monkeypatch):
    from rag.eval.answers_report import run_command

    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(row) for row in QA[:2]), encoding="utf-8")
    monkeypatch.setenv("RAG_MIN_SCORE", "-1")
    with FakeOllama() as server:
        server.add_model("qwen")
        for reply in ["OK", *REPLIES[:2]]:
            server.queue_chat(reply)
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        lib = type(library)(library.settings.with_(ollama_host=server.url), embedder=library.embedder)
        try:
            report = run_command(qa, lib, collection=collection, model="qwen", absent=False, only="page")
        finally:
            lib.close()
        assert len(server.chat_requests) == 3  # the warm-up and one answer a question
    assert [s.config for s in report.summaries] == ["page context 1400"]
    assert {r.config for r in report.records} == {"page context 1400"}
