"""Normalisation and tokenisation for the lexical index."""

from __future__ import annotations

import unicodedata

import pytest

from rag.errors import ConfigError
from rag.index.textnorm import (
    DEFAULT_TOKENIZER,
    BigramTokenizer,
    WhitespaceTokenizer,
    cjk_ngrams,
    get_tokenizer,
    normalize,
    s_stem,
    written_years,
)


def test_normalize_folds_width_ligatures_and_case():
    assert normalize("ＡＩ Ｍodel ﬁnance ＳＴＲＡẞＥ") == "ai model finance strasse"


def test_normalize_composes_decomposed_hangul():
    decomposed = unicodedata.normalize("NFD", "예산")
    assert len(decomposed) > 2  # conjoining jamo, as some PDF text layers have them
    assert normalize(decomposed) == "예산"


def test_bigram_splits_hangul_runs_and_keeps_latin_words():
    tok = BigramTokenizer()
    assert tok("2024년 예산은 657,680백만원") == ["2024", "년", "예산", "산은", "657", "680", "백만", "만원"]
    assert tok("The Revenues_grew (12%)!") == ["revenues", "grew", "12"]


def test_bigram_query_term_is_found_inside_inflected_word():
    tok = BigramTokenizer()
    assert set(tok("예산")) <= set(tok("확정 예산은 얼마인가요"))
    assert not set(WhitespaceTokenizer()("예산")) & set(WhitespaceTokenizer()("확정 예산은 얼마인가요"))


def test_bigram_handles_decomposed_text_like_composed():
    tok = BigramTokenizer()
    assert tok(unicodedata.normalize("NFD", "청년일자리 예산")) == tok("청년일자리 예산")


def test_cjk_ngrams():
    assert cjk_ngrams("년") == ["년"]
    assert cjk_ngrams("장려금") == ["장려", "려금"]
    assert cjk_ngrams("장려금", unigrams=True) == ["장", "려", "금", "장려", "려금"]
    assert BigramTokenizer()("東京都") == ["東京", "京都"]


def test_stopwords_and_single_letters_dropped_digits_kept():
    assert WhitespaceTokenizer()("What is the price of a 5 s share?") == ["price", "5", "share"]


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("revenues", "revenue"),
        ("policies", "policy"),
        ("shares", "share"),
        ("glass", "glass"),
        ("status", "status"),
        ("bus", "bus"),
        ("fy2022s", "fy2022s"),
    ],
)
def test_s_stem(word, stem):
    assert s_stem(word) == stem


def test_stem_option_changes_terms_and_name():
    plain, stemmed = BigramTokenizer(), BigramTokenizer(stem=True)
    assert plain("revenues") == ["revenues"] and stemmed("revenues") == ["revenue"]
    assert plain.name != stemmed.name != BigramTokenizer(unigrams=True).name


def test_get_tokenizer():
    assert get_tokenizer().name == get_tokenizer(DEFAULT_TOKENIZER).name
    assert isinstance(get_tokenizer("whitespace"), WhitespaceTokenizer)
    with pytest.raises(ConfigError):
        get_tokenizer("nope")


def test_tokenize_many_matches_single_calls():
    tok = BigramTokenizer()
    texts = ["예산은 얼마", "", "Net sales rose"]
    assert tok.tokenize_many(texts) == [tok(t) for t in texts]


def test_kiwi_morphemes_drop_particles():
    pytest.importorskip("kiwipiepy")
    tok = get_tokenizer("kiwi")
    terms = tok("2024년 확정 예산은 얼마인가요? Revenues grew")
    assert "예산" in terms and "확정" in terms
    assert "은" not in terms and "revenues" in terms
    assert tok.tokenize_many(["예산은", "청년일자리"]) == [tok("예산은"), tok("청년일자리")]


def test_letters_and_digits_are_split_but_the_joined_word_stays():
    from rag.index.textnorm import get_tokenizer

    terms = get_tokenizer()("FY2022 10-K h100")
    assert {"fy2022", "fy", "2022", "10", "h100", "100"} <= set(terms)
    assert "k" not in terms and "h" not in terms  # single letters carry no meaning alone


def test_years_are_found_written_in_full_or_short_once_each_in_order() -> None:
    assert written_years("’22년~‘24년, FY2023 and FY'22") == ["2022", "2024", "2023"]
    assert written_years("the '90s and 1998") == ["1990", "1998"]
    # inside a longer number, a quoted number or a contraction: no year
    assert written_years("code 201412, '15' and it's 15") == []
