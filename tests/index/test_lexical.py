"""The BM25 index: rankings on tiny hand-checked corpora, persistence, crash safety, threads."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest

from rag.errors import IndexCorrupt, StoreError
from rag.index import lexical_snapshot
from rag.index.lexical import LexicalHit, LexicalIndex
from rag.index.lexical_snapshot import BM25_PARAMS, fingerprint
from rag.index.textnorm import BigramTokenizer, WhitespaceTokenizer
from rag.models import Chunk


def chunk(cid: str, doc: str, text: str) -> Chunk:
    return Chunk(cid, doc, f"{doc}.pdf", 0, 0, 0, "1", text, 0)


def ids(hits: list[LexicalHit]) -> list[str]:
    return [h.chunk_id for h in hits]


ENGLISH = [
    chunk("e1", "en", "budget budget growth"),
    chunk("e2", "en", "Budget report for the minister"),  # "for", "the": stopwords
    chunk("e3", "weather", "weather forecast"),
]
KOREAN = [
    chunk("k1", "budget", "2024년 확정 예산은 657,680백만원이다"),
    chunk("k2", "youth", "청년 일자리 도약 장려금 지원 대상 기업"),
    chunk("k3", "insurance", "고용보험 가입 기간과 구직급여"),
]


def lucene_bm25(tf: int, df: int, n_docs: int, doc_len: int, avg_len: float) -> float:
    """The bm25s "lucene" score of one term, written out by hand."""
    k1, b = BM25_PARAMS["k1"], BM25_PARAMS["b"]
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * doc_len / avg_len))


# ---- ranking -----------------------------------------------------------------------------


def test_english_scores_match_hand_computed_bm25():
    index = LexicalIndex()
    index.add(ENGLISH)
    hits = index.search("budget", 10)
    # Terms: e1 [budget, budget, growth], e2 [budget, report, minister], e3 [weather, forecast].
    avg = (3 + 3 + 2) / 3
    assert ids(hits) == ["e1", "e2"]  # e3 shares no term: not returned at all
    assert hits[0].score == pytest.approx(lucene_bm25(2, 2, 3, 3, avg), rel=1e-5)
    assert hits[1].score == pytest.approx(lucene_bm25(1, 2, 3, 3, avg), rel=1e-5)
    two_terms = index.search("minister's budget", 10)
    assert ids(two_terms) == ["e2", "e1"]
    assert two_terms[0].score == pytest.approx(lucene_bm25(1, 2, 3, 3, avg) + lucene_bm25(1, 1, 3, 3, avg), rel=1e-5)


def test_document_scores_weigh_each_term_by_the_share_of_chunks_holding_it():
    def c(doc: str, i: int, text: str) -> Chunk:
        return Chunk(f"{doc}:{i}", doc, f"{doc}.pdf", i, 0, 0, "1", text, 5)

    index = LexicalIndex()
    assert index.document_scores("apple") == {}
    index.add(
        [
            c("a", 0, "Apple quarterly report net sales"),
            c("a", 1, "net sales grew"),
            c("b", 0, "Amazon net sales grew"),
            c("b", 1, "AWS revenue and net sales"),
            c("c", 0, "Intel revenue fell"),
        ]
    )

    def idf(n_t: int) -> float:
        return math.log(1 + (3 - n_t + 0.5) / (n_t + 0.5))

    scores = index.document_scores("How did Apple's net sales change?")
    # apple: 1 of a's 2 chunks; net and sales: every chunk of a and b; c holds none of them.
    assert scores == {
        "a": pytest.approx(idf(1) * 0.5 + 2 * idf(2)),
        "b": pytest.approx(2 * idf(2)),
    }
    assert index.document_scores("revenue") == {"b": pytest.approx(idf(2) * 0.5), "c": pytest.approx(idf(2))}
    index.remove("a")
    assert set(index.document_scores("apple sales")) == {"b"}


def test_korean_term_inside_inflected_word_needs_bigrams():
    index = LexicalIndex(tokenizer=BigramTokenizer())
    index.add(KOREAN)
    assert ids(index.search("예산", 5)) == ["k1"]  # "예산" inside "예산은"
    assert ids(index.search("청년일자리도약장려금은 어떤 기업을 지원하나요?", 5))[0] == "k2"
    assert ids(index.search("구직급여 고용보험", 5)) == ["k3"]
    spaces_only = LexicalIndex(tokenizer=WhitespaceTokenizer())
    spaces_only.add(KOREAN)
    assert spaces_only.search("예산", 5) == []
    assert spaces_only.search("청년일자리도약장려금은", 5) == []


def test_search_edge_cases():
    index = LexicalIndex()
    assert index.search("budget", 5) == []  # empty index
    index.add(ENGLISH)
    assert index.search("", 5) == []
    assert index.search("the of and", 5) == []  # only stopwords
    assert index.search("unknownword", 5) == []
    assert index.search("budget", 0) == []
    assert ids(index.search("budget", 1)) == ["e1"]


def test_equal_scores_break_ties_by_chunk_id_whatever_the_insertion_order():
    index = LexicalIndex()
    index.add(
        [
            chunk("z", "d1", "same words here"),
            chunk("b", "d2", "same words here"),
            chunk("m", "d3", "same words here"),
            chunk("x", "d4", "other text"),
        ]
    )
    assert ids(index.search("same words", 10)) == ["b", "m", "z"]
    assert ids(index.search("same words", 2)) == ["b", "m"]  # the cut at k keeps the tie order


# ---- add / remove / rebuild ----------------------------------------------------------------


def test_add_replaces_same_chunk_id_and_remove_drops_a_document(tmp_path):
    index = LexicalIndex(tmp_path / "lex")
    index.add(ENGLISH + KOREAN)
    assert len(index) == 6
    index.add([chunk("e1", "en", "quarterly dividend")])
    assert len(index) == 6
    assert ids(index.search("growth", 5)) == []
    assert ids(index.search("dividend", 5)) == ["e1"]
    assert index.remove("en") == 2
    assert index.search("budget", 5) == [] and index.search("dividend", 5) == []
    assert ids(index.search("weather", 5)) == ["e3"]
    assert index.remove("no-such-doc") == 0
    assert index.state.docs == 4 and index.state.chunks == 4


def test_apply_removes_and_adds_in_one_generation(tmp_path):
    index = LexicalIndex(tmp_path / "lex")
    index.add(ENGLISH)
    before = (tmp_path / "lex" / "CURRENT").read_text()
    assert index.apply(add=[chunk("n1", "en2", "budget surplus")], remove=["en"]) == 2
    after = (tmp_path / "lex" / "CURRENT").read_text()
    assert before != after
    assert ids(index.search("budget", 5)) == ["n1"]
    assert index.remove("no-such-doc") == 0
    assert (tmp_path / "lex" / "CURRENT").read_text() == after  # a no-op writes nothing


def test_rebuild_equals_incremental_build(tmp_path):
    incremental = LexicalIndex()
    incremental.add(ENGLISH)
    incremental.add(KOREAN)
    incremental.remove("weather")
    rebuilt = LexicalIndex(tmp_path / "lex")
    state = rebuilt.rebuild([(c.chunk_id, c.doc_id, c.text) for c in ENGLISH + KOREAN if c.doc_id != "weather"])
    assert state.chunks == 5 and not state.needs_rebuild
    for query in ("budget", "예산 2024", "청년 기업", "minister report"):
        assert incremental.search(query, 10) == rebuilt.search(query, 10)


def test_duplicate_chunk_ids_in_one_batch_keep_the_last():
    index = LexicalIndex()
    index.rebuild([("a", "d", "first text"), ("a", "d", "second text")])
    assert len(index) == 1
    assert ids(index.search("second", 5)) == ["a"] and index.search("first", 5) == []
    index.add([chunk("b", "d", "third text"), chunk("b", "d", "fourth text")])
    assert len(index) == 2
    assert ids(index.search("fourth", 5)) == ["b"] and index.search("third", 5) == []


def test_needs_rebuild_survives_writes_until_rebuild(tmp_path):
    index = LexicalIndex.open(tmp_path / "lex")
    index.add(ENGLISH)
    assert index.state.needs_rebuild
    index.rebuild([(c.chunk_id, c.doc_id, c.text) for c in ENGLISH])
    assert not index.state.needs_rebuild


# ---- persistence and staleness -------------------------------------------------------------


def test_persist_and_reload_give_identical_results(tmp_path):
    index = LexicalIndex(tmp_path / "lex")
    index.add(ENGLISH + KOREAN)
    reopened = LexicalIndex.open(tmp_path / "lex")
    assert not reopened.state.needs_rebuild
    assert reopened.state == index.state
    for query in ("budget", "예산", "청년 일자리", "weather forecast"):
        assert reopened.search(query, 10) == index.search(query, 10)
    reopened.remove("budget")  # a reopened index can be written to
    assert ids(LexicalIndex.open(tmp_path / "lex").search("예산", 5)) == []


def test_state_fingerprint_and_in_step_with():
    index = LexicalIndex()
    index.add(ENGLISH)
    state = index.state
    assert (state.chunks, state.docs) == (3, 2)
    assert state.fingerprint == fingerprint(["weather", "en"]) == fingerprint(["en", "weather", "en"])
    assert state.fingerprint != fingerprint(["en"])
    assert index.in_step_with(["weather", "en"], 3)
    assert not index.in_step_with(["weather", "en"], 4)
    assert not index.in_step_with(["en", "other"], 3)


def test_missing_index_is_flagged_and_rebuild_clears_the_flag(tmp_path):
    index = LexicalIndex.open(tmp_path / "nothing-here")
    assert index.state.needs_rebuild and "no lexical index" in index.state.reason
    assert not index.in_step_with([], 0)
    with pytest.raises(IndexCorrupt):
        LexicalIndex.open(tmp_path / "nothing-here", strict=True)
    index.rebuild([(c.chunk_id, c.doc_id, c.text) for c in KOREAN])
    assert not index.state.needs_rebuild
    assert index.in_step_with(["budget", "youth", "insurance"], 3)
    assert not LexicalIndex.open(tmp_path / "nothing-here").state.needs_rebuild


def test_other_tokenizer_on_disk_means_rebuild(tmp_path):
    LexicalIndex(tmp_path / "lex", BigramTokenizer()).add(KOREAN)
    other = LexicalIndex.open(tmp_path / "lex", BigramTokenizer(stem=True))
    assert other.state.needs_rebuild and "tokenizer" in other.state.reason


# ---- crash safety and corruption -------------------------------------------------------------


def test_open_ignores_half_written_generations_and_next_write_sweeps_them(tmp_path):
    root = tmp_path / "lex"
    index = LexicalIndex(root)
    index.add(ENGLISH)
    expected = index.search("budget", 10)
    # A crash mid-write leaves a temp dir, or a renamed generation that CURRENT never named.
    (root / ".tmp-deadbeef").mkdir()
    (root / ".tmp-deadbeef" / "tokens.npy").write_bytes(b"\x93NUMPY half")
    (root / "gen-crashed").mkdir()
    (root / "gen-crashed" / "manifest.json").write_text("{not json")
    (root / ".tmp-CURRENT-1234").write_text("gen-crashed")
    reopened = LexicalIndex.open(root)
    assert not reopened.state.needs_rebuild
    assert reopened.search("budget", 10) == expected
    reopened.add(KOREAN)
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted(["CURRENT", (root / "CURRENT").read_text()])


def test_failed_commit_leaves_disk_and_memory_at_previous_state(tmp_path, monkeypatch):
    root = tmp_path / "lex"
    index = LexicalIndex(root)
    index.add(ENGLISH)
    before = index.search("budget", 10)
    real_replace = os.replace

    def crash_on_commit(src, dst):
        if Path(dst).name == "CURRENT":
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(lexical_snapshot.os, "replace", crash_on_commit)
    with pytest.raises(StoreError, match="disk full"):
        index.add(KOREAN)
    monkeypatch.undo()
    assert index.search("budget", 10) == before and len(index) == 3  # memory did not run ahead
    assert index.search("예산", 10) == []
    reopened = LexicalIndex.open(root)
    assert not reopened.state.needs_rebuild and reopened.search("budget", 10) == before
    assert [p.name for p in root.iterdir() if p.name != "CURRENT"] == [(root / "CURRENT").read_text()]


def _current_gen(root: Path) -> Path:
    return root / (root / "CURRENT").read_text()


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "drop_file", "bad_manifest", "bad_pointer"])
def test_corrupt_index_is_detected(tmp_path, damage):
    root = tmp_path / "lex"
    LexicalIndex(root).add(ENGLISH + KOREAN)
    gen = _current_gen(root)
    if damage == "flip_byte":
        data = bytearray((gen / "tokens.npy").read_bytes())
        data[-1] ^= 0xFF
        (gen / "tokens.npy").write_bytes(bytes(data))
    elif damage == "truncate":
        (gen / "chunks.json").write_bytes((gen / "chunks.json").read_bytes()[:10])
    elif damage == "drop_file":
        next(gen.glob("bm25/*.npy")).unlink()
    elif damage == "bad_manifest":
        (gen / "manifest.json").write_text("{")
    else:
        (root / "CURRENT").write_text("gen-missing")
    index = LexicalIndex.open(root)
    assert index.state.needs_rebuild and index.state.reason
    assert len(index) == 0 and index.search("budget", 5) == []
    with pytest.raises(IndexCorrupt):
        LexicalIndex.open(root, strict=True)


def test_inconsistent_manifest_counts_are_detected(tmp_path):
    root = tmp_path / "lex"
    LexicalIndex(root).add(ENGLISH)
    manifest_path = _current_gen(root) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["chunks"] = 99  # checksums still match the data files
    manifest_path.write_text(json.dumps(manifest))
    assert LexicalIndex.open(root).state.needs_rebuild


# ---- threads ---------------------------------------------------------------------------------


def test_readers_see_whole_writes_while_a_writer_works(tmp_path):
    index = LexicalIndex(tmp_path / "lex")
    n_docs, per_doc = 8, 3
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for d in range(n_docs):
                text = f"shared token 예산은 doc{d}"
                index.add([chunk(f"d{d}-{i}", f"d{d}", f"{text} part{i}") for i in range(per_doc)])
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            done.set()

    def reader() -> None:
        try:
            seen = 0
            while True:
                finished = done.is_set()
                hits = index.search("shared 예산", 100)
                assert len(hits) % per_doc == 0, "a reader saw half a write"
                assert len(hits) >= seen, "a reader went back in time"
                assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
                seen = len(hits)
                if finished:
                    break
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(index) == n_docs * per_doc


def test_concurrent_writers_lose_no_update(tmp_path):
    index = LexicalIndex(tmp_path / "lex")

    def add_docs(prefix: str) -> None:
        for d in range(4):
            index.add([chunk(f"{prefix}{d}", f"{prefix}{d}", f"text {prefix} number {d}")])

    threads = [threading.Thread(target=add_docs, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert index.state.docs == 8
    assert LexicalIndex.open(tmp_path / "lex").state.docs == 8
