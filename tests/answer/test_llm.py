"""The Ollama adapter against a real HTTP server speaking Ollama's protocol (and, optionally, a live one)."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator

import pytest

from rag.answer.chat import ChatSession
from rag.answer.llm import ContextInfo, OllamaLLM, normalise_model_name
from rag.errors import ConfigError, LLMError, LLMTimeout, LLMUnavailable, ModelNotFound, StreamInterrupted
from rag.models import Chunk, Hit
from rag.settings import AnswerSettings, Settings
from tests.fake_ollama import FakeOllama, dead_host

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        fake.add_model("llama3.2", context_length=131072)
        yield fake


def test_lists_installed_models_for_a_picker(server: FakeOllama) -> None:
    server.add_model("mistral:7b", family="mistral")
    models = OllamaLLM(server.url, "llama3.2").list_models()
    assert [m.name for m in models] == ["llama3.2:latest", "mistral:7b"]
    assert models[1].family == "mistral"
    assert models[0].size_bytes == server.models["llama3.2:latest"].size
    assert models[0].modified_at is not None
    assert server.requests_to("/api/tags")


def test_has_model_understands_untagged_names(server: FakeOllama) -> None:
    llm = OllamaLLM(server.url, "llama3.2")
    assert llm.has_model()
    assert llm.has_model("llama3.2:latest")
    assert not llm.has_model("mistral")
    assert normalise_model_name("library/qwen2.5") == "library/qwen2.5:latest"


def test_context_info_from_show(server: FakeOllama) -> None:
    server.add_model("small", context_length=32768, num_ctx=6144)
    info = OllamaLLM(server.url, "small").context_info()
    assert info == ContextInfo(trained=32768, configured=6144)
    show = server.requests_to("/api/show")
    assert show[-1].body == {"model": "small"}
    # Cached: asking again does not hit the server.
    llm = OllamaLLM(server.url, "llama3.2")
    llm.context_info()
    llm.context_info()
    assert len(server.requests_to("/api/show")) == 2


@pytest.mark.parametrize(
    ("info", "override", "expected"),
    [
        (ContextInfo(trained=131072, configured=None), 0, 8192),  # trained length is capped
        (ContextInfo(trained=131072, configured=16384), 0, 16384),  # the Modelfile's choice wins
        (ContextInfo(trained=4096, configured=None), 0, 4096),
        (ContextInfo(trained=131072, configured=None), 3000, 3000),  # explicit override
        (ContextInfo(trained=2048, configured=None), 8192, 2048),  # never beyond what it was trained for
        (ContextInfo(trained=None, configured=None), 0, 4096),
    ],
)
def test_window_choice(info: ContextInfo, override: int, expected: int) -> None:
    assert info.window(override=override, cap=8192) == expected


def test_streams_tokens_and_sends_num_ctx(server: FakeOllama) -> None:
    server.queue_chat(["Hel", "lo", " there."], done_reason="stop")
    stream = OllamaLLM(server.url, "llama3.2").stream_chat(MESSAGES, num_ctx=3072, num_predict=256)
    assert server.chat_requests == []  # nothing is sent before iteration starts
    assert list(stream) == ["Hel", "lo", " there."]
    assert stream.done_reason == "stop"
    assert stream.eval_count == 3
    body = server.chat_requests[0].body
    assert body is not None
    assert body["model"] == "llama3.2"
    assert body["messages"] == MESSAGES
    assert body["stream"] is True
    assert body["options"]["num_ctx"] == 3072
    assert body["options"]["num_predict"] == 256
    assert "seed" not in body["options"]  # Ollama's own random seed unless one is set


def test_a_seed_from_the_settings_is_sent_with_every_request(
    server: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("RAG_LLM_SEED", "42")
    llm = OllamaLLM.from_settings(Settings.from_env())
    list(llm.stream_chat(MESSAGES, num_ctx=2048))
    llm.with_model("llama3.2").complete(MESSAGES, num_ctx=2048)  # a model switch keeps the seed
    assert [r.body["options"]["seed"] for r in server.chat_requests] == [42, 42]  # type: ignore[index]
    monkeypatch.setenv("RAG_LLM_SEED", "seven")
    with pytest.raises(ConfigError, match="RAG_LLM_SEED must be an integer"):
        Settings.from_env()


def test_complete_is_one_non_streamed_request(server: FakeOllama) -> None:
    server.queue_chat("A standalone question?")
    reply = OllamaLLM(server.url, "llama3.2").complete(MESSAGES, num_ctx=2048)
    assert reply == "A standalone question?"
    body = server.chat_requests[0].body
    assert body is not None and body["stream"] is False and body["options"]["num_ctx"] == 2048


def test_unreachable_server_says_how_to_start_it() -> None:
    llm = OllamaLLM(dead_host(), "llama3.2", timeout_s=5)
    started = time.monotonic()
    assert not llm.is_available(timeout_s=1.0)
    with pytest.raises(LLMUnavailable, match="ollama serve"):
        llm.list_models()
    with pytest.raises(LLMUnavailable):
        llm.context_info()
    with pytest.raises(LLMUnavailable):
        list(llm.stream_chat(MESSAGES, num_ctx=2048))
    with pytest.raises(LLMUnavailable):
        llm.complete(MESSAGES, num_ctx=2048)
    assert time.monotonic() - started < 5


def test_missing_model_offers_a_pull(server: FakeOllama) -> None:
    llm = OllamaLLM(server.url, "mistral")
    with pytest.raises(ModelNotFound, match="ollama pull mistral") as caught:
        llm.context_info()
    assert caught.value.model == "mistral"
    with pytest.raises(ModelNotFound):
        list(llm.stream_chat(MESSAGES, num_ctx=2048))


def test_pull_reports_progress_then_the_model_is_installed(server: FakeOllama) -> None:
    llm = OllamaLLM(server.url, "mistral")
    progress = list(llm.pull_model())
    assert progress[0].status == "pulling manifest"
    assert progress[-1].done
    layers = [p for p in progress if p.total]
    assert {p.total for p in layers} == set(server.pull_layers)
    assert [p.fraction for p in layers if p.total == server.pull_layers[0]] == [0.0, 0.5, 1.0]
    assert all(p.digest and p.digest.startswith("sha256:") for p in layers)
    assert server.requests_to("/api/pull")[0].body == {"model": "mistral", "insecure": False, "stream": True}
    assert llm.has_model()
    assert llm.context_info().trained == 131072


def test_pull_cut_mid_download_is_an_error_not_an_installed_model(server: FakeOllama) -> None:
    server.pull_cut_after = 2
    llm = OllamaLLM(server.url, "mistral")
    progress = []
    with pytest.raises(LLMError, match="pull of 'mistral' was cut off.*run it again"):
        progress.extend(llm.pull_model())
    assert [p.completed for p in progress if p.total] == [0, server.pull_layers[0] // 2]
    assert not llm.has_model()
    server.pull_cut_after = None
    assert list(llm.pull_model())[-1].done and llm.has_model()  # the retry completes


def test_pull_of_unknown_model_fails_clearly(server: FakeOllama) -> None:
    server.unpullable.add("no-such-model:latest")
    with pytest.raises(LLMError, match="Could not pull 'no-such-model'.*file does not exist"):
        list(OllamaLLM(server.url, "llama3.2").pull_model("no-such-model"))


def test_slow_server_times_out(server: FakeOllama) -> None:
    server.queue_chat("late", delay_s=5)
    llm = OllamaLLM(server.url, "llama3.2", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match="RAG_LLM_TIMEOUT"):
        list(llm.stream_chat(MESSAGES, num_ctx=2048))
    assert time.monotonic() - started < 3


def test_stream_cut_mid_answer_keeps_what_arrived(server: FakeOllama) -> None:
    server.queue_chat(["One ", "two ", "three ", "four."], cut_after=2)
    stream = OllamaLLM(server.url, "llama3.2").stream_chat(MESSAGES, num_ctx=2048)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        received.extend(stream)
    assert received == ["One ", "two "]
    assert stream.received


def test_stream_ending_without_done_line_is_an_interruption(server: FakeOllama) -> None:
    server.queue_chat(["Partial ", "answer"], omit_done=True)
    stream = OllamaLLM(server.url, "llama3.2").stream_chat(MESSAGES, num_ctx=2048)
    received: list[str] = []
    with pytest.raises(StreamInterrupted, match="before it was done"):
        received.extend(stream)
    assert received == ["Partial ", "answer"]


def test_error_line_mid_stream_is_an_interruption(server: FakeOllama) -> None:
    server.queue_chat(["Partial ", "answer"], error_line="llama runner process has terminated")
    with pytest.raises(StreamInterrupted, match="runner process has terminated"):
        list(OllamaLLM(server.url, "llama3.2").stream_chat(MESSAGES, num_ctx=2048))


def test_from_settings_uses_host_and_model(server: FakeOllama) -> None:
    settings = Settings.from_env().with_(ollama_host=server.url, llm_model="llama3.2")
    llm = OllamaLLM.from_settings(settings, timeout_s=7)
    assert (llm.host, llm.model, llm.timeout_s) == (server.url, "llama3.2", 7)
    assert llm.is_available()


def _live_host() -> str:
    host = os.environ.get("OLLAMA_HOST", "").strip() or "http://localhost:11434"
    return host if "://" in host else f"http://{host}"


@pytest.mark.live_ollama
def test_live_ollama_answers_with_a_citation() -> None:
    host = _live_host()
    try:
        with urllib.request.urlopen(f"{host}/api/version", timeout=1) as response:
            response.read()
    except OSError:
        pytest.skip(f"no Ollama server answers at {host}")
    settings = Settings.from_env().with_(ollama_host=host)
    llm = OllamaLLM.from_settings(settings, timeout_s=300)
    if not llm.has_model():
        pytest.skip(f"model {llm.model} is not installed; run `ollama pull {llm.model}`")
    text = "The X200 printer's warranty lasts two years from the date of purchase."
    chunk = Chunk("c1", "d1", "manual.pdf", 0, 2, 2, "3", text, 16)
    passage = Hit(chunk=chunk, score=0.9, dense_score=0.9)
    session = ChatSession(lambda query, k: [passage], llm, AnswerSettings(rewrite_followups=False, num_ctx=2048))
    answer = session.answer("How long is the X200 warranty?")
    assert answer.mode == "answer", answer.error
    assert "two" in answer.text.lower() or "2" in answer.text
