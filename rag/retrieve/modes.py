"""Search modes, defined once: the settings check them, the CLI offers them, the sidebar labels them, and the
fallback steps down through them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

SearchMode = Literal["hybrid", "dense", "lexical", "hybrid+rerank"]


@dataclass(frozen=True)
class ModeInfo:
    """What a search mode is to its users: its label in the sidebar, whether it needs the cross-encoder
    (RAG_RERANK_MODEL), and the mode used instead when it cannot run (None: nothing simpler to fall back to)."""

    label: str
    reranks: bool
    fallback: SearchMode | None


#: Every search mode, in the order messages and ``--help`` list them.
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)
MODES: dict[SearchMode, ModeInfo] = {
    "hybrid": ModeInfo("Hybrid: keywords + meaning", reranks=False, fallback="dense"),
    "dense": ModeInfo("Meaning only (semantic)", reranks=False, fallback=None),
    "lexical": ModeInfo("Keywords only (BM25)", reranks=False, fallback="dense"),
    "hybrid+rerank": ModeInfo("Hybrid, then reranked", reranks=True, fallback="hybrid"),
}


def offered_modes(search_mode: str, rerank_model: str) -> list[SearchMode]:
    """The search modes a user can pick: reranking only with a model; the configured mode first, then
    reranking (the default when a model is set) before the plain modes."""
    modes = [m for m in SEARCH_MODES if not MODES[m].reranks or rerank_model]
    return sorted(modes, key=lambda m: (m != search_mode, not MODES[m].reranks))
