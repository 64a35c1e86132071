"""Content terms for comparing short texts (an answer's claim and a passage, a question and its rewrite)."""

from __future__ import annotations

import re

from rag.index.textnorm import STOPWORDS, normalize

_RUN = re.compile(r"[\uac00-\ud7a3]+|[^\W_\uac00-\ud7a3]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")
# Korean glues particles and endings to the word ("매출액은", "증가했습니다"); cut the common ones off so
# claim and passage meet on the stem. Longest first.
_KO_SUFFIXES = tuple(
    sorted(
        """입니다 습니다 합니다 됩니다 했습니다 되었습니다 있습니다 없습니다 였습니다 이었습니다 했다 되었다 하였다
        였다 이었다 이다 한다 된다 있다 없다 이며 이고 에서는 에서 에게 으로는 으로 로는 부터 까지 에는 에도 와는
        과는 이나 보다 처럼 은 는 이 가 을 를 의 에 로 와 과 도 만 며 고 요""".split(),
        key=len,
        reverse=True,
    )
)
#: Units and scale words: the number check covers them, and a passage's table often omits them.
UNIT_WORDS = frozenset(
    "percent per cent pct thousand thousands million millions billion billions trillion bn mn usd dollar "
    "dollars won krw eur".split()
)
#: The same in Korean: a table's "(단위: 백만원)" is said once, the claim repeats it after each figure.
KOREAN_UNIT_WORDS = frozenset("천원 만원 백만원 천만원 억원 십억원 조원 백만 천만 퍼센트".split())


def _english_stem(word: str) -> str:
    """Plural endings off, so "losses" meets "loss" and "companies" meets "company" (the index's
    S-stemmer keeps "losse", which is harmless there but not when comparing two texts)."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _korean_stem(word: str) -> str:
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)]
    return word


def key_terms(text: str) -> set[str]:
    """Content words (lower-cased, plural-stripped, no stopwords or unit words) and digit runs; Korean
    words as character bigrams of their stem (particles and endings cut off)."""
    terms: set[str] = set()
    for run in _RUN.findall(normalize(text)):
        if _HANGUL.fullmatch(run):
            stem = _korean_stem(run)
            if stem in KOREAN_UNIT_WORDS:
                continue
            if len(stem) >= 2:
                terms.update(stem[i : i + 2] for i in range(len(stem) - 1))
            continue
        if run in STOPWORDS or run in UNIT_WORDS or (len(run) < 2 and not run.isdigit()):
            continue
        terms.add(_english_stem(run))
    return terms


# A Korean word ending as a verb or an adjective does ("충족해야", "무엇인가요", "시작했나요", "한시적인"), not a name.
_KO_PREDICATE = re.compile(r"(야|서|요|까|는가|인가|며|고|기|다|니|면|지|게|죠|적인)$")


def korean_names(text: str, min_length: int = 4) -> list[str]:
    """The long Korean nouns of a text, as stems ("청년일자리도약장려금은" -> "청년일자리도약장려금").

    What a Korean question names (a programme, a law, an agency) is a long compound noun where English would
    capitalise it; a word of under ``min_length`` syllables is most often a common one ("사업", "목적").
    """
    names: list[str] = []
    for run in _HANGUL.findall(normalize(text)):
        if _KO_PREDICATE.search(run):
            continue
        stem = _korean_stem(run)
        if len(stem) >= min_length and stem not in names:
            names.append(stem)
    return names


def bigrams(word: str) -> set[str]:
    """A word's character bigrams, as ``key_terms`` splits a Korean stem."""
    return {word[i : i + 2] for i in range(len(word) - 1)}
