import numpy as np
import pytest

from rag.encoders.embedder import SentenceTransformerEmbedder, canonical_name, prefixes_for, vocabulary_fit
from rag.errors import ConfigError


def test_default_model_is_offline_normalised_and_knows_its_window(embedder):
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder.dim == 384
    assert embedder.max_tokens == 254  # 256 word pieces less [CLS] and [SEP]
    vectors = embedder.embed_documents(["Revenue grew by 7%.", "The cat sat on the mat."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_query_is_closer_to_the_relevant_passage(embedder):
    q = embedder.embed_query("How much did revenue increase?")
    docs = embedder.embed_documents(["Total revenue increased 7% to $66.6 billion.", "The cat sat on the mat."])
    assert float(docs[0] @ q) > float(docs[1] @ q) + 0.2


def test_token_counts_match_the_model_tokenizer(embedder):
    assert embedder.count_tokens(["hello world", ""]) == [2, 0]
    offsets = embedder.token_offsets("hello world")
    assert offsets == [(0, 5), (6, 11)]


def test_vocabulary_fit_counts_letters_in_word_pieces():
    # WordPiece: "trans" + "##former" are word pieces; a lone jamo is not; "?" has no letters.
    assert vocabulary_fit(["trans", "##former", "?"]) == 1.0
    assert vocabulary_fit(["\u1100", "##\u1161", "ok"]) == pytest.approx(2 / 4)
    assert vocabulary_fit(["[UNK]", "[UNK]", "ab"], unknown="[UNK]") == pytest.approx(2 / 4)
    assert vocabulary_fit(["\u2581\uace0\uc6a9", "\ub178\ub3d9"]) == 1.0  # SentencePiece Korean pieces
    assert vocabulary_fit(["a", "i"]) == 1.0  # one Latin letter is a whole word
    assert vocabulary_fit([]) == 1.0 and vocabulary_fit(["2024", "%"]) == 1.0


def test_the_english_model_fits_english_not_korean(embedder):
    assert embedder.fit("How did Apple's net sales change in 2023?") == 1.0
    assert embedder.fit("2024년 청년 일자리 창출지원 사업의 예산은 얼마인가요?") == 0.0  # split into lone jamo
    assert 0.2 < embedder.fit("KOSPI 200 지수란 무엇인가?") < 0.8


def test_names_and_prefixes():
    assert canonical_name("all-MiniLM-L6-v2") == canonical_name("sentence-transformers/all-MiniLM-L6-v2")
    assert prefixes_for("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert prefixes_for("sentence-transformers/all-MiniLM-L6-v2") == ("", "")


def test_a_model_that_is_not_installed_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing to load offline
    with pytest.raises(ConfigError, match="not available on this machine"):
        SentenceTransformerEmbedder("example-org/no-such-model")


@pytest.fixture(scope="module")
def onnx_int8(tmp_path_factory):
    from rag.encoders.embedder import OnnxEmbedder

    return OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=tmp_path_factory.mktemp("models"))


def test_onnx_int8_backend_matches_the_torch_model(embedder, onnx_int8):
    texts = [
        "Total revenue increased 7% to $66.6 billion in 2022.",
        "The Transformer uses multi-head self-attention instead of recurrence.",
        "고용노동부는 청년 일자리 창출을 지원합니다.",
        "word " * 400,  # longer than the window: truncated the same way
    ]
    fast, slow = onnx_int8.embed_documents(texts), embedder.embed_documents(texts)
    assert fast.shape == slow.shape and np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(fast * slow, axis=1))) > 0.97
    assert onnx_int8.name == embedder.name and onnx_int8.max_tokens == embedder.max_tokens
    q = onnx_int8.embed_query("How much did revenue grow?")
    assert int(np.argmax(fast @ q)) == 0


def test_onnx_export_is_cached(onnx_int8, tmp_path_factory):
    from rag.encoders.embedder import OnnxEmbedder

    [exported] = list(tmp_path_factory.getbasetemp().rglob("model-int8.onnx"))
    before = exported.stat().st_mtime_ns
    again = OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=exported.parent.parent)
    assert exported.stat().st_mtime_ns == before  # reused, not exported again
    assert again.backend == "onnx-int8"


def test_onnx_vectors_are_unit_length_even_without_a_normalize_module(embedder, tmp_path):
    """Search reads dot products as cosines: the onnx backend must normalise whatever the model's modules say."""
    from sentence_transformers import SentenceTransformer

    from rag.encoders.embedder import OnnxEmbedder

    # The default model less its Normalize module: a real model whose own output is not unit length.
    bare = tmp_path / "minilm-without-normalize"
    SentenceTransformer(modules=[embedder.model[0], embedder.model[1]], device="cpu").save(str(bare))
    texts = ["Total revenue increased 7% to $66.6 billion.", "The cat sat on the mat.", "word " * 400]
    raw = SentenceTransformer(str(bare), device="cpu", local_files_only=True).encode(texts, convert_to_numpy=True)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=0.1)

    onnx = OnnxEmbedder(str(bare), cache_dir=tmp_path / "models", quantize=False)
    assert not any(type(m).__name__ == "Normalize" for m in onnx.model)
    vectors = onnx.embed_documents(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(onnx.embed_query("How much did revenue grow?")), 1.0, atol=1e-5)
    # Same directions as the torch model (which normalises), so the two backends share collections.
    assert float(np.min(np.sum(vectors * embedder.embed_documents(texts), axis=1))) > 0.999
