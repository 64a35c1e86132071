"""`python -m rag ask` end to end: real Chroma and embeddings, Ollama's wire protocol on 127.0.0.1."""

import pytest

from rag.cli import main
from tests.conftest import shared_path
from tests.fake_ollama import FakeOllama, dead_host


@pytest.fixture
def ready(settings, monkeypatch, library):
    pdf = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    library.ingest([pdf])
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
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
