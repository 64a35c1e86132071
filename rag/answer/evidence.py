"""Lexical evidence for the not-found gate: do the retrieved passages name what the question names?

Dense similarity alone cannot tell "Boeing's tax rate" asked of a collection without Boeing from the same
question asked of one with it: other filings score 0.5-0.6 either way. What differs is that no passage
names Boeing. So the gate also reads the question's names (capitalised runs such as "Activision Blizzard",
"Kraft Heinz's", "Kenvue"; acronyms such as "JnJ", "3M", "PP&E") and years, and looks for them in the
hits' text and file names. An acronym also counts as present when a run of words in the evidence has its
letters as initials ("JnJ": "Johnson & Johnson", "PP&E": "property, plant and equipment").

A question is without evidence when most of its names are missing (a name written only in capitals, like
"CAGR" or "USD", counts when found but not when missing: such terms are often spelled out or absent from
a document that answers), or when it asks about years none of the passages mention. Korean has no
capitals: a Korean question's names are its long compound nouns ("청년일자리도약장려금", "고용보험법"), found
when half their bigrams are, and the share of all its content terms (stem bigrams) found is evidence as well.
Pure functions over strings; thresholds from ``bench/notfound.py`` (see the README).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.answer.language import is_korean
from rag.answer.terms import bigrams, key_terms, korean_names
from rag.index.textnorm import YEAR, written_years

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9&.'’-]*[A-Za-z0-9])?(?:['’]s)?")
_FISCAL = re.compile(r"(?:FY|CY|Q[1-4]|H[12])(?:\s?(?:19|20)?\d\d)?")
_POSSESSIVE = re.compile(r"['’]s$")
_WORDS = re.compile(r"[0-9a-z\uac00-\ud7a3]+")
# Capitalised in English for grammar, not because they name something the documents must mention.
_COMMON = frozenset(
    """i a an the this that these those what which who whom whose when where why how is are was were do does did
    can could should would will shall may might must has have had please list describe explain give tell show
    compare summarize summarise based according using use calculate define round assume answer provide
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)

#: Most of a question's names absent from every passage: the collection does not hold what it asks about.
MISSING_NAMES_SHARE = 0.5
#: A Korean question whose content terms are mostly absent from the passages (bench/notfound.py).
KOREAN_MIN_COVERAGE = 0.3
#: A Korean name counts as shown when this share of its bigrams is in the passages: spacing differs
#: ("청년 일자리 창출지원" for "청년일자리창출지원") and the passage may name it in part.
KOREAN_NAME_COVERAGE = 0.5


@dataclass(frozen=True)
class Evidence:
    """What of the question the passages show: names and years found and missing, Korean term coverage."""

    names_found: tuple[str, ...]
    names_missing: tuple[str, ...]
    capitals_missing: tuple[str, ...]  # all-capital names not found (not counted against the question)
    years_found: tuple[str, ...]
    years_missing: tuple[str, ...]
    coverage: float | None  # Korean questions: the share of content terms found

    @property
    def missing_share(self) -> float:
        named = len(self.names_found) + len(self.names_missing)
        return len(self.names_missing) / named if named else 0.0

    @property
    def unshown(self) -> tuple[str, ...]:
        """The names (most of them missing) or else the years (none found) that no passage shows."""
        if self.names_missing and self.missing_share >= MISSING_NAMES_SHARE:
            return self.names_missing
        if self.years_missing and not self.years_found:
            return self.years_missing
        return ()

    @property
    def lacking(self) -> bool:
        """The passages do not show what the question is about (the gate's lexical half)."""
        return bool(self.unshown) or (self.coverage is not None and self.coverage < KOREAN_MIN_COVERAGE)

    def reason(self) -> str:
        """Why ``lacking`` holds, for the log and the chat history."""
        if self.unshown:
            return "no passage mentions " + ", ".join(self.unshown)
        if self.coverage is not None and self.coverage < KOREAN_MIN_COVERAGE:
            return f"the passages hold {self.coverage:.0%} of the question's terms"
        return ""


def _bare(token: str) -> str:
    """The token without a possessive or a plural "s" after capitals ("Boeing's", "10-Qs", "ETFs")."""
    token = _POSSESSIVE.sub("", token)
    return token[:-1] if len(token) > 2 and token.endswith("s") and token[-2].isupper() else token


def _is_capitals(token: str) -> bool:
    letters = [c for c in token if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_name_token(token: str, first: bool) -> bool:
    bare = _bare(token)
    if not bare or YEAR.search(bare) or _FISCAL.fullmatch(bare) or bare.casefold() in _COMMON:
        return False
    mixed = any(c.isdigit() for c in bare) and any(c.isalpha() for c in bare)  # 3M, 10X
    inner_capital = any(c.isupper() for c in bare[1:])  # JnJ, iPhone, PP&E
    if first:  # a sentence's first word is capitalised anyway; a name only if it could not be a plain word
        return mixed or inner_capital or bare != token
    return bare[0].isupper() or mixed or inner_capital


def question_names(question: str) -> list[str]:
    """The names a question mentions: runs of capitalised words, acronyms, and words like "3M"."""
    names: list[str] = []
    for sentence in _SENTENCE_END.split(question):
        start = end = -1
        for i, match in enumerate(_TOKEN.finditer(sentence)):
            token = match.group()
            is_name = _is_name_token(token, first=i == 0)
            joined = sentence[end : match.start()].strip() in ("", "&")  # "Johnson & Johnson" is one name
            if start >= 0 and not (is_name and joined):
                names.append(sentence[start:end])
                start = -1
            if is_name:
                start = match.start() if start < 0 else start
                end = match.end()
                if _POSSESSIVE.search(token):  # "JnJ's US sales": the possessive ends the name
                    names.append(sentence[start:end])
                    start = -1
        if start >= 0:
            names.append(sentence[start:end])
    return list(dict.fromkeys(names))


def question_years(question: str) -> list[str]:
    """Years the question asks about (FY2019 counts as 2019, "’24년" as 2024)."""
    return written_years(_fold(question))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _squash(text: str) -> str:
    return "".join(_WORDS.findall(_fold(text)))


_CAPITAL_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|&")
_CONNECTORS = frozenset(("&", "and", "of", "the", "for"))


def _initials(text: str) -> str:
    """The initials of each run of capitalised words ("Johnson & Johnson" -> "jj"), runs "|"-separated."""
    runs, run = [], ""
    for word in _CAPITAL_WORD.findall(text.replace("_", " ")):
        if word[0].isupper():
            run += word[0]
        elif word not in _CONNECTORS:
            runs.append(run)
            run = ""
    return "|".join([*runs, run]).casefold()


class _Haystack:
    """The evidence text, searched for names as written, squashed ("ActivisionBlizzard"), or as the initials
    of capitalised words ("JnJ": "Johnson & Johnson"; lower-case words make no acronym)."""

    def __init__(self, texts: Iterable[str]) -> None:
        texts = list(texts)
        self._texts = [_squash(t) for t in texts]
        self.squashed = "".join(self._texts)
        self._initials = "|".join(_initials(t) for t in texts)

    def has(self, name: str) -> bool:
        bare = _squash(" ".join(_bare(t) for t in name.split()))
        if not bare:
            return True
        if bare in self.squashed:
            return True
        words = [w for w in (_squash(_bare(t)) for t in name.split()) if w]
        if len(words) > 1 and any(all(w in text for w in words) for text in self._texts):
            return True  # "Acme X200" where the cover says "ACME CORPORATION ... X200"
        letters = [c for c in name if c.isupper()]
        # An acronym whose capitals are a run of words' initials: "PP&E", "JnJ", "SG&A".
        if len(letters) >= 2 and len(name.replace(" ", "")) <= 8:
            return "".join(letters).casefold() in self._initials
        return False


def find_evidence(question: str, passages: Sequence[str], file_names: Sequence[str] = ()) -> Evidence:
    """Which of the question's names and years the passages (and their files' names) show."""
    hay = _Haystack([*passages, *(name.rsplit(".", 1)[0] for name in file_names)])
    found, missing, capitals = [], [], []
    for name in question_names(question):
        name = " ".join(_bare(t) for t in name.split())
        if hay.has(name):
            found.append(name)
        elif all(_is_capitals(_bare(t)) for t in name.split()):
            capitals.append(name)
        else:
            missing.append(name)
    years = question_years(question)
    # A passage may write the year short: "’15년 직업능력개발계좌제와 … 통합" answers a question about 2015.
    shown = set(written_years(" ".join(_fold(p) for p in [*passages, *file_names])))
    years_found = [y for y in years if y in shown]
    coverage = None
    if is_korean(question):
        terms = key_terms(question)
        seen = set().union(*(key_terms(p) for p in passages)) if passages else set()
        coverage = len(terms & seen) / len(terms) if terms else None
        # Korean has no capitals: its names are the long compound nouns, looked for by their bigrams.
        named = seen.union(*(key_terms(name) for name in file_names))
        for name in korean_names(question):
            grams = bigrams(name)
            (found if len(grams & named) / len(grams) >= KOREAN_NAME_COVERAGE else missing).append(name)
    return Evidence(
        names_found=tuple(found),
        names_missing=tuple(missing),
        capitals_missing=tuple(capitals),
        years_found=tuple(years_found),
        years_missing=tuple(y for y in years if y not in years_found),
        coverage=coverage,
    )
