"""Reciprocal-rank fusion on hand-checked rankings."""

from __future__ import annotations

import logging

import pytest

from rag.models import Chunk, Hit
from rag.retrieve.fusion import fuse_hits, missing_chunk_ids, rrf, with_document_prior, with_year_prior, years


def chunk(cid: str) -> Chunk:
    return Chunk(cid, "doc", "doc.pdf", 0, 0, 0, "1", f"text of {cid}", 3)


def test_rrf_hand_computed():
    fused = rrf([["a", "b", "c"], ["c", "a", "d"]], k=60)
    # a: ranks 1 and 2; c: 3 and 1; b: 2; d: 3.
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    for item, score in fused:
        assert score == pytest.approx(expected[item], rel=1e-12)


def test_rrf_k_zero_is_plain_reciprocal_rank():
    assert rrf([["x", "y", "z"]], k=0) == [("x", 1.0), ("y", 0.5), ("z", pytest.approx(1 / 3))]


def test_rrf_weights():
    fused = dict(rrf([["a", "b"], ["b", "a"]], k=10, weights=[2.0, 1.0]))
    assert fused["a"] == pytest.approx(2 / 11 + 1 / 12)
    assert fused["b"] == pytest.approx(2 / 12 + 1 / 11)
    assert fused["a"] > fused["b"]
    # A zero weight silences a list but keeps its items, scored 0, last.
    assert rrf([["a"], ["b"]], weights=[1.0, 0.0]) == [("a", pytest.approx(1 / 61)), ("b", 0.0)]


def test_rrf_ties_are_deterministic():
    # Same ranks, swapped: exactly equal scores, so the tie-break decides: best rank, then id.
    assert [i for i, _ in rrf([["b", "a"], ["a", "b"]])] == ["a", "b"]
    assert [i for i, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert [i for i, _ in rrf([["y"], ["x"]])] == ["x", "y"]
    # Equal scores from different ranks (k=0: 1/2 + 1/2 == 1/1): the better single rank wins.
    fused = rrf([["p", "q"], ["r", "q"]], k=0)  # p = 1, q = 1/2 + 1/2 = 1, r = 1
    assert [i for i, _ in fused] == ["p", "r", "q"]  # p and r had rank 1, q only rank 2
    assert {s for _, s in fused} == {1.0}


def test_rrf_repeated_id_counts_once_at_first_rank():
    fused = dict(rrf([["a", "a", "b"]], k=60))
    assert fused == {"a": pytest.approx(1 / 61), "b": pytest.approx(1 / 63)}


def test_rrf_edge_cases():
    assert rrf([]) == []
    assert rrf([[], []]) == []
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 1.0])
    with pytest.raises(ValueError):
        rrf([["a"]], k=-1)
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[-1.0])


def test_fuse_hits_keeps_every_retrievers_rank_and_score():
    dense = [
        Hit(chunk("c1"), score=0.9, dense_score=0.9, dense_rank=1),
        Hit(chunk("c2"), score=0.8, dense_score=0.8, dense_rank=2),
    ]
    lexical = [("c3", 7.5), ("c1", 5.0)]
    hits = fuse_hits(dense, lexical, {"c3": chunk("c3")})
    assert [h.chunk.chunk_id for h in hits] == ["c1", "c3", "c2"]
    c1, c3, c2 = hits
    assert c1.score == pytest.approx(1 / 61 + 1 / 62)
    assert (c1.dense_rank, c1.dense_score, c1.lexical_rank, c1.lexical_score) == (1, 0.9, 2, 5.0)
    assert c3.score == pytest.approx(1 / 61)
    assert (c3.dense_rank, c3.dense_score, c3.lexical_rank, c3.lexical_score) == (None, None, 1, 7.5)
    assert c2.score == pytest.approx(1 / 62)
    assert (c2.dense_rank, c2.dense_score, c2.lexical_rank, c2.lexical_score) == (2, 0.8, None, None)
    assert c3.chunk == chunk("c3") and c1.chunk is dense[0].chunk


def test_fuse_hits_weights_limit_and_dense_score_fallback():
    dense = [Hit(chunk("d"), score=0.5)]  # dense_score unset: the hit's score is used
    lexical = [("l", 3.0)]
    hits = fuse_hits(dense, lexical, {"l": chunk("l")}, weights=(1.0, 2.0))
    assert [h.chunk.chunk_id for h in hits] == ["l", "d"]
    assert hits[0].score == pytest.approx(2 / 61) and hits[1].dense_score == 0.5
    assert len(fuse_hits(dense, lexical, {"l": chunk("l")}, limit=1)) == 1


def test_fuse_hits_skips_lexical_hits_without_chunk(caplog):
    dense = [Hit(chunk("c1"), score=0.9)]
    lexical = [("gone", 9.0), ("c1", 1.0)]
    with caplog.at_level(logging.WARNING):
        hits = fuse_hits(dense, lexical, {})
    assert [h.chunk.chunk_id for h in hits] == ["c1"]
    assert hits[0].lexical_rank == 2  # the retriever's own rank, not renumbered
    assert "gone" in caplog.text


def test_missing_chunk_ids():
    dense = [Hit(chunk("a"), score=1.0)]
    assert missing_chunk_ids(dense, [("b", 2.0), ("a", 1.0), ("c", 0.5), ("b", 0.1)]) == ["b", "c"]
    assert missing_chunk_ids([], []) == []


def test_fuse_hits_takes_lexical_index_results_as_they_come():
    from rag.index.lexical import LexicalIndex

    index = LexicalIndex()
    index.add([chunk("c1"), chunk("c2")])
    lexical = index.search("text of c2", 5)  # LexicalHit(chunk_id, score) tuples, c2 first
    dense = [Hit(chunk("c1"), score=0.7, dense_score=0.7, dense_rank=1)]
    hits = fuse_hits(dense, lexical, {c: chunk(c) for c in missing_chunk_ids(dense, lexical)})
    assert [h.chunk.chunk_id for h in hits] == ["c1", "c2"]
    assert hits[0].lexical_rank == 2 and hits[1].lexical_rank == 1
    assert hits[1].lexical_score == lexical[0].score


def test_document_prior_reranks_by_normalised_score_plus_document_share():
    def hit(cid: str, doc: str, score: float) -> Hit:
        return Hit(Chunk(cid, doc, f"{doc}.pdf", 0, 0, 0, "1", cid, 1), score)

    hits = [hit("x1", "x", 0.04), hit("y1", "y", 0.03), hit("x2", "x", 0.02)]
    out = with_document_prior(hits, {"y": 2.0, "x": 0.5}, weight=0.5)
    # normalised: x1 1.0, y1 0.5, x2 0.0; plus 0.5 * (x: 0.25, y: 1.0)
    assert [h.chunk.chunk_id for h in out] == ["x1", "y1", "x2"]
    assert [h.score for h in out] == pytest.approx([1.125, 1.0, 0.125])
    out = with_document_prior(hits, {"y": 2.0, "x": 0.5}, weight=1.0)
    assert [h.chunk.chunk_id for h in out] == ["y1", "x1", "x2"]  # 1.5 > 1.25 > 0.25
    # No weight, no document scores: the hits come back as they were.
    assert with_document_prior(hits, {"y": 2.0}, weight=0.0) == hits
    assert with_document_prior(hits, {}, weight=0.5) == hits


def test_years_as_questions_and_file_names_write_them():
    assert years("Boeing's FY2022 gross margin against fiscal 2021?") == {"2022", "2021"}
    assert years("JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf") == {"2023"}
    assert years("8K_dated-2023-08-30.pdf") == {"2023"}
    assert years("2024년 확정 예산") == {"2024"}
    assert years("revenue of 120221 and 3M's 10-K, page 1999x") == {"1999"}  # not inside a longer number
    assert years("AMZN 10-Q.pdf") == frozenset()


def test_year_prior_moves_up_the_documents_of_the_years_asked_about():
    def hit(cid: str, file_name: str, score: float) -> Hit:
        return Hit(Chunk(cid, file_name, file_name, 0, 0, 0, "1", cid, 1), score)

    hits = [hit("a", "BOEING_2018_10K.pdf", 1.0), hit("b", "BOEING_2022_10K.pdf", 0.95), hit("c", "notes.pdf", 0.5)]
    out = with_year_prior(hits, years("Boeing's FY2022 effective tax rate"), weight=0.1)
    # 2022's chunk gains 0.1 x the best score (1.0): 1.05 beats 1.0.
    assert [h.chunk.chunk_id for h in out] == ["b", "a", "c"]
    assert [h.score for h in out] == pytest.approx([1.05, 1.0, 0.5])
    # A bonus too small to pass a better hit leaves the order alone; no years or no weight: as they were.
    assert [h.chunk.chunk_id for h in with_year_prior(hits, frozenset({"2022"}), 0.01)] == ["a", "b", "c"]
    assert with_year_prior(hits, frozenset(), 0.1) == hits
    assert with_year_prior(hits, frozenset({"2022"}), 0.0) == hits
