"""Embeddings from Ollama, through the unmodified client against a real HTTP server speaking Ollama's protocol."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator

import numpy as np
import ollama
import pytest

from rag.encoders.embedder import canonical_name, prefixes_for
from rag.encoders.loading import load_embedder
from rag.encoders.ollama_embed import EmbeddingError, OllamaEmbedder
from rag.errors import ConfigError, ModelMismatchError
from rag.ingest.chunker import Chunker, indexed_text
from rag.library import Library
from rag.models import Page
from rag.settings import Settings
from tests.fake_ollama import FakeOllama, dead_host
from tests.pdfgen import text_pdf

KOREAN = "2024년 청년 일자리 창출지원 사업의 예산은 얼마인가요?"
ENGLISH = "How did Apple's net sales change in 2023?"


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    """Ollama with the two embedding models this file uses, as `ollama show` describes them."""
    with FakeOllama() as fake:
        embedding = ("embedding",)
        fake.add_model("bge-m3", family="bert", context_length=8192, embedding_length=1024, capabilities=embedding)
        fake.add_model(
            "nomic-embed-text", family="nomic-bert", context_length=2048, embedding_length=768, capabilities=embedding
        )
        yield fake


def test_documents_go_in_batches_with_the_models_prefix_and_come_back_unit_length(server: FakeOllama) -> None:
    server.models["nomic-embed-text:latest"].unit_vectors = False  # raw vectors: the client must normalise
    embedder = OllamaEmbedder("ollama:nomic-embed-text", host=server.url, batch_size=2)
    texts = [f"passage number {i} about volcanoes" for i in range(5)]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (5, 768) and vectors.dtype == np.float32 and embedder.dim == 768
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert server.embed_inputs == [[f"search_document: {t}" for t in texts[i : i + 2]] for i in (0, 2, 4)]
    bodies = [r.body or {} for r in server.requests_to("/api/embed")]
    assert {b["model"] for b in bodies} == {"nomic-embed-text:latest"} and all(b["truncate"] for b in bodies)

    query = embedder.embed_query("Where do volcanoes come from?")
    assert server.embed_inputs[-1] == ["search_query: Where do volcanoes come from?"]
    assert query.shape == (768,) and np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert not embedder.embed_documents([]).size


def test_dimension_comes_from_the_first_reply(server: FakeOllama) -> None:
    embedder = OllamaEmbedder("ollama:bge-m3", host=server.url)
    assert not server.requests_to("/api/embed")  # building it asks /api/show only
    assert embedder.dim == 1024
    assert server.embed_inputs == [["dimension"]]  # bge-m3 takes no prefix
    embedder.embed_query("x")
    assert embedder.dim == 1024 and len(server.embed_inputs) == 2  # known now: no second probe


def test_names_are_canonical_so_untagged_and_latest_share_a_collection(server: FakeOllama) -> None:
    assert canonical_name("ollama:bge-m3") == canonical_name("ollama:bge-m3:latest") == "ollama:bge-m3:latest"
    assert canonical_name("ollama:nomic-embed-text:v1.5") == "ollama:nomic-embed-text:v1.5"
    assert OllamaEmbedder("ollama:bge-m3", host=server.url).name == "ollama:bge-m3:latest"
    assert prefixes_for("ollama:bge-m3:latest") == ("", "")
    assert prefixes_for("ollama:nomic-embed-text:latest") == ("search_query: ", "search_document: ")
    with pytest.raises(ConfigError, match="needs a model name"):
        OllamaEmbedder("ollama:", host=server.url)


def test_the_window_comes_from_api_show_and_is_capped(server: FakeOllama) -> None:
    assert OllamaEmbedder("ollama:bge-m3", host=server.url).max_tokens == 510  # 8192, capped at 512, less 2
    server.add_model("all-minilm", family="bert", context_length=256, embedding_length=384)
    assert OllamaEmbedder("ollama:all-minilm", host=server.url).max_tokens == 254
    assert [r.body for r in server.requests_to("/api/show")][-1] == {"model": "all-minilm:latest"}


def test_token_estimate_is_an_upper_bound_with_offsets_the_chunker_can_cut_at(server: FakeOllama, embedder) -> None:
    ollama_embedder = OllamaEmbedder("ollama:bge-m3", host=server.url)
    text = "Total revenue increased 7% to $66.6 billion; the Transformer uses multi-head self-attention."
    [estimate] = ollama_embedder.count_tokens([text])
    assert estimate >= embedder.count_tokens([text])[0]  # MiniLM's WordPiece, the same vocabulary as nomic's BERT
    # "hel" "lo" "wor" "ld"; one piece per Hangul syllable
    assert ollama_embedder.count_tokens(["hello world", "", "고용노동부"]) == [4, 0, 5]
    offsets = ollama_embedder.token_offsets(text)
    assert len(offsets) == estimate and [text[a:b] for a, b in offsets[:4]] == ["Tot", "al", "rev", "enu"]

    page = Page(index=0, label="1", text=" ".join(f"word{i} and a sentence." for i in range(600)))
    chunker = Chunker(ollama_embedder, "doc", "report.pdf", max_tokens=200, overlap=32)
    chunks = chunker.add_page(page) + chunker.finish()
    assert len(chunks) > 5 and all(c.n_tokens <= chunker.max_tokens <= 200 for c in chunks)
    assert all(c.n_tokens == ollama_embedder.count_tokens([c.text])[0] for c in chunks)


def test_fit_is_full_for_a_multilingual_model_and_follows_the_script_for_an_english_one(server: FakeOllama) -> None:
    multilingual = OllamaEmbedder("ollama:bge-m3", host=server.url)
    english = OllamaEmbedder("ollama:nomic-embed-text", host=server.url)
    assert multilingual.fit(KOREAN) == multilingual.fit(ENGLISH) == 1.0
    assert english.fit(ENGLISH) == 1.0 and english.fit(KOREAN) == 0.0
    assert 0.2 < english.fit("KOSPI 200 지수란 무엇인가?") < 0.8


def test_an_unreachable_server_is_a_clear_error_naming_the_host(settings: Settings) -> None:
    host = dead_host()
    with pytest.raises(ConfigError, match="OLLAMA_HOST") as info:
        load_embedder(settings.with_(embedding_model="ollama:bge-m3", ollama_host=host))
    assert host in str(info.value) and "ollama serve" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionError)


def test_the_server_going_away_mid_run_is_the_same_error(server: FakeOllama) -> None:
    embedder = OllamaEmbedder("ollama:bge-m3", host=server.url)
    server.stop()
    with pytest.raises(ConfigError, match="not reachable"):
        embedder.embed_documents(["some text"])


def test_a_missing_model_says_how_to_pull_it(server: FakeOllama) -> None:
    with pytest.raises(ConfigError, match=r"`ollama pull mxbai-embed-large`") as info:
        OllamaEmbedder("ollama:mxbai-embed-large", host=server.url)
    assert "RAG_EMBEDDING_MODEL" in str(info.value)
    # Removed after start (`ollama rm`): /api/embed's own 404 says the same.
    embedder = OllamaEmbedder("ollama:bge-m3", host=server.url)
    del server.models["bge-m3:latest"]
    with pytest.raises(ConfigError, match=r"`ollama pull bge-m3`"):
        embedder.embed_query("anything")


def test_a_server_error_is_wrapped(server: FakeOllama) -> None:
    embedder = OllamaEmbedder("ollama:bge-m3", host=server.url)
    server.embed_error = (500, "model requires more system memory (5.2 GiB) than is available (1.1 GiB)")
    with pytest.raises(EmbeddingError, match="more system memory.*HTTP 500"):
        embedder.embed_documents(["text"])


DOCUMENTS = {
    "volcanoes.pdf": [
        "Volcanoes erupt when magma rises through the crust of the earth.",
        "Molten rock, ash and gas escape from the volcano during an eruption.",
        "Lava flows cool into basalt and new land forms around the vent.",
    ],
    "photosynthesis.pdf": [
        "Plants turn sunlight, water and carbon dioxide into sugar by photosynthesis.",
        "Chlorophyll in the leaves absorbs light and releases oxygen.",
    ],
    "taxes.pdf": [
        "The effective tax rate fell because of deferred tax assets and credits.",
        "Income tax expense was lower than the statutory rate in the fiscal year.",
    ],
}


@pytest.fixture
def ollama_settings(settings: Settings, server: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a user gets from RAG_EMBEDDING_MODEL=ollama:bge-m3 and OLLAMA_HOST."""
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "ollama:bge-m3")
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("RAG_EMBED_BATCH", "2")
    return Settings.from_env().with_(workers=1)


def _pdfs(tmp_path) -> list:
    paths = []
    for name, lines in DOCUMENTS.items():
        path = tmp_path / name
        path.write_bytes(text_pdf(lines))
        paths.append(path)
    return paths


def test_a_library_ingests_and_searches_through_ollama(ollama_settings, server: FakeOllama, tmp_path) -> None:
    library = Library(ollama_settings)
    try:
        results = library.ingest(_pdfs(tmp_path), "ollama-docs")
        assert [r.status for r in results] == ["ingested"] * 3
        [info] = library.collections()
        assert (info.embedding_model, info.embedding_dim, info.chunks) == ("ollama:bge-m3:latest", 1024, 3)
        assert {d.embedding_model for d in library.documents("ollama-docs")} == {"ollama:bge-m3:latest"}
        chunks = [c for d in library.documents("ollama-docs") for c in library.document_chunks("ollama-docs", d.doc_id)]
        passages = [text for batch in server.embed_inputs for text in batch if text != "dimension"]
        assert sorted(passages) == sorted(indexed_text(c) for c in chunks)  # each chunk under its title, no prefix
        assert all(len(batch) <= 2 for batch in server.embed_inputs)

        for mode in ("dense", "hybrid"):
            [best, *_] = library.search("How does magma make a volcano erupt?", "ollama-docs", k=3, mode=mode)
            assert best.chunk.file_name == "volcanoes.pdf", mode
            assert server.embed_inputs[-1] == ["How does magma make a volcano erupt?"]
        hits = library.search("photosynthesis in leaves", "ollama-docs", k=3, mode="dense")
        assert hits[0].chunk.file_name == "photosynthesis.pdf" and hits[0].dense_score > 0.3
        assert hits[0].dense_score > hits[1].dense_score + 0.2  # sharing words, not chance
    finally:
        library.close()


def test_a_collection_embedded_by_ollama_refuses_the_default_model(
    ollama_settings, server: FakeOllama, tmp_path, embedder
) -> None:
    library = Library(ollama_settings)
    try:
        [result] = library.ingest(_pdfs(tmp_path)[:1], "ollama-docs")
        assert result.status == "ingested"
    finally:
        library.close()
    minilm = Library(ollama_settings, embedder=embedder)
    try:
        with pytest.raises(ModelMismatchError, match="ollama:bge-m3:latest") as info:
            minilm.search("magma", "ollama-docs", mode="dense")
        assert "RAG_EMBEDDING_MODEL=ollama:bge-m3:latest" in str(info.value)
        with pytest.raises(ModelMismatchError):
            minilm.ingest(_pdfs(tmp_path)[1:2], "ollama-docs")
    finally:
        minilm.close()
    # The untagged spelling is the same model: the collection opens.
    again = Library(ollama_settings.with_(embedding_model="ollama:bge-m3:latest"))
    try:
        assert again.search("magma", "ollama-docs", k=1, mode="dense")[0].chunk.file_name == "volcanoes.pdf"
    finally:
        again.close()


@pytest.mark.live_ollama
def test_live_ollama_embeds_and_the_estimate_counts_high() -> None:
    host = os.environ.get("OLLAMA_HOST", "").strip() or "http://localhost:11434"
    host = host if "://" in host else f"http://{host}"
    try:
        with urllib.request.urlopen(f"{host}/api/tags", timeout=1) as response:
            installed = {m["name"] for m in json.load(response)["models"]}
    except OSError:
        pytest.skip(f"no Ollama server answers at {host}")
    model = next((m for m in ("bge-m3:latest", "nomic-embed-text:latest", "all-minilm:latest") if m in installed), None)
    if model is None:
        pytest.skip("no embedding model is installed; run `ollama pull bge-m3`")
    embedder = OllamaEmbedder(f"ollama:{model}", host=host, batch_size=2)
    texts = [ENGLISH, "Total revenue increased 7% to $66.6 billion."]
    if model.startswith("bge-m3"):
        texts.append(KOREAN)  # a multilingual tokenizer: the estimate must hold for Hangul too
    vectors = embedder.embed_documents(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4) and vectors.shape[1] == embedder.dim
    assert int(np.argmax(vectors @ embedder.embed_query("How did net sales change?"))) == 0
    client = ollama.Client(host=host)
    for text, estimate in zip(texts, embedder.count_tokens([embedder.passage_prefix + t for t in texts])):
        real = client.embed(model=model, input=embedder.passage_prefix + text).prompt_eval_count
        assert real is None or real <= estimate + 2, (text, real, estimate)  # + [CLS]/[SEP]
