"""Token-aware chunking that follows paragraphs and sentences and keeps track of pages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rag.encoders.embedder import Embedder
from rag.ingest.layout import table_context
from rag.models import Chunk, Page

# Sentence ends: full stops, question and exclamation marks (Latin, Korean "다. ", CJK) followed
# by white space; requiring the space keeps "3.5", "e.g.x" and footnote marks ("다.3)") whole.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’)\]]*\s+")
_MIN_TOKENS = 40  # a page shorter than this joins the next chunk rather than stand alone


@dataclass
class _Unit:
    text: str
    tokens: int
    page: int
    label: str
    sep: str  # what joins this unit to the one before it
    ocr: bool = False
    ocr_confidence: float | None = None
    #: what a chunk starting at this unit repeats to be read alone (a table's title and column headers)
    context: str = ""
    #: this unit is such a repeated context, not text of its own place
    repeated: bool = False


def _split_sentences(paragraph: str) -> list[str]:
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(paragraph):
        parts.append(paragraph[start : m.end()].strip())
        start = m.end()
    parts.append(paragraph[start:].strip())
    return [p for p in parts if p]


class Chunker:
    """Feeds on pages one at a time and emits chunks that never exceed the model window."""

    def __init__(
        self, embedder: Embedder, doc_id: str, file_name: str, *, max_tokens: int = 200, overlap: int = 32
    ) -> None:
        self.embedder = embedder
        self.doc_id = doc_id
        self.file_name = file_name
        # The model reads each chunk under its document's title (and its passage prefix): keep room for both.
        prefix = getattr(embedder, "passage_prefix", "") or ""
        reserve = embedder.count_tokens([prefix + document_title(file_name)])[0] + 1
        self.max_tokens = max(16, min(max_tokens, embedder.max_tokens - reserve))
        self.overlap = min(overlap, self.max_tokens // 2)
        self._units: list[_Unit] = []  # pending: too little text yet to stand as a chunk
        self._carried = 0  # how many of the pending units open with the previous chunk's overlap
        self._position = 0
        self._context_tokens: dict[str, int] = {}

    def _pieces(self, text: str) -> list[tuple[str, str]]:
        """(piece, separator) pairs, each piece a sentence or a line."""
        pieces: list[tuple[str, str]] = []
        for p_index, paragraph in enumerate(re.split(r"\n\s*\n", text)):
            for s_index, sentence in enumerate(_split_sentences(paragraph)):
                lines = [line for line in sentence.split("\n") if line.strip()]
                for l_index, line in enumerate(lines):
                    if l_index:
                        sep = "\n"
                    elif s_index:
                        sep = " "
                    else:
                        sep = "\n\n" if p_index else "\n"
                    pieces.append((line.strip(), sep))
        return pieces

    def _hard_split(self, text: str) -> list[str]:
        """Cut text that has no usable boundary at token boundaries."""
        offsets = self.embedder.token_offsets(text)
        out, step = [], self.max_tokens
        for i in range(0, len(offsets), step):
            window = offsets[i : i + step]
            out.append(text[window[0][0] : window[-1][1]])
        return [t for t in out if t.strip()]

    def _units_for(self, page: Page) -> list[_Unit]:
        pieces = self._pieces(page.text)
        counts = self.embedder.count_tokens([p for p, _ in pieces])
        contexts = table_context([p for p, _ in pieces])
        units: list[_Unit] = []
        for (text, sep), n, context in zip(pieces, counts, contexts):
            if n <= self.max_tokens:
                units.append(_Unit(text, n, page.index, page.label, sep, page.ocr, page.ocr_confidence, context))
                continue
            words = text.split(" ")
            if len(words) > 1:
                # Long line without sentence ends (tables, run-on text): cut between words.
                parts = self._pack_words(words)
            else:
                parts = self._hard_split(text)
            for j, part in enumerate(parts):
                n_part = self.embedder.count_tokens([part])[0]
                units.append(
                    _Unit(
                        part,
                        n_part,
                        page.index,
                        page.label,
                        sep if j == 0 else " ",
                        page.ocr,
                        page.ocr_confidence,
                        context,
                    )
                )
        return units

    def _pack_words(self, words: list[str]) -> list[str]:
        counts = self.embedder.count_tokens(words)
        parts, current, size = [], [], 0
        for word, n in zip(words, counts):
            if n > self.max_tokens:
                if current:
                    parts.append(" ".join(current))
                parts.extend(self._hard_split(word))
                current, size = [], 0
                continue
            if size + n > self.max_tokens and current:
                parts.append(" ".join(current))
                current, size = [], 0
            current.append(word)
            size += n
        if current:
            parts.append(" ".join(current))
        return parts

    def _make_chunk(self, units: list[_Unit], text: str, n_tokens: int) -> Chunk:
        confidences = [u.ocr_confidence for u in units if u.ocr and u.ocr_confidence is not None]
        chunk = Chunk(
            chunk_id=f"{self.doc_id}:{self._position}",
            doc_id=self.doc_id,
            file_name=self.file_name,
            position=self._position,
            page=units[0].page,
            page_end=units[-1].page,
            page_label=units[0].label,
            text=text,
            n_tokens=n_tokens,
            ocr=any(u.ocr for u in units),
            ocr_confidence=min(confidences) if confidences else None,
        )
        self._position += 1
        return chunk

    def _emit(self, units: list[_Unit], carried: int = 0) -> Iterator[Chunk]:
        """Chunks from units, re-counted exactly and split again if joining added tokens.

        The first ``carried`` units repeat the end of the previous chunk. When the exact count is
        over the limit they go first: split off, they would make chunks that only repeat that one.
        """
        # A repeated table context is whole lines: what follows it starts a line of its own.
        text = units[0].text + "".join(
            ("\n" if prev.repeated else u.sep) + u.text for prev, u in zip(units, units[1:])
        )
        exact = self.embedder.count_tokens([text])[0]
        if exact > self.max_tokens and len(units) > 1:
            if carried:
                yield from self._emit(units[1:], carried - 1)
                return
            half = len(units) // 2
            yield from self._emit(units[:half])
            yield from self._emit(units[half:])
            return
        yield self._make_chunk(units, text, exact)

    def _pack(self, units: list[_Unit], final: bool) -> Iterator[Chunk]:
        """Greedy packing of pending and new units into chunks, carrying ``overlap`` tokens forward."""
        current, carried = list(self._units), self._carried
        size = sum(u.tokens for u in current)
        for unit in units:
            if current and size + unit.tokens > self.max_tokens:
                yield from self._emit(current, carried)
                carry: list[_Unit] = []
                carried_tokens = 0
                for prev in reversed(current):
                    if carried_tokens + prev.tokens > self.overlap or prev.page != unit.page or prev.repeated:
                        break
                    carry.insert(0, prev)
                    carried_tokens += prev.tokens
                header = self._context_unit(unit)
                if header is not None:
                    # A chunk that continues a table opens with its title and column headers instead of
                    # the previous rows: without them its figures cannot be told apart.
                    carry, carried_tokens = [header], header.tokens
                # A large next unit leaves less room: keep the carried text closest to it, or none,
                # since a chunk over the limit would be split into pieces of overlap alone.
                while carry and carried_tokens + unit.tokens > self.max_tokens:
                    carried_tokens -= carry.pop(0).tokens
                current, size, carried = carry, carried_tokens, len(carry)
            current.append(unit)
            size += unit.tokens
        if current and (final or size >= _MIN_TOKENS):
            yield from self._emit(current, carried)
            current, carried = [], 0
        self._units, self._carried = current, carried

    def _context_unit(self, unit: _Unit) -> _Unit | None:
        """The repeated table context for a chunk that starts at ``unit``, if it fits beside it."""
        if not unit.context:
            return None
        tokens = self._context_tokens.get(unit.context)
        if tokens is None:
            tokens = self._context_tokens[unit.context] = self.embedder.count_tokens([unit.context])[0]
        if tokens > self.max_tokens // 3:  # a long "header" is more likely prose: repeat nothing
            return None
        return _Unit(
            unit.context, tokens, unit.page, unit.label, "\n", unit.ocr, unit.ocr_confidence, repeated=True
        )

    def add_page(self, page: Page) -> list[Chunk]:
        """Chunks completed by this page; a short page's text waits to join the next one."""
        if not page.text.strip():
            return []
        units = self._units_for(page)
        if not units:
            return []
        # Chunks stop at page ends so a hit points at one page, unless what is left is too small.
        return list(self._pack(units, final=False))

    def finish(self) -> list[Chunk]:
        """The last chunk of the document, if text is still pending."""
        if not self._units:
            return []
        return list(self._pack([], final=True))


_TITLE_MAX_CHARS = 100


def document_title(file_name: str) -> str:
    """A readable title from a file name: 'BOEING_2022_10K.pdf' -> 'BOEING 2022 10 K'."""
    stem = re.sub(r"\.pdf$", "", file_name.strip(), flags=re.IGNORECASE)
    title = re.sub(r"[_\-.]+", " ", stem)
    title = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", title)
    title = re.sub(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])", " ", title)
    return " ".join(title.split())[:_TITLE_MAX_CHARS]


def indexed_text(chunk: Chunk, title: bool = True) -> str:
    """What the retrievers see of a chunk: its text under its document's title.

    Chunks of filings and reports rarely name their company or period; the title (from the file
    name the user gave) lets "Boeing's 2022 tax rate" find Boeing's page rather than a similar page
    of another company. The stored and displayed text stays the chunk's own.
    """
    return f"{document_title(chunk.file_name)}\n{chunk.text}" if title else chunk.text


def chunk_pages(
    pages: Iterable[Page], embedder: Embedder, doc_id: str, file_name: str, *, max_tokens: int = 200, overlap: int = 32
) -> list[Chunk]:
    """All chunks of a document's pages (convenience for small documents and tests)."""
    chunker = Chunker(embedder, doc_id, file_name, max_tokens=max_tokens, overlap=overlap)
    out: list[Chunk] = []
    for page in pages:
        out.extend(chunker.add_page(page))
    out.extend(chunker.finish())
    return out
