"""Chat orchestration: rewrite, retrieve, gate on relevance, prompt, stream, cite; failures degrade."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from rag.answer.citations import clean_citations, normalise_citations, only_pointers, parse_citations
from rag.answer.declined import declined_text, is_refusal, not_found_text
from rag.answer.evidence import Evidence, find_evidence
from rag.answer.history import ChatHistory
from rag.answer.language import question_language
from rag.answer.llm import OllamaLLM, TokenStream
from rag.answer.prompt import (
    PromptPlan,
    TurnLike,
    build_answer_prompt,
    build_rewrite_messages,
    clean_rewrite,
)
from rag.answer.repoint import CitationMove, repoint_citations
from rag.answer.support import SupportReport, check_support
from rag.errors import LLMError, LLMTimeout, LLMUnavailable, ModelNotFound, RagError, StreamInterrupted
from rag.models import Hit
from rag.settings import AnswerSettings

logger = logging.getLogger(__name__)

#: ``retrieve(query, k)``: the ranked hits for a query (``Library.retriever``: the chat's search mode, with fallback)
Retriever = Callable[[str, int], list[Hit]]
#: ``expand(hits)``: the model's sources made from the ranked hits (``Library.expander``: each hit's page context)
Expander = Callable[[Sequence[Hit]], list[Hit]]
#: ``openings(hits)``: the opening text of each hit's document (``Library.openings``: its first chunks), where
#: a filing or report names its company, ministry or product when its body pages say "we" or "the Company"
Openings = Callable[[Sequence[Hit]], list[str]]
#: How a question ended (``Answer.mode``): answered, gated as not found, passages only, or failed.
AnswerOutcome = Literal["answer", "not_found", "search_only", "error"]

# Enough for one rewritten question; keeps a rambling model from running on.
_REWRITE_MAX_TOKENS = 96


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class Answer:
    """The final result of one question.

    ``hits`` are the numbered sources ([1] is ``hits[0]``) in answer mode, and the nearest passages
    otherwise. ``text`` has near-miss citations rewritten as [n] and those of numbers never given removed.
    ``declined``: the model said the sources do not hold the answer; ``text`` is then the app's own
    not-found wording in the question's language. ``support``: each citation checked against its source,
    after ``moved_citations`` pointed a sentence's citation at the source holding its figures.
    """

    question: str
    standalone_query: str
    mode: AnswerOutcome
    text: str
    hits: tuple[Hit, ...]
    cited: tuple[int, ...] = ()
    invalid_citations: tuple[int, ...] = ()
    uncited: bool = False
    dropped_sources: int = 0
    incomplete: bool = False
    error: str | None = None
    #: "unavailable", "model_not_found", "timeout", "interrupted", "llm", "retrieval", "context"
    error_kind: str | None = None
    model: str | None = None
    num_ctx: int | None = None
    declined: bool = False
    support: SupportReport | None = None
    #: Why the not-found gate stopped the question ("no passage names Boeing"); None when it did not.
    gate_reason: str | None = None
    #: The model's complete reply said nothing of its own: no text, or only markers and copied source headers.
    pointers_only: bool = False
    #: Citations the app moved: the model cited a source without the sentence's figures, another holds them.
    moved_citations: tuple[CitationMove, ...] = ()

    @property
    def cited_hits(self) -> list[tuple[int, Hit]]:
        return [(n, self.hits[n - 1]) for n in self.cited if 0 < n <= len(self.hits)]

    def sources(self) -> list[dict]:
        """JSON-ready numbered sources, as stored in the chat history; a cited one carries its support mark
        ("supported", "not_found", "partly") and the figures cited to it that it lacks."""
        marks = self.support.source_marks() if self.support is not None else {}
        out = []
        for n, hit in enumerate(self.hits, start=1):
            source = {"n": n, "cited": n in self.cited, **hit.to_dict()}
            if n in marks:
                source["support"] = marks[n]
                source["missing_numbers"] = list(self.support.missing_for(n)) if self.support else []
            out.append(source)
        return out

    def outcome(self, notes: Sequence[str] = ()) -> dict:
        """How the answer went (failure, marks, model, notes), as the UI and the chat history keep it."""
        return {
            "error": self.error,
            "error_kind": self.error_kind,
            "incomplete": self.incomplete,
            "uncited": self.uncited,
            "declined": self.declined,
            "dropped_sources": self.dropped_sources,
            "model": self.model,
            "notes": list(notes),
            "unsupported_numbers": list(self.support.unsupported_numbers) if self.support else [],
            "support_rate": self.support.support_rate if self.support else None,
            "gate_reason": self.gate_reason,
            "pointers_only": self.pointers_only,
            "moved_citations": [move.note() for move in self.moved_citations],
        }


def relevance(hit: Hit) -> float:
    """The score the not-found gate compares with ``min_score``.

    The dense cosine similarity when the hit has one: fused or reranked final scores (e.g. reciprocal
    rank fusion, ~0.03) are not on a scale a fixed threshold means anything for.
    """
    return hit.dense_score if hit.dense_score is not None else hit.score


_ERROR_KINDS: tuple[tuple[type[LLMError], str], ...] = (
    (LLMUnavailable, "unavailable"),
    (ModelNotFound, "model_not_found"),
    (LLMTimeout, "timeout"),
    (StreamInterrupted, "interrupted"),
)


def _error_kind(e: LLMError) -> str:
    return next((kind for cls, kind in _ERROR_KINDS if isinstance(e, cls)), "llm")


class AnswerStream:
    """Iterate for text deltas (``st.write_stream`` or a CLI); then ``result()`` is the final Answer.

    ``hits`` and ``standalone_query`` are known before iteration, so sources can be shown early.
    """

    def __init__(
        self,
        base: Answer,
        *,
        tokens: TokenStream | None = None,
        plan: PromptPlan | None = None,
    ) -> None:
        self._base = base
        self._tokens = tokens
        self._plan = plan
        self._answer: Answer | None = None if tokens is not None else base
        self._gen = self._run()
        self.question = base.question
        self.standalone_query = base.standalone_query
        self.hits: tuple[Hit, ...] = plan.sources if plan is not None else base.hits

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def result(self) -> Answer:
        """The final Answer, consuming whatever has not been read yet."""
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer

    @property
    def answer(self) -> Answer:
        return self.result()

    def close(self) -> None:
        """Stop reading (a stop button); the text so far is kept and the answer marked incomplete."""
        self._gen.close()
        if self._answer is None:  # closed before the first token: the generator never ran its finally
            self._answer = self._finish("", StreamInterrupted("the reader stopped before the answer began"))

    def _run(self) -> Iterator[str]:
        if self._tokens is None:
            if self._base.text:
                yield self._base.text
            return
        parts: list[str] = []
        failure: LLMError | None = None
        stopped = True
        try:
            for delta in self._tokens:
                parts.append(delta)
                yield delta
            stopped = False
        except LLMError as e:
            failure, stopped = e, False
            logger.warning("answer stream failed after %d characters: %s", len("".join(parts)), e)
        finally:
            if stopped:  # the reader closed us or something unexpected escaped
                self._answer = self._finish("".join(parts), StreamInterrupted("the reader stopped early"))
        self._answer = self._finish("".join(parts), failure)

    def _finish(self, raw: str, failure: LLMError | None) -> Answer:
        base, plan = self._base, self._plan
        assert plan is not None and self._tokens is not None
        if failure is not None and not raw.strip():
            if isinstance(failure, LLMUnavailable):
                return _search_only(base, failure)
            return _failed(base, failure)
        n = len(plan.sources)
        normalised = normalise_citations(raw)  # <source id="3">, (source 3), 【3】 ... are citations too
        invalid = parse_citations(normalised, n).invalid
        text = clean_citations(normalised, n)
        cut_at_limit = failure is None and self._tokens.done_reason == "length"
        error = str(failure) if failure else None
        if cut_at_limit:
            error = "The answer reached the length limit for this context window and was cut off."
        complete = failure is None and not cut_at_limit
        # The app words "not found" itself: the model's refusal may be in the wrong language or misleading.
        declined = complete and is_refusal(text)
        says_nothing = only_pointers(text)
        support, moves = None, ()
        if not declined:
            passages = {i: hit.chunk.text for i, hit in enumerate(plan.sources, start=1)}
            text, moves = repoint_citations(text, passages)
            support = check_support(text, passages, question=base.standalone_query or base.question)
        report = parse_citations(text, n)
        return replace(
            base,
            mode="answer",
            text=declined_text(base.question) if declined else text,
            hits=plan.sources,
            cited=() if declined else report.cited,
            invalid_citations=invalid,
            uncited=report.uncited and not says_nothing and not declined,
            declined=declined,
            pointers_only=complete and not declined and says_nothing,
            support=support,
            moved_citations=moves,
            dropped_sources=plan.dropped,
            incomplete=failure is not None or cut_at_limit,
            error=error,
            error_kind=_error_kind(failure) if failure else ("length" if cut_at_limit else None),
            num_ctx=plan.num_ctx,
        )


def _search_only(base: Answer, e: LLMError | None) -> Answer:
    reason = str(e) if e is not None else "No language model is configured."
    error = f"{reason} Showing the best passages from your documents instead."
    return replace(base, mode="search_only", text="", error=error, error_kind="unavailable")


def _failed(base: Answer, e: LLMError) -> Answer:
    return replace(base, mode="error", text="", error=str(e), error_kind=_error_kind(e))


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
            return AnswerStream(_search_only(base, llm_error))
        if llm_error is not None:
            return AnswerStream(_failed(base, llm_error))
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
        return AnswerStream(base, tokens=tokens, plan=plan)

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
