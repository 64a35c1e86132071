"""When the model declines (the sources do not hold the answer): recognising it, and the app's own wording.

Small models word a refusal every way, and in English under a Korean question; the app detects it and
says "not found" itself, in the question's language, instead of showing the model's sentence.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.answer.citations import marker_spans
from rag.answer.language import is_korean

if TYPE_CHECKING:
    from rag.answer.evidence import Evidence

NOT_FOUND_TEXT = "Not found in your documents."
DECLINED_TEXT_EN = "Not found in your documents: the passages below do not answer this question."
DECLINED_TEXT_KO = "문서에서 답을 찾지 못했습니다. 아래 구절에는 이 질문에 대한 답이 없습니다."

# A refusal is short: a longer reply is an answer that mentions a gap, and is shown as the model wrote it.
_MAX_CHARS = 400
_MAX_SENTENCES = 3
_REFUSAL = re.compile(
    r"|".join(
        (
            # English: "do not contain", "doesn't mention", "no information", "cannot find", "not found"
            r"\b(?:do|does|did)\s*(?:not|n't)\s+(?:seem\s+to\s+)?(?:contain|mention|include|provide|say|state|specify"
            r"|give|discuss|cover|address|hold|list|describe|answer|have|offer|report|indicate|show)\b",
            r"\b(?:is|are|was|were)\s*(?:not|n't)\s+(?:mentioned|specified|stated|given|provided|included|found"
            r"|available|listed|described|covered|addressed|discussed|contained)\b",
            r"\bno\s+(?:information|mention|details?|data|answer|relevant|specific|explicit|indication|reference)\b",
            r"\b(?:cannot|can't|can\s+not|could\s*(?:not|n't)|unable\s+to|not\s+able\s+to)\s+(?:be\s+)?"
            r"(?:find|found|answer|answered|determine|determined|locate|provide|identify|confirm)\b",
            r"\bnot\s+(?:found|contained|present|mentioned)\s+in\b",
            r"\bnone\s+of\s+the\s+(?:sources|documents|passages)\b",
            r"\b(?:i\s+)?(?:do\s*(?:not|n't)|don't)\s+know\b",
            r"\binsufficient\s+information\b",
            # Korean: "제공된 ... 없", "찾을 수 없", "포함되어 있지 않", "언급되어 있지 않", "알 수 없" …
            r"제공된[^.?!。\n]{0,40}없",
            r"(?:찾을|알|확인할|답할|파악할|판단할)\s*수\s*(?:없|가\s*없)",
            r"(?:포함|언급|명시|기재|기술|설명|제시)(?:되어|돼)?\s*있지\s*않",
            r"(?:포함|언급|명시|기재|기술|설명|제시)(?:되지|하지)\s*않",
            r"나와\s*있지\s*않",
            r"(?:정보|내용|언급|답|답변|자료|근거)(?:가|는|이|은)?\s*(?:없|존재하지\s*않)",
        )
    ),
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
# A negation alone is no refusal ("The warranty does not cover water damage [1]" is an answer): the
# sentence must be about the sources, the information or the answer, or said in the first person.
_ABOUT_SOURCES = re.compile(
    r"\b(?:sources?|documents?|passages?|context|texts?|information|provided|given|excerpts?|materials?|data"
    r"|details|answer|mention(?:ed|s)?|i|we)\b|문서|자료|제공|정보|내용|답|출처|구절|언급|본문",
    re.IGNORECASE,
)
_BARE = re.compile(r"^\W*(?:not\s+found|unknown|n/?a|없음|찾을\s*수\s*없음)\W*$", re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """The reply is a short refusal without cited claims: it says the sources lack the answer and cites
    nothing except, perhaps, on the refusal sentence itself."""
    text = text.strip()
    if not text or len(text) > _MAX_CHARS:
        return False
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if len(sentences) > _MAX_SENTENCES:
        return False
    refusing = [bool(_BARE.match(s) or (_REFUSAL.search(s) and _ABOUT_SOURCES.search(s))) for s in sentences]
    if not any(refusing):
        return False
    # A cited sentence that is not a refusal is a claim: then this is a (partial) answer, not a decline.
    return not any(marker_spans(s) for s, refuses in zip(sentences, refusing, strict=True) if not refuses)


def declined_text(question: str) -> str:
    """The app's not-found wording, in the question's language (Korean or English)."""
    return DECLINED_TEXT_KO if is_korean(question) else DECLINED_TEXT_EN


def not_found_text(question: str, evidence: Evidence | None = None) -> str:
    """The gate's "not found", in the question's language, saying what no passage showed when it knows."""
    korean = is_korean(question)
    if evidence is None or not evidence.lacking:
        return "문서에서 답을 찾지 못했습니다." if korean else NOT_FOUND_TEXT
    what = ", ".join(n if n.isdigit() else f"“{n}”" for n in evidence.unshown)
    if korean:
        if what:
            return f"문서에서 답을 찾지 못했습니다. 찾은 구절 어디에도 {what}에 대한 내용이 없습니다."
        return "문서에서 답을 찾지 못했습니다. 찾은 구절에 질문의 핵심 단어가 거의 없습니다."
    if what:
        return f"Not found in your documents: none of the passages found mentions {what}."
    return "Not found in your documents: the passages found share few of the question's words."

