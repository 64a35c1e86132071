"""`python -m rag ask` end to end: real Chroma and embeddings, Ollama's wire protocol on 127.0.0.1."""

import pytest

from rag.cli.main import main
from tests.conftest import shared_path
from tests.fake_ollama import FakeOllama, dead_host


@pytest.fixture
def ready(settings, monkeypatch, library):
    pdf = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    library.ingest([pdf])
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.storage.data_dir))
    monkeypatch.setenv("RAG_REWRITE_FOLLOWUPS", "0")
    return pdf


def test_ask_streams_the_answer_and_lists_cited_sources(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat(["The big model ", "reaches 28.4 BLEU ", "[1]."])
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        code = main(["ask", "What BLEU score does the Transformer reach on English-to-German?"])
        [request] = server.chat_requests
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("The big model reaches 28.4 BLEU [1].")
    assert f"[1] cited {ready.name}" in out
    prompt = "\n".join(m["content"] for m in request.body["messages"])
    assert "English-to-German" in prompt and ready.name in prompt
    assert request.body["model"] == "llama3.2" and request.body["stream"] is True


def test_ask_without_ollama_is_search_only_with_passages(ready, monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    code = main(["ask", "What BLEU score does the Transformer reach on English-to-German?"])
    captured = capsys.readouterr()
    assert code == 0
    assert "[search only" in captured.out
    assert f"[1]       {ready.name}" in captured.out
    assert "ollama serve" in captured.err
    # The passages themselves are printed: without generated text they are the answer.
    assert "BLEU" in captured.out.split("sources:")[1]


def test_ask_with_nothing_relevant_says_not_found_once_and_shows_the_nearest(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("RAG_MIN_SCORE", "0.99")
        code = main(["ask", "What BLEU score does the Transformer reach?"])
        assert server.chat_requests == []  # the model is not asked
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("Not found in your documents") == 1
    assert f"[1]       {ready.name}" in out and "BLEU" in out.split("sources:")[1]


def test_ask_with_another_model_and_a_citation_it_was_not_given(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("mistral")
        server.queue_chat("It reaches 28.4 BLEU [1], as source [9] says.")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        code = main(["ask", "What BLEU score does the Transformer reach?", "--model", "mistral", "-k", "3"])
        [request] = server.chat_requests
    captured = capsys.readouterr()
    assert code == 0 and request.body["model"] == "mistral"
    assert request.body["messages"][-1]["content"].count("<source>\n[") == 3
    assert "[9]" in captured.err and "not sources" in captured.err
    assert f"[1] cited {ready.name}" in captured.out


def test_ask_marks_each_citation_and_says_not_found_in_its_own_words(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        server.queue_chat("The big model reaches 99.9 BLEU on English-to-German [1].")  # no passage says 99.9
        assert main(["ask", "What BLEU score does the Transformer reach on English-to-German?"]) == 0
        checked = capsys.readouterr()
        server.queue_chat("I could not find this in the provided sources.")
        assert main(["ask", "What BLEU score does the Transformer reach on English-to-German?"]) == 0
        declined = capsys.readouterr()
    line = next(x for x in checked.out.splitlines() if x.startswith("  [1] cited"))
    assert line.endswith("✗ not in source (lacks 99.9)")
    assert "numbers in the answer that appear in none of the sources: 99.9" in checked.err
    # A refusal: the app's wording after the model's, no "cites none of the sources" under it, no marks.
    assert "[not found] Not found in your documents" in declined.out
    assert "cites none" not in declined.err and "✗" not in declined.out and "✓" not in declined.out


def test_ask_moves_a_figure_cited_to_a_page_without_it_and_says_so(ready, monkeypatch, capsys):
    # Source 2 is Table 3 (dev-set variations): no 28.4 there. Table 2 and the abstract hold it.
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat("The big model reaches 28.4 BLEU on English-to-German [2].")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        assert main(["ask", "What BLEU score does the Transformer reach on English-to-German?"]) == 0
    captured = capsys.readouterr()
    # The stream printed the model's [2]; the note says where the citation went, and the list shows it.
    assert captured.out.startswith("The big model reaches 28.4 BLEU on English-to-German [2].")
    [note] = [line for line in captured.err.splitlines() if line.startswith("note: Citation moved")]
    to = int(note.split(" to [", 1)[1].split("]", 1)[0])
    assert note.endswith(f"28.4 is in source {to}, not in source 2.") and to in (1, 3)
    cited = [line for line in captured.out.splitlines() if " cited " in line]
    assert len(cited) == 1 and cited[0].startswith(f"  [{to}] cited") and cited[0].endswith("✓ supports")


def test_ask_asks_again_when_the_reply_only_points_and_says_so(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat("[1] [2]")
        server.queue_chat("The big model reaches 28.4 BLEU on English-to-German [1].")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        code = main(["ask", "What BLEU score does the Transformer reach on English-to-German?"])
        assert len(server.chat_requests) == 2
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.startswith("[1] [2]\n\nThe big model reaches 28.4 BLEU on English-to-German [1].")
    assert "note: the model's first reply only pointed to its sources; it was asked again for words" in captured.err
    assert "no answer in words" not in captured.err


def test_ask_warns_of_a_calculation_whose_result_is_wrong(ready, monkeypatch, capsys):
    with FakeOllama() as server:
        server.add_model("llama3.2")
        server.queue_chat("The big model gains 28.4 - 25.8 = 3.6 BLEU on English-to-German [1].")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        assert main(["ask", "How much BLEU does the big Transformer gain over the best earlier model?"]) == 0
    captured = capsys.readouterr()
    assert "warning: Arithmetic checked: 28.4 - 25.8 comes to 2.6, not 3.6." in captured.err.splitlines()
