"""One settings object, read from environment variables with defaults (see README)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, get_args

from rag.errors import ConfigError
from rag.retrieve.modes import SEARCH_MODES, SearchMode

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from e
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from e
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _env(name, "1" if default else "0").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


#: How pages are OCR'd: "auto" (pages with no or garbled text), "force" (every page), "off". Defined here, not in
#: ingest/ocr.py, so reading settings imports no part of the pipeline.
OcrMode = Literal["auto", "off", "force"]
OCR_MODES: tuple[OcrMode, ...] = get_args(OcrMode)
DEFAULT_OCR_LANGS = "kor+eng"
_LANG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def split_langs(langs: str) -> tuple[str, ...]:
    """Tesseract's ``eng+kor`` as ``("eng", "kor")``, order kept, duplicates dropped; raises on bad names."""
    out: list[str] = []
    for part in langs.replace(",", "+").split("+"):
        part = part.strip()
        if not part:
            continue
        if not _LANG.match(part):
            raise ValueError(f"not a Tesseract language name: {part!r}")
        if part not in out:
            out.append(part)
    if not out:
        raise ValueError("no OCR language given")
    return tuple(out)


def _ollama_host(value: str) -> str:
    """OLLAMA_HOST as Ollama itself accepts it (``host``, ``host:port``, ``http[s]://host[:port]``), checked."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value if "://" in value else f"http://{value}")
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError as e:
        raise ConfigError(f"OLLAMA_HOST is not a valid address ({value!r}: {e}); e.g. http://localhost:11434") from e
    if parts.scheme not in ("http", "https") or not (parts.hostname or value.startswith(":")):  # ":11434": local
        raise ConfigError(f"OLLAMA_HOST is not a valid address ({value!r}); e.g. http://localhost:11434")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    collection: str
    embedding_model: str
    device: str
    embed_backend: str
    chunk_tokens: int
    chunk_overlap: int
    embed_batch_size: int
    workers: int
    page_timeout_s: float
    file_timeout_s: float
    worker_memory_mb: int
    max_pages: int
    max_file_mb: int
    garbled_pages: str
    keep_originals: bool
    ollama_host: str
    llm_model: str
    search_mode: SearchMode
    rrf_k: int
    lexical_weight: float
    doc_weight: float
    max_per_page: int
    title_header: bool
    pdf_engine: str
    chroma_host: str
    chroma_port: int
    chroma_ssl: bool
    chroma_token: str
    chroma_database: str
    # OCR of pages without a usable text layer (rag/ingest/ocr.py); defaults so older callers keep working.
    ocr: OcrMode = "auto"
    ocr_langs: str = DEFAULT_OCR_LANGS
    ocr_page_timeout_s: float = 60.0
    ocr_dpi: int = 300
    tesseract_cmd: str = ""
    # Cross-encoder reranking (rag/encoders/rerank.py): off while no model is named.
    rerank_model: str = ""
    rerank_top_n: int = 30
    # Tokens of page context the model's sources share (rag/answer/context.py; 0: the hits' own chunks, as found).
    context_tokens: int = 1400

    @classmethod
    def from_env(cls) -> Settings:
        garbled = _env("RAG_GARBLED_PAGES", "skip").lower()
        if garbled not in ("skip", "keep"):
            raise ConfigError(f"RAG_GARBLED_PAGES must be 'skip' or 'keep', got {garbled!r}")
        rerank_model = _env("RAG_RERANK_MODEL", "")
        mode = _env("RAG_SEARCH_MODE", "hybrid+rerank" if rerank_model else "hybrid").lower()
        if mode not in SEARCH_MODES:
            raise ConfigError(f"RAG_SEARCH_MODE must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        if mode == "hybrid+rerank" and not rerank_model:
            raise ConfigError("RAG_SEARCH_MODE=hybrid+rerank needs a reranking model in RAG_RERANK_MODEL")
        engine = _env("RAG_PDF_ENGINE", "pypdf").lower()
        if engine not in ("pypdf", "pdfium"):
            raise ConfigError(f"RAG_PDF_ENGINE must be pypdf or pdfium, got {engine!r}")
        backend = _env("RAG_EMBED_BACKEND", "torch").lower()
        if backend not in ("torch", "onnx", "onnx-int8"):
            raise ConfigError(f"RAG_EMBED_BACKEND must be torch, onnx or onnx-int8, got {backend!r}")
        ocr = _env("RAG_OCR", "auto").lower()
        if ocr not in OCR_MODES:
            raise ConfigError(f"RAG_OCR must be auto, off or force, got {ocr!r}")
        ocr_langs = _env("RAG_OCR_LANGS", DEFAULT_OCR_LANGS)
        try:
            ocr_langs = "+".join(split_langs(ocr_langs))
        except ValueError as e:
            raise ConfigError(f"RAG_OCR_LANGS must be Tesseract languages joined by '+' (like kor+eng): {e}") from e
        ocr_dpi = _int("RAG_OCR_DPI", 300, minimum=72)
        if ocr_dpi > 1200:
            raise ConfigError(f"RAG_OCR_DPI must be at most 1200, got {ocr_dpi}")
        settings = cls(
            data_dir=Path(_env("RAG_DATA_DIR", "data")).expanduser(),
            collection=_env("RAG_COLLECTION", "documents"),
            embedding_model=_env("RAG_EMBEDDING_MODEL", DEFAULT_MODEL),
            device=_env("RAG_DEVICE", "cpu"),
            embed_backend=backend,
            chunk_tokens=_int("RAG_CHUNK_TOKENS", 200, minimum=16),
            chunk_overlap=_int("RAG_CHUNK_OVERLAP", 32),
            embed_batch_size=_int("RAG_EMBED_BATCH", 32, minimum=1),
            workers=_int("RAG_WORKERS", min(2, os.cpu_count() or 1), minimum=1),
            page_timeout_s=_float("RAG_PAGE_TIMEOUT", 5.0, minimum=0.1),
            file_timeout_s=_float("RAG_FILE_TIMEOUT", 900.0, minimum=0.1),
            worker_memory_mb=_int("RAG_WORKER_MEMORY_MB", 1536, minimum=64),
            max_pages=_int("RAG_MAX_PAGES", 5000, minimum=1),
            max_file_mb=_int("RAG_MAX_FILE_MB", 200, minimum=1),
            garbled_pages=garbled,
            keep_originals=_bool("RAG_KEEP_ORIGINALS", True),
            ollama_host=_ollama_host(_env("OLLAMA_HOST", "http://localhost:11434")),
            llm_model=_env("RAG_LLM_MODEL", "llama3.2"),
            search_mode=mode,
            rrf_k=_int("RAG_RRF_K", 60, minimum=1),
            lexical_weight=_float("RAG_LEXICAL_WEIGHT", 0.0, minimum=0.0),
            doc_weight=_float("RAG_DOC_WEIGHT", 0.3, minimum=0.0),
            max_per_page=_int("RAG_MAX_PER_PAGE", 1),
            title_header=_bool("RAG_TITLE_HEADER", True),
            pdf_engine=engine,
            chroma_host=_env("CHROMA_HOST", ""),
            chroma_port=_int("CHROMA_PORT", 8000, minimum=1),
            chroma_ssl=_bool("CHROMA_SSL", False),
            chroma_token=_env("CHROMA_AUTH_TOKEN", ""),
            chroma_database=_env("RAG_CHROMA_DATABASE", "default_database"),
            ocr=ocr,
            ocr_langs=ocr_langs,
            ocr_page_timeout_s=_float("RAG_OCR_PAGE_TIMEOUT", 60.0, minimum=1.0),
            ocr_dpi=ocr_dpi,
            tesseract_cmd=_env("RAG_TESSERACT_CMD", ""),
            rerank_model=rerank_model,
            rerank_top_n=_int("RAG_RERANK_TOP_N", 30, minimum=1),
            context_tokens=_int("RAG_CONTEXT_TOKENS", 1400),
        )
        if settings.chunk_overlap >= settings.chunk_tokens:
            raise ConfigError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_TOKENS")
        return settings

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (for tests and CLI flags)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def lexical_dir(self) -> Path:
        return self.data_dir / "lexical"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"
