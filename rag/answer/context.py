"""The model's sources, one per retrieved page: the page's text around the best chunk, within a token budget.

Retrieval returns one chunk per page, often not the one that holds the answer (a page's short tail beside
the paragraph with the figures, a table's title and column titles without its rows). Each hit's page is
read again from the chunks around it, merged in reading order without the chunker's overlap or a table's
repeated title lines, and the sources share a token budget: the best-ranked pages get their context and
the lowest-ranked are dropped, rather than every page cut to a fragment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.answer.prompt import estimate_tokens, format_source
from rag.models import Chunk, Hit

#: chunk ids read around each hit (its page's chunks rarely reach further at 200 tokens a chunk)
WINDOW = 3
#: most tokens a page takes before the next-ranked page gets its turn: a chunk and a bit, so a short best chunk (a
#: page's tail, a table's title lines) gets its neighbour and a full one waits for what is left. bench/context.py:
#: 300 or 600 sent fewer answers at the same budget (600 sends fewer pages, and the page count decides most).
PAGE_TOKENS = 400
# Consecutive chunks repeat whole sentences or lines; a shorter shared run is a coincidence.
_MIN_OVERLAP_CHARS = 4
# A chunk that continues a table opens with at most the page heading and three lines above the table.
_MAX_CONTEXT_LINES = 6
_GAP = "\n…\n"
_SENTENCE_ENDS = set(".!?。！？\"'”’)]")

Fetch = Callable[[Sequence[str]], Sequence[Chunk]]


@dataclass(frozen=True)
class PageContext:
    """One retrieved page: its hit, and the page's chunks in the order they should be added."""

    hit: Hit
    preferred: tuple[Chunk, ...]


def neighbour_ids(hit: Hit, window: int = WINDOW) -> list[str]:
    """Chunk ids ``window`` positions either side of the hit's chunk (ids are ``doc_id:position``)."""
    c = hit.chunk
    return [f"{c.doc_id}:{p}" for p in range(max(0, c.position - window), c.position + window + 1) if p != c.position]


def covers(chunk: Chunk, page: int) -> bool:
    """Whether the chunk holds text of ``page`` (a short page may share a chunk with the next)."""
    return chunk.page <= page <= chunk.page_end


def preference(best: Chunk, others: Sequence[Chunk]) -> tuple[Chunk, ...]:
    """The best chunk, then the page's other chunks nearest first, the following one before the preceding.

    The following chunk first: a heading, an introduction or a table's column titles come before what
    they introduce. (Ranking the others by the question's words instead changed nothing measurable in
    bench/context.py, and a stray shared word can put a far chunk before the continuation.)
    """

    def rank(c: Chunk) -> tuple[int, int]:
        return (abs(c.position - best.position), 0 if c.position > best.position else 1)

    rest = sorted((c for c in others if c.chunk_id != best.chunk_id and c.doc_id == best.doc_id), key=rank)
    return (best, *rest)


def page_contexts(hits: Sequence[Hit], fetch: Fetch, *, window: int = WINDOW) -> list[PageContext]:
    """Each hit with the chunks of its page around it (one fetch for all), in the order to add them."""
    wanted = list(dict.fromkeys(i for h in hits for i in neighbour_ids(h, window)))
    by_id = {c.chunk_id: c for c in fetch(wanted)} if wanted else {}
    out = []
    for h in hits:
        around = [by_id[i] for i in neighbour_ids(h, window) if i in by_id]
        out.append(PageContext(h, preference(h.chunk, [c for c in around if covers(c, h.chunk.page)])))
    return out


def _ends_unit(text: str, at: int) -> bool:
    """Whether a chunker unit (a sentence or a line) can end at ``at``."""
    return at == len(text) or text[at] == "\n" or (text[at] == " " and text[at - 1] in _SENTENCE_ENDS)


def _starts_unit(text: str, at: int) -> bool:
    """Whether a chunker unit can start at ``at``."""
    return at == 0 or text[at - 1] == "\n" or (text[at - 1] == " " and at > 1 and text[at - 2] in _SENTENCE_ENDS)


def _overlap(merged: str, text: str) -> int:
    """Length of the longest start of ``text`` that ends ``merged``: whole sentences or lines, as the chunker
    carries them (a word that merely recurs, "Total" ending one chunk and "Total revenues" opening the next,
    is no overlap)."""
    for k in range(min(len(merged), len(text)), _MIN_OVERLAP_CHARS - 1, -1):
        if _ends_unit(text, k) and _starts_unit(merged, len(merged) - k) and merged.endswith(text[:k]):
            return k
    return 0


def _without_repeated_lines(merged: str, text: str) -> str:
    """``text`` without its opening lines that ``merged`` already holds (a table's repeated title lines)."""
    have = {line.strip() for line in merged.splitlines() if line.strip()}
    lines = text.split("\n")
    drop = 0
    while drop < min(len(lines) - 1, _MAX_CONTEXT_LINES) and lines[drop].strip() in have:
        drop += 1
    return "\n".join(lines[drop:])


def merge(chunks: Sequence[Chunk]) -> str:
    """The chunks' text in reading order, each shared overlap and repeated table context written once."""
    ordered = sorted(chunks, key=lambda c: c.position)
    merged = ordered[0].text.strip() if ordered else ""
    for prev, c in zip(ordered, ordered[1:]):
        text = c.text.strip()
        if c.position != prev.position + 1:  # a chunk between them was left out: say so
            merged += _GAP + _without_repeated_lines(merged, text).strip()
            continue
        # A chunk opens with the previous one's last sentences, or (continuing a table) with lines the
        # page already showed above: its heading and the column titles.
        cut = _overlap(merged, text)
        rest = text[cut:] if cut else _without_repeated_lines(merged, text)
        if not cut:
            rest = rest[_overlap(merged, rest) :]
        body = rest.lstrip()
        if body:
            # The chunk's own separator where the overlap ended (a line break, a space), else a new line.
            merged += (rest[: len(rest) - len(body)] or "\n") if cut else "\n"
            merged += body.rstrip()
    return merged


def source_hit(hit: Hit, chunks: Sequence[Chunk]) -> Hit:
    """The hit with its chunk's text replaced by the merged ``chunks``, its pages widened to theirs."""
    if len(chunks) <= 1:
        return hit
    first = min(chunks, key=lambda c: (c.page, c.position))
    confidences = [c.ocr_confidence for c in chunks if c.ocr and c.ocr_confidence is not None]
    chunk = replace(
        hit.chunk,
        text=merge(chunks),
        page=first.page,
        page_end=max(c.page_end for c in chunks),
        page_label=first.page_label,
        n_tokens=sum(c.n_tokens for c in chunks),
        ocr=any(c.ocr for c in chunks),
        ocr_confidence=min(confidences) if confidences else None,
    )
    return replace(hit, chunk=chunk)


def _cost(number: int, hit: Hit, chunks: Sequence[Chunk]) -> int:
    """Tokens the source takes in the prompt, counted as ``build_answer_prompt`` counts them."""
    return estimate_tokens(format_source(number, source_hit(hit, chunks))) + 1


def assemble(pages: Sequence[PageContext], budget: int, *, page_tokens: int = PAGE_TOKENS) -> list[Hit]:
    """Sources in rank order within ``budget`` tokens: each page gets up to ``page_tokens``, then what is left.

    A page whose best chunk no longer fits ends the list (a lower-ranked page never displaces a higher
    one); the best page is always kept, whole chunk, however long.
    """
    chosen: list[list[Chunk]] = []
    used = 0
    for number, page in enumerate(pages, start=1):
        best = [page.preferred[0]]
        cost = _cost(number, page.hit, best)
        if chosen and used + cost > budget:
            break
        picked, spent = _fill(number, page, best, cost, min(page_tokens, budget - used))
        chosen.append(picked)
        used += spent
    # Budget left when the next page did not fit: more of the pages already in, best-ranked first.
    for number, (page, picked) in enumerate(zip(pages, chosen), start=1):
        before = _cost(number, page.hit, picked)
        picked[:], spent = _fill(number, page, picked, before, before + budget - used)
        used += spent - before
    return [source_hit(page.hit, picked) for page, picked in zip(pages, chosen)]


def _fill(number: int, page: PageContext, picked: list[Chunk], cost: int, limit: int) -> tuple[list[Chunk], int]:
    """Add the page's chunks in preference order while the source stays within ``limit`` tokens.

    Only a chunk next to those taken: past one that does not fit, the source would read as fragments.
    """
    picked = list(picked)
    for c in page.preferred:
        positions = [p.position for p in picked]
        if c in picked or c.position not in (min(positions) - 1, max(positions) + 1):
            continue
        trial = _cost(number, page.hit, [*picked, c])
        if trial <= limit:
            picked, cost = [*picked, c], trial
    return picked, cost


def page_context(
    hits: Sequence[Hit],
    fetch: Fetch,
    budget: int,
    *,
    window: int = WINDOW,
    page_tokens: int = PAGE_TOKENS,
) -> list[Hit]:
    """The model's sources for ranked hits (one per page): each page's text around its hit, within ``budget``."""
    if not hits:
        return []
    return assemble(page_contexts(hits, fetch, window=window), budget, page_tokens=page_tokens)
