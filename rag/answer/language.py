"""Which language a question is written in, by its script: the answer and the app's wording follow it."""

from __future__ import annotations

import re

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ENGLISH_WORDS = frozenset(
    "a an and are as at by can could did do does for from had has have how if in is it of on or "
    "the their there these this to was were what when where which who why will with would".split()
)


def question_language(text: str) -> str | None:
    """The question's language by script ("Korean", "Japanese", "Chinese", "Russian", "English"), or None.

    A Hangul syllable carries what two or three Latin letters do, so Hangul counts double: "What does
    매출액 mean?" is English, "삼성전자의 2023년 DRAM 매출은?" Korean.
    """
    hangul, kana, han = len(_HANGUL.findall(text)), len(_KANA.findall(text)), len(_HAN.findall(text))
    latin, cyrillic = len(_LATIN.findall(text)), len(_CYRILLIC.findall(text))
    scores = {"Korean": 2 * hangul, "Japanese": 2 * (kana + han) if kana else 0, "Chinese": 0 if kana else 2 * han}
    scores["Russian"] = cyrillic
    best = max(scores, key=lambda k: scores[k])
    if scores[best] > latin:
        return best
    if not latin:
        return None
    # Latin script is English only when it reads like English; a French question must not get English.
    words = set(re.findall(r"[a-z]+", text.lower()))
    return "English" if words & _ENGLISH_WORDS or len(words) <= 2 else None


def is_korean(text: str) -> bool:
    """The question is Korean (its replies, app wording included, should be Korean)."""
    return question_language(text) == "Korean"
