"""Text normalisation and tokenisation for the lexical (BM25) index, Korean and English."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.errors import ConfigError

# Scripts written without spaces between words, or (Hangul) with particles and endings glued to
# the word: whitespace tokens fail there, so these runs are cut into character n-grams instead.
# Hangul jamo and syllables, CJK ideographs, kana.
_CJK_CHARS = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff"
)
# A CJK run, or a run of letters/digits of any other script; "_" and punctuation separate tokens.
_TOKEN = re.compile(f"(?P<cjk>[{_CJK_CHARS}]+)|(?P<other>[^\\W_{_CJK_CHARS}]+)")
_WORD = re.compile(r"[^\W_]+")

#: Deliberately small: BM25's idf already discounts frequent words; this only drops the
#: function words that make up most of an English question.
STOPWORDS: frozenset[str] = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its may of on or our should so than that the their them then there these they this
    those to was we were what when where which while who whom why will with would you your""".split()
)


#: A four-digit year (1900-2099) as questions, file names and passages write it: "FY2022", "2023Q2",
#: "2023-08-30", "2022년" (not inside a longer number).
YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


#: A year written short, as Korean documents and English headlines do ("’22~’24년", "FY'22"): an apostrophe
#: before two digits that no further digit follows. 70 and above are 1900s.
SHORT_YEAR = re.compile(r"(?<![\d'’‘])['’‘](?P<yy>\d{2})(?![\d'’])")


def years(text: str) -> frozenset[str]:
    """The four-digit years (1900-2099) written in ``text``."""
    return frozenset(YEAR.findall(text))


def short_year(yy: str) -> str:
    """The four-digit year of a two-digit one ("22" -> "2022", "98" -> "1998")."""
    return str((1900 if int(yy) >= 70 else 2000) + int(yy))


def written_years(text: str) -> list[str]:
    """The years ``text`` names, in order, once each: four-digit ones and short ones ("’15년" is 2015)."""
    found = [(m.start(), m.group()) for m in YEAR.finditer(text)]
    found += [(m.start(), short_year(m.group("yy"))) for m in SHORT_YEAR.finditer(text)]
    return list(dict.fromkeys(year for _, year in sorted(found)))


def normalize(text: str) -> str:
    """NFKC-normalise and case-fold, so full-width forms, ligatures and case all match."""
    return unicodedata.normalize("NFKC", text).casefold()


def s_stem(word: str) -> str:
    """Harman's S-stemmer: strip English plural endings only (light, no dependency)."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


_LETTERS_DIGITS = re.compile(r"\d+|[^\W\d_]+")


def _latin_terms(run: str, stem: bool) -> list[str]:
    """A word's term, plus its letter and digit parts when it mixes them.

    "FY2022" must meet "2022" and "10k" (a file name) must meet "10-K" (the text); the joined
    form stays too, so a code like "h100" still matches itself best.
    """
    parts = _LETTERS_DIGITS.findall(run)
    runs = [run, *parts] if len(parts) > 1 else [run]
    terms = []
    for r in runs:
        if r in STOPWORDS or (len(r) == 1 and not r.isdigit()):
            continue
        terms.append(s_stem(r) if stem else r)
    return terms


def cjk_ngrams(run: str, unigrams: bool = False) -> list[str]:
    """Overlapping character bigrams of a CJK run (a lone character stays a unigram)."""
    if len(run) == 1:
        return [run]
    grams = [run[i : i + 2] for i in range(len(run) - 1)]
    return list(run) + grams if unigrams else grams


class Tokenizer(Protocol):
    """Turns a text into index terms; ``name`` changes whenever the terms would."""

    name: str

    def __call__(self, text: str) -> list[str]: ...

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]: ...


@dataclass(frozen=True)
class WhitespaceTokenizer:
    """Baseline: punctuation-free words, as a Western search engine would split them."""

    stem: bool = False
    name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", "whitespace-v2" + ("+s" if self.stem else ""))

    def __call__(self, text: str) -> list[str]:
        terms: list[str] = []
        for word in _WORD.findall(normalize(text)):
            terms.extend(_latin_terms(word, self.stem))
        return terms

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(t) for t in texts]


@dataclass(frozen=True)
class BigramTokenizer:
    """Character bigrams for CJK/Hangul runs, words for everything else."""

    stem: bool = False
    unigrams: bool = False
    name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        suffix = ("+s" if self.stem else "") + ("+u" if self.unigrams else "")
        object.__setattr__(self, "name", "bigram-v2" + suffix)

    def __call__(self, text: str) -> list[str]:
        terms: list[str] = []
        for m in _TOKEN.finditer(normalize(text)):
            if m.lastgroup == "cjk":
                terms.extend(cjk_ngrams(m.group(), self.unigrams))
            else:
                terms.extend(_latin_terms(m.group(), self.stem))
        return terms

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(t) for t in texts]


# Content morphemes: nouns, numerals, verb/adjective stems, roots, foreign words, numbers, hanja.
# Particles (J*), endings (E*), affixes and symbols carry no topic.
KIWI_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SN", "SH", "W_HASHTAG"})


class KiwiTokenizer:
    """Korean morphemes from kiwipiepy (optional dependency), words for other scripts."""

    def __init__(self, stem: bool = False) -> None:
        self.stem = stem
        self.name = "kiwi-v1" + ("+s" if stem else "")
        self._kiwi = None
        self._lock = threading.Lock()

    def _analyser(self):  # noqa: ANN202 - kiwipiepy is optional, so no import for the annotation
        with self._lock:
            if self._kiwi is None:
                try:
                    from kiwipiepy import Kiwi
                except ImportError as e:
                    raise ConfigError("the 'kiwi' tokenizer needs: pip install kiwipiepy") from e
                self._kiwi = Kiwi(num_workers=-1)  # threads are needed for batch tokenize()
            return self._kiwi

    def _terms(self, tokens) -> list[str]:  # noqa: ANN001
        terms: list[str] = []
        for tok in tokens:
            if tok.tag not in KIWI_TAGS:
                continue
            # Kiwi keeps "657,680" or "e-mail" as one token: split them like the other tokenizers.
            for m in _TOKEN.finditer(tok.form):
                if m.lastgroup == "cjk":
                    terms.append(m.group())
                else:
                    terms.extend(_latin_terms(m.group(), self.stem))
        return terms

    def __call__(self, text: str) -> list[str]:
        return self._terms(self._analyser().tokenize(normalize(text)))

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        kiwi = self._analyser()
        return [self._terms(toks) for toks in kiwi.tokenize([normalize(t) for t in texts])]


_FACTORIES: dict[str, Callable[[], Tokenizer]] = {
    "whitespace": WhitespaceTokenizer,
    "bigram": BigramTokenizer,
    "kiwi": KiwiTokenizer,
}

# Measured in bench/tokenizers_ko.py (figures in its docstring): on Korean QA, bigrams beat
# whitespace words by far (doc R@1 0.93 vs 0.56) and tie kiwi's morphemes, while needing no model,
# tokenising ~8x faster and doing better on English; S-stemming gave no significant English gain.
DEFAULT_TOKENIZER = "bigram"


def get_tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """The tokenizer registered under ``name`` ("whitespace", "bigram" or "kiwi")."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigError(f"unknown tokenizer {name!r}; choose from {sorted(_FACTORIES)}") from None
    return factory()
