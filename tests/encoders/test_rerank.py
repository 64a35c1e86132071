"""Cross-encoder reranking with a real, tiny BERT cross-encoder built here (nothing is downloaded).

The tiny model's weights are set by hand so that its behaviour is known: a passage scores high
exactly when it contains a word of the query. Uniform attention gives [CLS] the mean of the
token embeddings, i.e. a count of each vocabulary word in "[CLS] query [SEP] passage [SEP]";
a feed-forward unit per word fires when the word occurs twice (once in the query, once in the
passage), measured against [SEP], which every pair holds exactly twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.encoders.rerank import CrossEncoderReranker, Reranker, load_reranker, rerank, rerank_hits
from rag.errors import ConfigError, RagError
from rag.eval import evaluate as ev
from rag.eval.qa import parse_questions
from rag.ingest.chunker import indexed_text
from rag.library import Library
from rag.models import Chunk, Hit
from rag.retrieve.fallback import FallbackRetriever
from tests.pdfgen import text_pdf

WORDS = (
    "apple river engine violin copper glacier lantern orchid saddle tunnel walnut pepper harbor meadow rocket silver"
).split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = 64
POSITIONS = 64


def build_tiny_cross_encoder(
    folder: Path, *, num_labels: int = 1, length_limit: int | None = POSITIONS, gain: float = 50.0
) -> Path:
    """Save a one-layer BERT cross-encoder that scores 'passage contains a query word' high."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join([*SPECIALS, *WORDS]) + "\n", encoding="utf-8")
    limit = {} if length_limit is None else {"model_max_length": length_limit}
    tokenizer = BertTokenizerFast(vocab=str(vocab), **limit)
    assert len(tokenizer) == len(SPECIALS) + len(WORDS)  # the vocab file was read, not a default one
    n = len(WORDS)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=n,
        max_position_embeddings=POSITIONS,
        num_labels=num_labels,
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        layer = model.bert.encoder.layer[0]
        for norm in (model.bert.embeddings.LayerNorm, layer.attention.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)
        # Each token is +1/-1 on a pair of dimensions of its own: zero mean, so LayerNorm only rescales.
        emb = model.bert.embeddings.word_embeddings.weight
        for i, word in enumerate(WORDS):
            t = tokenizer.convert_tokens_to_ids(word)
            emb[t, i], emb[t, n + i] = 1.0, -1.0
        for i, special in enumerate(SPECIALS):
            t = tokenizer.convert_tokens_to_ids(special)
            emb[t, 2 * n + i], emb[t, 2 * n + len(SPECIALS) + i] = 1.0, -1.0
        # Zero queries and keys: every token attends uniformly, so [CLS] receives the word counts.
        layer.attention.self.value.weight.copy_(torch.eye(HIDDEN))
        layer.attention.output.dense.weight.copy_(4.0 * torch.eye(HIDDEN))
        sep = 2 * n + SPECIALS.index("[SEP]")
        for i in range(n):
            # count(word) - 1.5 in units of count([SEP]) / 2: positive only for a word seen twice
            layer.intermediate.dense.weight[i, i] = gain
            layer.intermediate.dense.weight[i, sep] = -0.75 * gain
        match = HIDDEN - 2
        layer.output.dense.weight[match, :n] = 1.0
        layer.output.dense.weight[match + 1, :n] = -1.0
        model.bert.pooler.dense.weight[0, match] = 1.0
        model.bert.pooler.dense.weight[0, match + 1] = -1.0
        model.classifier.weight[0, 0] = 4.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="module")
def reranker(tiny_model: Path) -> Reranker:
    loaded = load_reranker(str(tiny_model))
    assert isinstance(loaded, CrossEncoderReranker)
    return loaded


def make_hit(n: int, text: str, score: float | None = None, *, file_name: str = "report.pdf") -> Hit:
    chunk = Chunk(
        chunk_id=f"d{n}:{n}",
        doc_id=f"d{n}",
        file_name=file_name,
        position=n,
        page=n,
        page_end=n,
        page_label=str(n + 1),
        text=text,
        n_tokens=len(text.split()),
    )
    fused = 1.0 / (60 + n) if score is None else score
    return Hit(chunk, fused, dense_score=0.5, dense_rank=n + 1)


class RecordingReranker(Reranker):
    """Scores a text by how many times it says 'good'; remembers what it was asked."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        self.calls.append((query, list(texts)))
        return [float(t.split().count("good")) for t in texts]


# -- the real cross-encoder ------------------------------------------------------------------------


def test_tiny_cross_encoder_loads_offline_and_scores_passages_with_the_query_word_higher(reranker: Reranker):
    scores = reranker.score(
        "violin",
        ["apple river violin copper", "apple river engine copper", "violin", "the Violin, by the harbor"],
    )
    assert len(scores) == 4 and all(isinstance(s, float) for s in scores)
    relevant, irrelevant = [scores[0], scores[2], scores[3]], [scores[1]]
    assert min(relevant) > max(irrelevant) + 0.3
    assert reranker.score("violin", []) == []


def test_rerank_puts_the_passages_with_the_query_word_first(reranker: Reranker):
    # Fused order puts the two relevant passages last.
    texts = [
        "apple river engine copper",
        "glacier lantern orchid saddle",
        "tunnel walnut pepper harbor",
        "meadow rocket silver apple",
        "river orchid violin walnut",
        "violin copper glacier engine",
    ]
    hits = [make_hit(i, t) for i, t in enumerate(texts)]
    out = rerank(reranker, "violin", hits, k=3)
    assert len(out) == 3
    assert {h.chunk.chunk_id for h in out[:2]} == {"d4:4", "d5:5"}
    assert all(h.rerank_score is not None and h.score == h.rerank_score for h in out)
    assert out[0].rerank_score >= out[1].rerank_score > out[2].rerank_score + 0.3
    # What the other retrievers said is kept.
    assert all(h.dense_score == 0.5 and h.dense_rank == int(h.chunk.doc_id[1:]) + 1 for h in out)


def test_rerank_scores_only_the_first_top_n_candidates(reranker: Reranker):
    hits = [make_hit(i, "apple river engine copper") for i in range(5)] + [make_hit(5, "violin")]
    out = rerank(reranker, "violin", hits, k=2, top_n=5)
    assert "d5:5" not in {h.chunk.chunk_id for h in out}
    assert rerank(reranker, "violin", hits, k=2, top_n=6)[0].chunk.chunk_id == "d5:5"


def test_a_long_passage_is_truncated_to_the_model_window(tmp_path: Path):
    # Saved without a length limit, the tokenizer must still be capped at the 64-position table.
    folder = build_tiny_cross_encoder(tmp_path / "no-limit", length_limit=None)
    model = load_reranker(str(folder))
    assert isinstance(model, CrossEncoderReranker) and model.model.max_seq_length == POSITIONS
    scores = model.score("violin", ["violin " + "apple " * 200, "river"])
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores)


# -- loading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_turns_reranking_off(name: str):
    assert load_reranker(name) is None


def test_a_missing_local_folder_is_a_config_error_naming_the_setting(tmp_path: Path):
    missing = tmp_path / "no-such-reranker"
    with pytest.raises(ConfigError) as info:
        load_reranker(str(missing))
    message = str(info.value)
    assert "no-such-reranker" in message and "not available on this machine" in message
    assert "RAG_RERANK_MODEL" in message and "empty" in message
    assert isinstance(info.value.__cause__, OSError)


def test_a_hub_name_not_in_the_cache_is_a_config_error_not_a_download():
    with pytest.raises(ConfigError, match=r"'nobody-here/no-such-cross-encoder-xyz' is not available"):
        load_reranker("nobody-here/no-such-cross-encoder-xyz")


def test_a_folder_without_a_model_is_a_config_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="RAG_RERANK_MODEL"):
        load_reranker(str(tmp_path / "empty"))


def test_a_classifier_with_several_labels_is_refused(tmp_path: Path):
    folder = build_tiny_cross_encoder(tmp_path / "three-labels", num_labels=3)
    with pytest.raises(ConfigError, match="gives 3 scores per pair"):
        load_reranker(str(folder))


# -- ordering, on hand-made hits -------------------------------------------------------------------


def test_rerank_hits_orders_by_score_and_sets_it():
    hits = [make_hit(i, f"text {i}") for i in range(4)]
    out = rerank_hits(hits, [0.1, 0.9, -2.0, 0.5], keep=3)
    assert [h.chunk.chunk_id for h in out] == ["d1:1", "d3:3", "d0:0"]
    assert [h.rerank_score for h in out] == [0.9, 0.5, 0.1]
    assert [h.score for h in out] == [0.9, 0.5, 0.1]
    assert hits[1].rerank_score is None  # the inputs are not changed


def test_rerank_hits_keeps_the_fused_order_among_ties():
    hits = [make_hit(i, f"text {i}") for i in range(6)]
    out = rerank_hits(hits, [0.2, 0.7, 0.2, 0.7, 0.2, 0.7], keep=6)
    assert [h.chunk.chunk_id for h in out] == ["d1:1", "d3:3", "d5:5", "d0:0", "d2:2", "d4:4"]


def test_rerank_hits_ranks_nan_last_and_checks_its_inputs():
    hits = [make_hit(i, f"text {i}") for i in range(3)]
    out = rerank_hits(hits, [float("nan"), 0.1, 0.3], keep=3)
    assert [h.chunk.chunk_id for h in out] == ["d2:2", "d1:1", "d0:0"]
    assert rerank_hits(hits, [1.0, 2.0, 3.0], keep=0) == []
    with pytest.raises(ValueError, match="2 scores for 3 hits"):
        rerank_hits(hits, [1.0, 2.0], keep=3)


def test_rerank_shows_the_model_each_chunk_under_its_title_and_fills_past_top_n_in_fused_order():
    model = RecordingReranker()
    hits = [make_hit(0, "bad", file_name="ACME_2023_10K.pdf"), make_hit(1, "good good"), make_hit(2, "good")]
    hits += [make_hit(i, "good good good") for i in range(3, 6)]
    out = rerank(model, "q", hits, k=5, top_n=3)
    assert model.calls == [("q", ["ACME 2023 10 K\nbad", "report\ngood good", "report\ngood"])]
    assert [h.chunk.chunk_id for h in out] == ["d1:1", "d2:2", "d0:0", "d3:3", "d4:4"]
    assert [h.rerank_score for h in out] == [2.0, 1.0, 0.0, None, None]
    assert out[3].score == hits[3].score  # unscored candidates keep their fused score

    rerank(model, "q", hits[:2], k=1, title_header=False)
    assert model.calls[-1] == ("q", ["bad", "good good"])


def test_rerank_of_nothing_asks_the_model_nothing():
    model = RecordingReranker()
    assert rerank(model, "q", [], k=5) == []
    assert rerank(model, "q", [make_hit(0, "good")], k=0) == []
    assert model.calls == []
    with pytest.raises(ValueError, match="top_n"):
        rerank(model, "q", [make_hit(0, "good")], k=1, top_n=0)


# -- wired into search: Settings -> Library -> Searcher ---------------------------------------------

# One page each: every passage is a document's only chunk, so the ranking is over these texts.
PASSAGES = {
    "walnuts.pdf": "Pecan, hazelnut and almond varieties of nut trees grow in the old orchard.",
    "invoice.pdf": "Invoice total for the walnut crates, shipped by rail on the first of May.",
    "harbor.pdf": "Ships leave the harbor at dawn carrying copper and silver ore to the smelter.",
    "concert.pdf": "The violin soloist played under a paper lantern in the meadow.",
    "glacier.pdf": "A glacier carved the valley; a rail tunnel now runs beneath the ice.",
    "kitchen.pdf": "Roast the pepper and the onions, then season the soup with salt.",
}


@pytest.fixture
def passages(tmp_path: Path) -> list[Path]:
    paths = []
    for name, text in PASSAGES.items():
        path = tmp_path / "pdfs" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text_pdf([text]))
        paths.append(path)
    return paths


@pytest.fixture
def rerank_library(settings, embedder, tiny_model: Path, passages: list[Path]):
    lib = Library(settings.with_(rerank_model=str(tiny_model), search_mode="hybrid+rerank"), embedder=embedder)
    assert [r.status for r in lib.ingest(passages)] == ["ingested"] * len(passages)
    yield lib
    lib.close()


def test_hybrid_rerank_orders_the_fused_candidates_by_the_cross_encoder(rerank_library):
    lib = rerank_library
    query = "Which walnut varieties are there?"
    fused = lib.search(query, k=30, mode="hybrid")
    assert len(fused) == len(PASSAGES)
    # Meaning puts the nut-tree passage first; only the invoice says "walnut", the one word the tiny model knows.
    assert fused[0].chunk.file_name == "walnuts.pdf"

    reranked = lib.search(query, k=3, mode="hybrid+rerank")
    scores = lib.reranker.score(query, [indexed_text(h.chunk, True) for h in fused])
    best = sorted(range(len(fused)), key=lambda i: -scores[i])[:3]
    assert [h.chunk.chunk_id for h in reranked] == [fused[i].chunk.chunk_id for i in best]
    assert reranked[0].chunk.file_name == "invoice.pdf"
    assert [h.rerank_score for h in reranked] == [h.score for h in reranked] == [scores[i] for i in best]
    # The retrievers' own scores stay on the hit: the not-found gate compares the cosine, not the reranker's logit.
    assert all(h.dense_score is not None for h in reranked)
    assert [h.chunk.chunk_id for h in lib.search(query, k=3)] == [h.chunk.chunk_id for h in reranked]


def test_without_a_reranker_the_mode_is_a_clear_error_and_the_chat_falls_back_to_hybrid(library, passages):
    library.ingest(passages)
    assert library.reranker is None
    with pytest.raises(RagError, match="RAG_RERANK_MODEL"):
        library.search("walnut", k=3, mode="hybrid+rerank")


def test_a_missing_model_lets_the_chat_answer_with_hybrid_search_and_say_so(
    settings, embedder, passages, tmp_path, monkeypatch
):
    import rag.library

    loads = []
    real_load = rag.library.load_reranker
    monkeypatch.setattr(rag.library, "load_reranker", lambda *a, **kw: loads.append(a) or real_load(*a, **kw))
    lib = Library(settings.with_(rerank_model=str(tmp_path / "gone"), search_mode="hybrid+rerank"), embedder=embedder)
    lib.ingest(passages)
    retriever = FallbackRetriever(lib, "documents", mode="hybrid+rerank")
    hits = retriever("walnut crates", 3)
    assert hits and all(h.rerank_score is None for h in hits)
    plain = lib.search("walnut crates", k=3, mode="hybrid")
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for h in plain]
    [note] = retriever.notes
    assert note.startswith("Hybrid+rerank search is not available") and "hybrid search was used" in note
    assert "RAG_RERANK_MODEL" in note
    retriever("walnut crates", 3)  # the next question does not try to load the model again
    assert len(loads) == 1 and len(retriever.notes) == 2
    lib.close()


def test_eval_compares_the_reranked_mode_with_the_others_when_a_reranker_is_set(rerank_library):
    lib = rerank_library
    assert ev.default_modes(lib.settings) == ("dense", "lexical", "hybrid", "hybrid+rerank")
    qa = [{"id": "q1", "question": "Which walnut varieties are there?", "pdf_path": "pdfs/invoice.pdf"}]
    questions = parse_questions([json.dumps(qa[0])], Path("."))
    report = ev.evaluate(lib, questions, "documents", ev.default_modes(lib.settings), (1,))
    assert report.metric("hybrid+rerank").doc.recall[1] == 1.0
    assert report.metric("hybrid").doc.recall[1] == 0.0  # the nut-tree passage came first
    assert report.questions[0].run("hybrid+rerank").hits[0].file_name == "invoice.pdf"
