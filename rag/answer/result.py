"""What a question came to: the ``Answer`` (text, numbered sources, marks) and a conversation's ``Turn``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rag.answer.arithmetic import Calculation
from rag.answer.repoint import CitationMove
from rag.answer.support import SupportReport
from rag.models import Hit

#: How a question ended (``Answer.mode``): answered, gated as not found, passages only, or failed.
AnswerOutcome = Literal["answer", "not_found", "search_only", "error"]


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
    #: The first reply only pointed at sources ("[1] [2]"), so the model was asked once more for words.
    asked_again: bool = False
    #: Calculations the answer writes out ("a / b = c"), each worked out again by the app.
    calculations: tuple[Calculation, ...] = ()

    @property
    def wrong_arithmetic(self) -> list[str]:
        """A note for each written calculation whose result is not what its expression comes to."""
        return [c.note() for c in self.calculations if not c.correct]

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
            "asked_again": self.asked_again,
            "wrong_arithmetic": self.wrong_arithmetic,
        }
