"""Refusals recognised (English and Korean, only short ones without cited claims), the app's not-found wording
in the question's language, and the language named by script."""

from __future__ import annotations

import pytest

from rag.answer.declined import DECLINED_TEXT_EN, DECLINED_TEXT_KO, declined_text, is_refusal
from rag.answer.language import question_language


@pytest.mark.parametrize(
    "reply",
    [
        "The documents do not contain the answer to this question.",
        "I could not find this in the provided sources.",
        "The provided sources do not mention the 2019 revenue.",
        "There is no information about dividends in the sources [1].",  # a marker on the refusal itself
        "Sorry, the context does not specify the exact date.",
        "The answer is not found in the provided documents.",
        "Not found.",
        "I don't know.",
        "제공된 문서에는 해당 정보가 없습니다.",
        "문서에서 찾을 수 없습니다.",
        "이 내용은 문서에 포함되어 있지 않습니다.",
        "주어진 자료에서는 답을 찾을 수 없습니다.",
    ],
)
def test_refusals_are_recognised(reply: str) -> None:
    assert is_refusal(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "Revenue was $5 billion [1].",
        "The warranty does not cover water damage [1].",  # a negative fact is an answer
        "The sources do not mention 2019. However, 2018 revenue was $5B [1].",  # a cited claim follows
        "The company does not disclose the figure for 2019, but revenue in 2018 rose 5% [2].",
        "보증은 물에 의한 손상을 포함하지 않습니다 [1].",
        "The documents do not state it directly. " * 12,  # long: an answer that mentions a gap
        "",
    ],
)
def test_answers_are_not_refusals(reply: str) -> None:
    assert not is_refusal(reply)


def test_the_app_says_not_found_in_the_question_language() -> None:
    assert declined_text("2023년 매출액은 얼마입니까?") == DECLINED_TEXT_KO
    assert declined_text("What was revenue in 2023?") == DECLINED_TEXT_EN
    assert any("\uac00" <= ch <= "\ud7a3" for ch in DECLINED_TEXT_KO)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("삼성전자의 2023년 DRAM 매출은?", "Korean"),
        ("연봉은?", "Korean"),
        ("What does 매출액 mean?", "English"),  # mostly English: a Korean term inside
        ("How long is the warranty?", "English"),
        ("Quelle est la durée de la garantie ?", None),  # Latin script that is not English: not guessed
        ("売上高はいくらですか？", "Japanese"),
        ("营业收入是多少？", "Chinese"),
        ("2023?", None),
    ],
)
def test_question_language_by_script(text: str, language: str | None) -> None:
    assert question_language(text) == language
