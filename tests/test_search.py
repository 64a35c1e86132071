"""Hybrid retrieval over a real collection, and the BM25 index kept in step with the catalogue."""

import shutil

import pytest

from rag.errors import RagError
from rag.lexical import fingerprint
from rag.library import Library
from tests.conftest import shared_path

ATTENTION = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
DPR = ("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")
KOREAN = ("pdfs", "dacon-ko-fiscal", "train_source", "고용노동부_청년일자리창출지원.pdf")


def _indexed(lib: Library, *docs, collection: str = "documents") -> bool:
    """The BM25 index holds exactly these documents' chunks."""
    state = lib.searcher.index(collection).state
    return state.fingerprint == fingerprint(d.doc_id for d in docs) and state.chunks == sum(d.chunks for d in docs)


@pytest.fixture
def two_papers(library):
    a, b = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    return library, a, b


def test_hybrid_hits_carry_both_retrievers_scores_and_ranks(two_papers):
    lib, a, _ = two_papers
    hits = lib.search("BLEU score of the big Transformer on WMT 2014 English-to-German", k=8, mode="hybrid")
    assert len(hits) == 8
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any(h.dense_rank and h.lexical_rank for h in hits)
    assert all(h.dense_score is not None for h in hits)  # filled in for BM25-only hits too
    assert hits[0].chunk.doc_id == a.doc_id
    # RRF with k=60: a chunk ranked first by both retrievers scores 2/61.
    top = hits[0]
    expected = (1 / (60 + top.dense_rank) if top.dense_rank else 0) + (
        1 / (60 + top.lexical_rank) if top.lexical_rank else 0
    )
    assert top.score == pytest.approx(expected)


def test_each_mode_alone(two_papers):
    lib, _, b = two_papers
    dense = lib.search("dual encoder retrieval for open-domain question answering", k=3, mode="dense")
    lexical = lib.search("dual encoder retrieval for open-domain question answering", k=3, mode="lexical")
    assert all(h.lexical_rank is None and h.dense_rank for h in dense)
    assert all(h.lexical_rank and h.lexical_score == h.score for h in lexical)
    assert lexical[0].chunk.doc_id == b.doc_id
    with pytest.raises(RagError, match="unknown search mode"):
        lib.search("x", mode="telepathy")


def test_index_follows_delete_replace_and_restart(two_papers, settings, embedder, tmp_path):
    lib, a, b = two_papers
    assert _indexed(lib, a, b)
    lib.delete_document("documents", a.doc_id)
    assert _indexed(lib, b)
    assert all(h.chunk.doc_id == b.doc_id for h in lib.search("attention heads", k=5, mode="lexical"))

    renamed = tmp_path / shared_path(*DPR).name
    shutil.copy(shared_path(*ATTENTION), renamed)  # same name as DPR, other bytes: replaces it
    [replaced] = lib.ingest([renamed])
    assert replaced.status == "replaced"
    assert _indexed(lib, replaced)

    restarted = Library(settings, embedder=embedder)
    assert _indexed(restarted, replaced)
    restarted.close()


def test_a_lost_index_is_rebuilt_from_the_store(two_papers, settings, embedder):
    lib, a, b = two_papers
    before = [h.chunk.chunk_id for h in lib.search("passage retrieval", k=5, mode="lexical")]
    lib.close()
    shutil.rmtree(settings.lexical_dir)
    fresh = Library(settings, embedder=embedder)
    assert [h.chunk.chunk_id for h in fresh.search("passage retrieval", k=5, mode="lexical")] == before
    assert _indexed(fresh, a, b)
    fresh.close()


def test_a_write_by_another_process_is_seen(two_papers, settings, embedder):
    lib, a, b = two_papers
    lib.search("warm the cached index", k=1)
    other = Library(settings, embedder=embedder)  # stands for a CLI run beside the app
    other.delete_document("documents", b.doc_id)
    other.close()
    hits = lib.search("neural network model training", k=20, mode="lexical")
    assert hits and {h.chunk.doc_id for h in hits} == {a.doc_id}


def test_korean_question_finds_the_korean_document_lexically(library):
    library.ingest([shared_path(*ATTENTION), shared_path(*KOREAN)])
    hits = library.search("청년일자리창출지원 사업의 목적은 무엇인가요?", k=3, mode="lexical")
    assert hits and hits[0].chunk.file_name == shared_path(*KOREAN).name


def test_results_spread_over_pages(two_papers, settings, embedder):
    lib, _, _ = two_papers
    query = "attention"
    capped = lib.search(query, k=8, mode="hybrid")
    pages = [(h.chunk.doc_id, h.chunk.page) for h in capped]
    assert len(pages) == len(set(pages)) == 8
    uncapped = Library(settings.with_(max_per_page=0), embedder=embedder)
    pages = [(h.chunk.doc_id, h.chunk.page) for h in uncapped.search(query, k=8, mode="hybrid")]
    assert len(set(pages)) < len(pages)  # without the cap one page fills several places
    uncapped.close()


def test_the_title_lets_a_question_naming_the_document_find_it(library, tmp_path):
    # Two copies of one paper under different names: only the title tells them apart.
    src = shared_path(*ATTENTION)
    for name in ("BOEING_2022_10K.pdf", "LOCKHEED_MARTIN_2021_10K.pdf"):
        (tmp_path / name).write_bytes(src.read_bytes() + name.encode())  # other bytes: not a duplicate
    library.ingest([tmp_path / "BOEING_2022_10K.pdf", tmp_path / "LOCKHEED_MARTIN_2021_10K.pdf"])
    question = "Lockheed Martin 2021: how many attention heads?"
    for mode in ("lexical", "hybrid"):
        assert library.search(question, k=3, mode=mode)[0].chunk.file_name == "LOCKHEED_MARTIN_2021_10K.pdf", mode
    # Dense alone is not asserted: the small English model barely registers a title line.


def test_a_lower_lexical_weight_moves_hybrid_towards_dense(two_papers, settings, embedder):
    lib, _, _ = two_papers
    query = "How is the model trained and on what hardware?"
    dense = [h.chunk.chunk_id for h in lib.search(query, k=5, mode="dense")]
    light = Library(settings.with_(lexical_weight=0.01), embedder=embedder)
    assert [h.chunk.chunk_id for h in light.search(query, k=5, mode="hybrid")] == dense
    light.close()
