"""Search in a chosen mode that falls back a step, with a note, when the library cannot search that way."""

from __future__ import annotations

import logging
from typing import Protocol

from rag.errors import RagError
from rag.models import Hit
from rag.retrieve.modes import MODES, SearchMode

logger = logging.getLogger(__name__)


class Searches(Protocol):
    """What the fallback searches with (``Library``)."""

    def search(self, query: str, collection: str | None = None, k: int = 5, *, mode: str | None = None) -> list[Hit]:
        ...


class FallbackRetriever:
    """A chat's ``Retriever``: ``retrieve(query, k)`` over one collection in a search mode; when the library
    cannot search that way (no reranking model, a broken keyword index), it falls back a step (``MODES``), with
    a note, rather than fail."""

    def __init__(self, library: Searches, collection: str, *, mode: SearchMode = "hybrid") -> None:
        self.library = library
        self.collection = collection
        self.mode = mode
        self.notes: list[str] = []

    def __call__(self, query: str, k: int) -> list[Hit]:
        mode = self.mode
        while (fallback := _fallback(mode)) is not None:
            try:
                return self.library.search(query, self.collection, k, mode=mode)
            except RagError as e:
                logger.info("%s search unavailable, using %s: %s", mode, fallback, e)
                self.notes.append(f"{mode.capitalize()} search is not available ({e}); {fallback} search was used.")
                mode = fallback
        return self.library.search(query, self.collection, k, mode=mode)


def _fallback(mode: str) -> SearchMode | None:
    """The mode to try when ``mode`` cannot run; None for the last resort (and for an unknown mode, which the
    search itself refuses with the reason)."""
    info = MODES.get(mode)  # type: ignore[call-overload]
    return info.fallback if info is not None else None
