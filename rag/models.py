"""Frozen result types passed between the library's parts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    """One page of extracted text; ``index`` is pypdf's 0-based page index."""

    index: int
    label: str
    text: str
    #: "ok", "empty" (no extractable text) or "garbled" (text layer looks like broken font encoding)
    quality: str = "ok"
    #: the text comes from OCR of the rendered page (found nothing when ``text`` is empty)
    ocr: bool = False
    #: mean word confidence of that OCR, 0-100; None when OCR found no words or did not run
    ocr_confidence: float | None = None


#: Ends the id of a document re-read with OCR: its bytes (and SHA-256) are those of the version it replaced.
REOCR_SUFFIX = "-ocr"


def content_hash(doc_id: str) -> str:
    """The SHA-256 of a document's bytes, from its id (the id itself, or it with ``REOCR_SUFFIX``)."""
    return doc_id.removesuffix(REOCR_SUFFIX)


def ocr_label(ocr: bool, confidence: float | None) -> str:
    """ "OCR 87%" for machine-read text (OCR's mean word confidence), "" for a real text layer."""
    if not ocr:
        return ""
    return f"OCR {confidence:.0f}%" if confidence is not None else "OCR"


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of one document, tracked to the page(s) it came from."""

    chunk_id: str
    doc_id: str
    file_name: str
    position: int
    page: int
    page_end: int
    page_label: str
    text: str
    n_tokens: int
    #: some of the text comes from OCR of page images
    ocr: bool = False
    #: the lowest mean OCR word confidence (0-100) of the chunk's OCR'd pages; None when not known
    ocr_confidence: float | None = None

    def metadata(self) -> dict[str, str | int | float | bool]:
        """Flat metadata as stored in Chroma (which has no null: an unknown confidence is left out)."""
        meta: dict[str, str | int | float | bool] = {
            "doc_id": self.doc_id,
            "file_name": self.file_name,
            "position": self.position,
            "page": self.page,
            "page_end": self.page_end,
            "page_label": self.page_label,
            "n_tokens": self.n_tokens,
            "ocr": self.ocr,
        }
        if self.ocr_confidence is not None:
            meta["ocr_confidence"] = float(self.ocr_confidence)
        return meta

    @classmethod
    def from_record(cls, chunk_id: str, text: str, meta: dict) -> Chunk:
        return cls(
            chunk_id=chunk_id,
            doc_id=str(meta["doc_id"]),
            file_name=str(meta["file_name"]),
            position=int(meta["position"]),
            page=int(meta["page"]),
            page_end=int(meta.get("page_end", meta["page"])),
            page_label=str(meta.get("page_label", "")),
            text=text,
            n_tokens=int(meta.get("n_tokens", 0)),
            ocr=bool(meta.get("ocr", False)),
            ocr_confidence=float(meta["ocr_confidence"]) if meta.get("ocr_confidence") is not None else None,
        )


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with the score of every retriever that found it.

    ``score`` is the score the final ranking used; the others are ``None`` when that
    retriever did not run or did not return this chunk. Ranks are 1-based.
    """

    chunk: Chunk
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    rerank_score: float | None = None
    #: the financial statement this page is, when it was placed for a question naming its items
    #: (``retrieve.statements``); None for a hit the retrievers ranked there
    statement: str | None = None

    def to_dict(self) -> dict:
        c = self.chunk
        return {
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "file_name": c.file_name,
            "page": c.page,
            "page_end": c.page_end,
            "page_label": c.page_label,
            "position": c.position,
            "score": self.score,
            "dense_score": self.dense_score,
            "dense_rank": self.dense_rank,
            "lexical_score": self.lexical_score,
            "lexical_rank": self.lexical_rank,
            "rerank_score": self.rerank_score,
            "statement": self.statement,
            "ocr": c.ocr,
            "ocr_confidence": c.ocr_confidence,
            "text": c.text,
        }


@dataclass(frozen=True)
class DocumentInfo:
    """A catalogue row: one document of one collection."""

    collection: str
    doc_id: str
    file_name: str
    sha256: str
    pages: int
    chunks: int
    size_bytes: int
    status: str
    ingested_at: str
    embedding_model: str
    warnings: tuple[str, ...] = ()
    #: pages whose text comes from OCR, and their mean word confidence (0-100; None when unknown)
    ocr_pages: int = 0
    ocr_confidence: float | None = None

    @property
    def ocr_summary(self) -> str:
        """ "3 p. · OCR 87%" for a document with OCR'd pages, "" for one without."""
        return f"{self.ocr_pages} p. · {ocr_label(True, self.ocr_confidence)}" if self.ocr_pages else ""


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of an ingest batch."""

    path: str
    file_name: str
    status: str  # "ingested", "replaced", "duplicate", "failed"
    doc_id: str | None = None
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    reason: str | None = None
    error_kind: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    replaced_doc_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ingested", "replaced", "duplicate")
