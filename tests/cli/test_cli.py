import json

import pytest

from rag.cli.main import main
from tests.conftest import shared_path


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.storage.data_dir))
    return settings


def test_ingest_prints_a_summary_per_file_and_fails_when_one_failed(cli_env, capsys, tmp_path):
    good = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated nonsense")
    code = main(["ingest", "-q", str(good), str(bad)])
    out = capsys.readouterr().out
    assert code == 1
    assert "attention_vaswani2017_arxiv1706.03762.pdf: ingested  15 pages" in out
    assert "broken.pdf: FAILED" in out
    assert out.strip().endswith("1 ingested, 0 duplicate, 1 failed")

    assert main(["ingest", "-q", "--json", str(good)]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["status"] == "duplicate"


def test_ingest_ocr_option_overrides_the_setting_for_the_run(cli_env, capsys):
    scan = shared_path("pdfs", "adversarial", "scan_image_only_russian_form_2p.pdf")
    assert main(["ingest", "-q", "--ocr", "off", str(scan)]) == 1
    out = capsys.readouterr().out
    assert "scan_image_only_russian_form_2p.pdf: FAILED" in out and "OCR was off for this run" in out
    with pytest.raises(SystemExit):
        main(["ingest", "--ocr", "sometimes", str(scan)])
    assert "invalid choice" in capsys.readouterr().err


def test_list_search_delete(cli_env, capsys):
    pdf = shared_path("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")
    assert main(["ingest", "-q", "--collection", "papers", str(pdf)]) == 0
    capsys.readouterr()

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "collection 'papers': 1 documents" in out and pdf.name in out

    assert main(["search", "dense passage retriever", "--collection", "papers", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1. {pdf.name}  p. ") and "\n2. " in out

    assert main(["delete", pdf.name, "--collection", "papers"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    [collection] = json.loads(capsys.readouterr().out)
    assert collection["documents"] == [] and collection["chunks"] == 0


def test_errors_are_messages_not_tracebacks(cli_env, capsys):
    assert main(["search", "anything", "--collection", "missing-collection"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err
    for bad in ("0", "-3", "five"):
        with pytest.raises(SystemExit) as exit_:
            main(["search", "anything", "-k", bad])
        assert exit_.value.code == 2 and "-k" in capsys.readouterr().err


def test_search_says_which_passage_is_a_statement_placed_for_the_question(cli_env, capsys):
    pdf = shared_path("pdfs", "financebench", "ULTABEAUTY_2023Q4_EARNINGS.pdf")
    assert main(["ingest", "-q", str(pdf)]) == 0
    capsys.readouterr()
    assert (
        main(["search", "What were Ulta Beauty's capital expenditures and net sales in fiscal 2022?", "-k", "3"]) == 0
    )
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert [("placed: the cash flow statement the question calls for" in line) for line in lines] == [
        False,
        True,
        False,
    ]
    assert lines[1].startswith(f"2. {pdf.name}  p. 8 ")
    assert (
        main(
            [
                "search",
                "What were Ulta Beauty's capital expenditures and net sales in fiscal 2022?",
                "-k",
                "3",
                "--json",
            ]
        )
        == 0
    )
    assert [h["statement"] for h in json.loads(capsys.readouterr().out)] == [None, "cash flow statement", None]
