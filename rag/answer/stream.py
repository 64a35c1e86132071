"""The answer as it streams: text deltas for the page or the terminal, then the checked ``Answer``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

from rag.answer.arithmetic import check_arithmetic
from rag.answer.citations import clean_citations, normalise_citations, only_pointers, parse_citations
from rag.answer.declined import declined_text, is_refusal
from rag.answer.llm import TokenStream
from rag.answer.prompt import PromptPlan
from rag.answer.repoint import repoint_citations
from rag.answer.result import Answer
from rag.answer.support import check_support, says_nothing_new
from rag.errors import LLMError, LLMTimeout, LLMUnavailable, ModelNotFound, StreamInterrupted
from rag.models import Hit

logger = logging.getLogger(__name__)

#: ``again()``: a new stream asking for the answer in words, after a reply that only pointed at sources
AskAgain = Callable[[], TokenStream]
#: Shown between a reply of source numbers only and the answer asked for after it.
AGAIN_SEPARATOR = "\n\n"

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
        again: AskAgain | None = None,
    ) -> None:
        self._base = base
        self._tokens = tokens
        self._plan = plan
        self._again = again
        self._asked_again = False
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
        first = ""  # a reply of source numbers only, kept should asking again bring nothing
        failure: LLMError | None = None
        stopped = True
        try:
            for delta in self._tokens:
                parts.append(delta)
                yield delta
            if self._again is not None and self._says_nothing("".join(parts)):
                # Small models sometimes reply "[1] [2]": asked once more, they mostly answer in words.
                first, parts = "".join(parts), []
                logger.info("the reply only pointed at sources (%r); asking for the answer in words", first)
                self._asked_again = True
                self._tokens = self._again()
                yield AGAIN_SEPARATOR
                for delta in self._tokens:
                    parts.append(delta)
                    yield delta
            stopped = False
        except LLMError as e:
            failure, stopped = e, False
            logger.warning("answer stream failed after %d characters: %s", len("".join(parts)), e)
        finally:
            if stopped:  # the reader closed us or something unexpected escaped
                self._answer = self._finish("".join(parts) or first, StreamInterrupted("the reader stopped early"))
        raw = "".join(parts)
        if first and not raw.strip():
            # Asking again brought no text, or failed before any: the first reply stands, complete as it was.
            self._answer = self._finish(first, None, done_reason="stop")
            return
        self._answer = self._finish(raw, failure)

    def _says_nothing(self, raw: str) -> bool:
        """Whether a complete reply says nothing (``says_nothing_new``): source numbers or copied headers only, or
        sentences that point at the sources in the question's words."""
        assert self._plan is not None and self._tokens is not None
        if self._tokens.done_reason == "length":
            return False
        text = clean_citations(normalise_citations(raw), len(self._plan.sources))
        # "The sources do not mention it" points in the question's words too, but it is an answer.
        return not is_refusal(text) and says_nothing_new(text, self._base.standalone_query or self._base.question)

    def _finish(self, raw: str, failure: LLMError | None, done_reason: str | None = None) -> Answer:
        base, plan = self._base, self._plan
        assert plan is not None and self._tokens is not None
        if failure is not None and not raw.strip():
            if isinstance(failure, LLMUnavailable):
                return search_only(base, failure)
            return failed(base, failure)
        n = len(plan.sources)
        normalised = normalise_citations(raw)  # <source id="3">, (source 3), 【3】 ... are citations too
        invalid = parse_citations(normalised, n).invalid
        text = clean_citations(normalised, n)
        cut_at_limit = failure is None and (done_reason or self._tokens.done_reason) == "length"
        error = str(failure) if failure else None
        if cut_at_limit:
            error = "The answer reached the length limit for this context window and was cut off."
        complete = failure is None and not cut_at_limit
        # The app words "not found" itself: the model's refusal may be in the wrong language or misleading.
        declined = complete and is_refusal(text)
        says_nothing = only_pointers(text)
        support, moves, calculations = None, (), ()
        if not declined:
            passages = {i: hit.chunk.text for i, hit in enumerate(plan.sources, start=1)}
            text, moves = repoint_citations(text, passages)
            support = check_support(text, passages, question=base.standalone_query or base.question)
            calculations = check_arithmetic(text)
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
            asked_again=self._asked_again,
            calculations=calculations,
            dropped_sources=plan.dropped,
            incomplete=failure is not None or cut_at_limit,
            error=error,
            error_kind=_error_kind(failure) if failure else ("length" if cut_at_limit else None),
            num_ctx=plan.num_ctx,
        )


def search_only(base: Answer, e: LLMError | None) -> Answer:
    reason = str(e) if e is not None else "No language model is configured."
    error = f"{reason} Showing the best passages from your documents instead."
    return replace(base, mode="search_only", text="", error=error, error_kind="unavailable")


def failed(base: Answer, e: LLMError) -> Answer:
    return replace(base, mode="error", text="", error=str(e), error_kind=_error_kind(e))
