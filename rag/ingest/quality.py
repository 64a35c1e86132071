"""Detect text layers that extract as garbage (broken font encodings) so they are flagged, not indexed.

The measures are deliberately simple and language-aware: each catches one known failure
(glyph names instead of text, Hangul decoded from the wrong code page, letters shifted by a
broken font map, Latin look-alikes for Cyrillic) and stays far from its threshold on real text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag.ingest._hangul import COMMON_SYLLABLES

_GLYPH_NAME = re.compile(r"/(?:c[0-9a-f]{2,4}|g\d{1,5}|uni[0-9A-F]{4}|[A-Za-z]{1,3}\d{1,4})\b")
_WORD = re.compile(r"[^\W\d_]+(?:\d+[^\W\d_]+)*", re.UNICODE)
_LATIN_VOWELS = set("aeiouyAEIOUYàáâãäåèéêëìíîïòóôõöùúûüýÿæœøÀÁÂÃÄÅÈÉÊËÌÍÎÏÒÓÔÕÖÙÚÛÜÝŒØÆ")
_MIN_LETTERS = 80  # below this a page is too short to judge


@dataclass(frozen=True)
class TextQuality:
    letters: int
    glyph_name_ratio: float
    rare_hangul_ratio: float
    latin_vowel_ratio: float | None
    odd_word_ratio: float
    bad_char_ratio: float

    @property
    def garbled(self) -> bool:
        if self.glyph_name_ratio > 0.2 or self.rare_hangul_ratio > 0.5:
            return True
        if self.letters < _MIN_LETTERS:
            return False
        # Thresholds sit well outside what 3,800 real pages of shared/data (English, German,
        # Korean; papers, filings, manuals) measured: odd words <= 0.30, bad chars <= 0.19,
        # vowels >= 0.23 on pages with enough Latin letters.
        return (
            (self.latin_vowel_ratio is not None and self.latin_vowel_ratio < 0.18)
            or self.odd_word_ratio > 0.4
            or self.bad_char_ratio > 0.3
        )


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha() or ("LATIN" in unicodedata.name(ch, "") and ch.isalpha())


def _is_rare_hangul(ch: str) -> bool:
    # Text decoded from the wrong code page lands all over the 11,172 syllables; real Korean
    # draws nearly all of its syllables from a few hundred common ones.
    return ch not in COMMON_SYLLABLES


def _odd_word(word: str) -> bool:
    """A Latin word with digits inside or a case change after its second letter ('KoppeKn1pOBKH')."""
    if len(word) < 4 or not all(_is_latin(c) or c.isdigit() for c in word):
        return False
    if any(c.isdigit() for c in word):
        return True
    if word.isupper() or word.islower() or (word[0].isupper() and word[1:].islower()):
        return False
    # CamelCase identifiers ("iPhone", "McDonald", "JavaScript") change case once or twice.
    changes = sum(1 for a, b in zip(word[1:], word[2:]) if a.islower() and b.isupper())
    changes += sum(1 for a, b in zip(word[1:], word[2:]) if a.isupper() and b.islower())
    return changes >= 3


def measure(text: str) -> TextQuality:
    """Measures of how much a page's extracted text looks like real text."""
    letters = [c for c in text if c.isalpha()]
    n_letters = len(letters)
    tokens = text.split()
    glyph_tokens = sum(1 for t in tokens if _GLYPH_NAME.search(t))
    hangul = [c for c in letters if "\uac00" <= c <= "\ud7a3"]
    rare = sum(1 for c in hangul if _is_rare_hangul(c))
    latin = [c for c in letters if _is_latin(c)]
    vowel_ratio = (sum(1 for c in latin if c in _LATIN_VOWELS) / len(latin)) if len(latin) >= _MIN_LETTERS else None
    words = _WORD.findall(text)
    latin_words = [w for w in words if len(w) >= 4 and all(_is_latin(c) or c.isdigit() for c in w)]
    odd = sum(1 for w in latin_words if _odd_word(w))
    bad = sum(
        1 for c in text if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn") or (c < " " and c not in "\n\t\r")
    )
    visible = sum(1 for c in text if not c.isspace()) or 1
    return TextQuality(
        letters=n_letters,
        glyph_name_ratio=glyph_tokens / len(tokens) if tokens else 0.0,
        rare_hangul_ratio=rare / len(hangul) if len(hangul) >= 5 else 0.0,
        latin_vowel_ratio=vowel_ratio,
        odd_word_ratio=odd / len(latin_words) if len(latin_words) >= 20 else 0.0,
        bad_char_ratio=bad / visible,
    )


def assess(text: str) -> tuple[str, bool]:
    """The page text with glyph-name debris removed, and whether what remains is garbage.

    A page can mix real text with a figure whose font has no Unicode map; dropping the
    ``/c27``-style tokens keeps the real text instead of losing the page.
    """
    if _GLYPH_NAME.search(text) is None:
        return text, measure(text).garbled
    quality = measure(text)
    if quality.glyph_name_ratio <= 0.2:
        return text, quality.garbled
    kept = " ".join(t for t in text.split(" ") if not _GLYPH_NAME.search(t))
    kept = re.sub(r"[ \t]+\n", "\n", kept)
    remaining = measure(kept)
    if remaining.letters < _MIN_LETTERS or remaining.glyph_name_ratio > 0.2:
        return text, True
    return kept, remaining.garbled


def document_garbled(page_flags: list[bool]) -> bool:
    """Most of a document's text pages garbled: its fonts are broken, so distrust every page."""
    return len(page_flags) > 0 and sum(page_flags) / len(page_flags) > 0.6
