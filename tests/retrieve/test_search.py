"""Hybrid retrieval over a real collection, and the BM25 index kept in step with the catalogue."""

import shutil

import pytest

from rag.errors import RagError
from rag.index.lexical_snapshot import fingerprint
from rag.library import Library
from tests.conftest import shared_path

ATTENTION = ("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
DPR = ("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")
KOREAN = ("pdfs", "dacon-ko-fiscal", "train_source", "고용노동부_청년일자리창출지원.pdf")


def _indexed(lib: Library, *docs, collection: str = "documents") -> bool:
    """The BM25 index holds exactly these documents' chunks."""
    state = lib.lexical.index(collection).state
    return state.fingerprint == fingerprint(d.doc_id for d in docs) and state.chunks == sum(d.chunks for d in docs)


@pytest.fixture
def two_papers(library):
    a, b = library.ingest([shared_path(*ATTENTION), shared_path(*DPR)])
    return library, a, b


def test_hybrid_hits_carry_both_retrievers_scores_and_ranks(two_papers, settings, embedder):
    lib, a, _ = two_papers
    query = "BLEU score of the big Transformer on WMT 2014 English-to-German"
    hits = lib.search(query, k=8, mode="hybrid")
    assert len(hits) == 8
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any(h.dense_rank and h.lexical_rank for h in hits)
    assert all(h.dense_score is not None for h in hits)  # filled in for BM25-only hits too
    assert hits[0].chunk.doc_id == a.doc_id
    # Without the document prior the score is plain RRF (k=60); an English query to an English
    # model gives dense its full weight, BM25 its configured one.
    plain = Library(settings.with_(doc_weight=0.0, lexical_weight=1.0), embedder=embedder)
    for h in plain.search(query, k=8, mode="hybrid"):
        expected = (1 / (60 + h.dense_rank) if h.dense_rank else 0) + (
            1 / (60 + h.lexical_rank) if h.lexical_rank else 0
        )
        assert h.score == pytest.approx(expected)
    plain.close()


def test_each_mode_alone(two_papers):
    lib, _, b = two_papers
    dense = lib.search("dual encoder retrieval for open-domain question answering", k=3, mode="dense")
    lexical = lib.search("dual encoder retrieval for open-domain question answering", k=3, mode="lexical")
    assert all(h.lexical_rank is None and h.dense_rank for h in dense)
    assert all(h.lexical_rank and h.lexical_score == h.score for h in lexical)
    assert lexical[0].chunk.doc_id == b.doc_id
    with pytest.raises(RagError, match="unknown search mode"):
        lib.search("x", mode="telepathy")
    for k in (0, -3):
        with pytest.raises(RagError, match="at least 1"):
            lib.search("dual encoder", k=k)


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
    shutil.rmtree(settings.storage.lexical_dir)
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
    for mode in ("hybrid", "lexical", "dense"):
        pages = [(h.chunk.doc_id, h.chunk.page) for h in lib.search(query, k=8, mode=mode)]
        assert len(pages) == len(set(pages)) == 8, mode
    uncapped = Library(settings.with_(max_per_page=0), embedder=embedder)
    pages = [(h.chunk.doc_id, h.chunk.page) for h in uncapped.search(query, k=8, mode="lexical")]
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


def test_without_lexical_weight_or_document_prior_english_hybrid_is_dense(two_papers, settings, embedder):
    lib, _, _ = two_papers
    query = "How is the model trained and on what hardware?"
    dense = [h.chunk.chunk_id for h in lib.search(query, k=5, mode="dense")]
    light = Library(settings.with_(lexical_weight=0.0, doc_weight=0.0), embedder=embedder)
    assert [h.chunk.chunk_id for h in light.search(query, k=5, mode="hybrid")] == dense
    heavy = Library(settings.with_(lexical_weight=5.0, doc_weight=0.0), embedder=embedder)
    assert [h.chunk.chunk_id for h in heavy.search(query, k=5, mode="hybrid")] != dense
    light.close()
    heavy.close()


def test_a_korean_question_to_an_english_model_ranks_by_bm25(library, settings, embedder):
    library.ingest([shared_path(*ATTENTION), shared_path(*KOREAN)])
    query = "청년일자리창출지원 사업의 지원 대상과 지원 금액은?"
    lexical = [h.chunk.chunk_id for h in library.search(query, k=5, mode="lexical")]
    plain = Library(settings.with_(doc_weight=0.0), embedder=embedder)
    # The model reads Korean as lone jamo (fit 0): the dense ranking gets no say; chunks BM25 did
    # not find come after those it did.
    assert lexical and [h.chunk.chunk_id for h in plain.search(query, k=5, mode="hybrid")][: len(lexical)] == lexical
    plain.close()
    korean = [h.chunk.file_name == shared_path(*KOREAN).name for h in library.search(query, k=5)]
    assert korean[0] and korean == sorted(korean, reverse=True)  # the Korean document's pages first


def test_the_document_prior_brings_the_document_a_question_names(library, tmp_path):
    # One paper under two names; the question names one of them, its chunks do not.
    src = shared_path(*ATTENTION)
    for name in ("BOEING_2022_10K.pdf", "LOCKHEED_MARTIN_2021_10K.pdf"):
        (tmp_path / name).write_bytes(src.read_bytes() + name.encode())
    library.ingest([tmp_path / "BOEING_2022_10K.pdf", tmp_path / "LOCKHEED_MARTIN_2021_10K.pdf"])
    hits = library.search("Boeing: how many attention heads does the model use?", k=6)
    assert [h.chunk.file_name for h in hits[:3]] == ["BOEING_2022_10K.pdf"] * 3


def test_a_stale_index_serves_while_it_is_rebuilt_in_the_background(two_papers, settings, embedder, monkeypatch):
    import threading

    lib, a, b = two_papers
    on_disk = settings.storage.lexical_dir / "documents"
    stale = on_disk.with_name("stale-copy")
    shutil.copytree(on_disk, stale)  # the index as it was with both papers
    other = Library(settings, embedder=embedder)  # stands for a CLI run beside the app
    other.delete_document("documents", b.doc_id)
    other.close()
    shutil.rmtree(on_disk)
    stale.rename(on_disk)  # as if the other process had died before writing its index
    release = threading.Event()
    records = lib.lexical._records

    def held_records(collection, ids):
        assert release.wait(60)  # the rebuild cannot finish before the search below has returned
        return records(collection, ids)

    monkeypatch.setattr(lib.lexical, "_records", held_records)
    hits = lib.search("passage retrieval neural network", k=10, mode="lexical")
    assert hits and {h.chunk.doc_id for h in hits} == {a.doc_id}  # the deleted document is filtered out
    release.set()
    lib.lexical.wait_for_rebuilds(60)
    assert _indexed(lib, a)


def test_chunks_of_a_document_still_being_ingested_stay_out_of_dense_results(library, embedder):
    from rag.models import Chunk

    [ready] = library.ingest([shared_path(*ATTENTION)])
    col = library.open_collection("documents")
    query = "scaled dot-product attention"
    # A document mid-ingest: a pending catalogue row and 120 chunks nearer the query than any other.
    library.catalog.begin("documents", "pending-doc", "pending.pdf", 1, embedder.name)
    chunks = [Chunk(f"pending-doc:{i}", "pending-doc", "pending.pdf", i, 0, 0, "1", query, 4) for i in range(120)]
    library.store.add(col, chunks, embedder.embed_documents([c.text for c in chunks]))
    hits = library.search(query, k=8, mode="dense")
    assert len(hits) == 8 and {h.chunk.doc_id for h in hits} == {ready.doc_id}
