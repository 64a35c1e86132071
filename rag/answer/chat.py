"""Chat orchestration: rewrite, retrieve, gate on relevance, prompt, stream, cite; failures degrade."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from rag.answer.declined import not_found_text
from rag.answer.evidence import Evidence, find_evidence
from rag.answer.history import ChatHistory
from rag.answer.language import question_language
from rag.answer.llm import OllamaLLM, TokenStream
from rag.answer.prompt import (
    TurnLike,
    again_messages,
    build_answer_prompt,
    build_rewrite_messages,
    clean_rewrite,
)
from rag.answer.result import Answer, AnswerOutcome, Turn
from rag.answer.stream import AnswerStream, failed, search_only
from rag.errors import LLMError, LLMUnavailable, RagError
from rag.models import Hit
from rag.settings import AnswerSettings

# Answer, Turn and AnswerStream are part of this module's interface: callers build a chat from one import.
__all__ = [
    "Answer",
    "AnswerOutcome",
    "AnswerStream",
    "ChatSession",
    "Expander",
    "Openings",
    "Retriever",
    "Turn",
    "record_exchange",
    "relevance",
]

logger = logging.getLogger(__name__)

#: ``retrieve(query, k)``: the ranked hits for a query (``Library.retriever``: the chat's search mode, with fallback)
Retriever = Callable[[str, int], list[Hit]]
#: ``expand(hits)``: the model's sources made from the ranked hits (``Library.expander``: each hit's page context)
Expander = Callable[[Sequence[Hit]], list[Hit]]
#: ``openings(hits)``: the opening text of each hit's document (``Library.openings``: its first chunks), where
#: a filing or report names its company, ministry or product when its body pages say "we" or "the Company"
Openings = Callable[[Sequence[Hit]], list[str]]

# Enough for one rewritten question; keeps a rambling model from running on.
_REWRITE_MAX_TOKENS = 96


def relevance(hit: Hit) -> float:
    """The score the not-found gate compares with ``min_score``.

    The dense cosine similarity when the hit has one: fused or reranked final scores (e.g. reciprocal
    rank fusion, ~0.03) are not on a scale a fixed threshold means anything for.
    """
    return hit.dense_score if hit.dense_score is not None else hit.score


@dataclass
class ChatSession:
    """Answers questions over one collection through ``retrieve(query, k)`` and an optional LLM; ``expand``
    turns the hits into the model's sources (the hits themselves without it); ``openings`` gives the not-found
    gate each hit's document opening as evidence too."""

    retrieve: Retriever
    llm: OllamaLLM | None
    config: AnswerSettings = field(default_factory=AnswerSettings)
    expand: Expander | None = None
    openings: Openings | None = None

    def ask(self, question: str, history: Sequence[TurnLike] = ()) -> AnswerStream:
        """Rewrite (if a follow-up), retrieve and prepare; iterating the result streams the answer."""
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        llm, cfg = self.llm, self.config
        llm_error: LLMError | None = None
        num_ctx = 0
        if llm is not None:
            try:
                num_ctx = llm.context_info().window(cfg.num_ctx, cfg.max_ctx)
            except LLMError as e:
                logger.warning("language model not usable: %s", e)
                llm_error = e
        standalone = question
        if history and cfg.rewrite_followups and llm is not None and llm_error is None:
            standalone, llm_error = self._rewrite(llm, question, history, num_ctx)
        base = Answer(
            question=question,
            standalone_query=standalone,
            mode="error",
            text="",
            hits=(),
            model=llm.model if llm else None,
        )
        try:
            hits = tuple(self.retrieve(standalone, cfg.top_k))
        except RagError as e:
            logger.warning("retrieval failed: %s", e)
            return AnswerStream(replace(base, error=f"Searching your documents failed: {e}", error_kind="retrieval"))
        base = replace(base, hits=hits)
        if not hits or max(relevance(h) for h in hits) < cfg.min_score:
            logger.info("nothing relevant enough for %r (threshold %.2f)", standalone, cfg.min_score)
            return AnswerStream(replace(base, mode="not_found", text=not_found_text(question)))
        evidence = self._evidence(standalone, hits) if cfg.evidence_gate else None
        if evidence is not None and evidence.lacking:
            reason = evidence.reason()
            logger.info("not found for %r: %s", standalone, reason)
            text = not_found_text(question, evidence)
            return AnswerStream(replace(base, mode="not_found", text=text, gate_reason=reason))
        if llm is None or isinstance(llm_error, LLMUnavailable):
            return AnswerStream(search_only(base, llm_error))
        if llm_error is not None:
            return AnswerStream(failed(base, llm_error))
        sources = self._sources(hits)
        plan = build_answer_prompt(standalone, sources, num_ctx, language=question_language(question))
        if not plan.sources:
            error = (
                f"The model's context window ({num_ctx} tokens) cannot hold even one source; "
                "set RAG_LLM_NUM_CTX higher."
            )
            return AnswerStream(replace(base, error=error, error_kind="context", num_ctx=num_ctx))
        if plan.dropped:
            logger.info("context window %d tokens: dropped %d of %d sources", num_ctx, plan.dropped, len(sources))
        tokens = llm.stream_chat(plan.messages, num_ctx=plan.num_ctx, num_predict=plan.num_predict)

        stream_chat = llm.stream_chat

        def again() -> TokenStream:
            return stream_chat(again_messages(plan.messages), num_ctx=plan.num_ctx, num_predict=plan.num_predict)

        return AnswerStream(base, tokens=tokens, plan=plan, again=again)

    def _evidence(self, query: str, hits: Sequence[Hit]) -> Evidence:
        """What of the query the hits (and their documents' openings) show; the hits alone if openings fail."""
        texts = [h.chunk.text for h in hits]
        if self.openings is not None:
            try:
                texts += self.openings(hits)
            except RagError as e:
                logger.warning("reading the documents' openings failed, judging by the hits alone: %s", e)
        return find_evidence(query, texts, [h.chunk.file_name for h in hits])

    def _sources(self, hits: tuple[Hit, ...]) -> tuple[Hit, ...]:
        """What the model reads: ``expand``'s sources, or the hits as found when there is none or it fails."""
        if self.expand is None:
            return hits
        try:
            return tuple(self.expand(hits)) or hits
        except RagError as e:  # the hits alone still answer: a worse context beats no answer
            logger.warning("reading the pages around the hits failed, sending the hits alone: %s", e)
            return hits

    def answer(self, question: str, history: Sequence[TurnLike] = ()) -> Answer:
        """``ask`` without streaming."""
        return self.ask(question, history).result()

    def _rewrite(
        self, llm: OllamaLLM, question: str, history: Sequence[TurnLike], num_ctx: int
    ) -> tuple[str, LLMError | None]:
        # Same num_ctx as the answer: a different value would make Ollama reload the model.
        try:
            reply = llm.complete(
                build_rewrite_messages(question, history), num_ctx=num_ctx, num_predict=_REWRITE_MAX_TOKENS
            )
        except LLMUnavailable as e:
            return question, e
        except LLMError as e:
            logger.warning("could not rewrite the follow-up, searching with it as asked: %s", e)
            return question, None
        standalone = clean_rewrite(reply, question, history)
        logger.info("rewrote %r as %r", question, standalone)
        return standalone, None


def record_exchange(
    history: ChatHistory,
    chat_id: str,
    answer: Answer,
    *,
    notes: Sequence[str] = (),
    question_id: int | None = None,
) -> None:
    """Store a question and its answer (sources, rewritten query, mode, failure marks) in one transaction;
    or, when the question was stored as it was asked (``question_id``), the answer alone, as its reply."""
    fields = {
        "sources": answer.sources(),
        "standalone_query": answer.standalone_query,
        "mode": answer.mode,
        "meta": {k: v for k, v in answer.outcome(notes).items() if v},
    }
    if question_id is not None:
        history.append_message(chat_id, "assistant", answer.text, reply_to=question_id, **fields)
        return
    history.append_exchange(chat_id, answer.question, answer.text, **fields)
