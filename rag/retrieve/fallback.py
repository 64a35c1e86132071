"""Search in a chosen mode that falls back a step, with a note, when the library cannot search that way."""

from __future__ import annotations

import logging

from rag.errors import RagError
from rag.models import Hit

logger = logging.getLogger(__name__)


class Retriever:
    """``retrieve(query, k)`` over one collection in a search mode; when the library cannot search that way
    (no reranking model, a broken keyword index), it falls back a step, with a note, rather than fail."""

    FALLBACK = {"hybrid+rerank": "hybrid", "hybrid": "dense", "lexical": "dense"}

    def __init__(self, library, collection: str, *, mode: str = "hybrid") -> None:
        self.library = library
        self.collection = collection
        self.mode = mode
        self.notes: list[str] = []

    def __call__(self, query: str, k: int) -> list[Hit]:
        mode = self.mode
        while (fallback := self.FALLBACK.get(mode)) is not None:
            try:
                return self.library.search(query, self.collection, k, mode=mode)
            except RagError as e:
                logger.info("%s search unavailable, using %s: %s", mode, fallback, e)
                self.notes.append(f"{mode.capitalize()} search is not available ({e}); {fallback} search was used.")
                mode = fallback
        return self.library.search(query, self.collection, k, mode=mode)
