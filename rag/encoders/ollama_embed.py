"""Embeddings from an Ollama server (``RAG_EMBEDDING_MODEL=ollama:<name>``), through the official client."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence

import httpx
import numpy as np
import ollama
import pydantic

from rag.answer.llm import CLIENT_ERRORS
from rag.encoders.embedder import OLLAMA_PREFIX, Embedder, _unit_rows, canonical_name, prefixes_for
from rag.errors import ConfigError, RagError

log = logging.getLogger(__name__)

# Ollama does not expose a model's tokenizer, so tokens are estimated from characters, as
# rag.answer.prompt.estimate_tokens does for the chat model: a piece is at most 3 ASCII letters or digits, or
# one other character (CJK, Hangul, accented letters, punctuation); white space is free. Embedding
# tokenizers (WordPiece, SentencePiece) read English at about 4-5 characters a token and Hangul at a
# syllable or more a token, so the estimate counts high: chunks come out a little smaller than the
# model allows, never larger. Pieces are spans of the text, so the chunker can cut at them.
_PIECE = re.compile(r"[A-Za-z0-9]{1,3}|[^\sA-Za-z0-9]")
# Chunks are about 200 tokens (RAG_CHUNK_TOKENS); a window past 512 would only let a large setting make
# chunks too long for good retrieval. Where the estimate falls short (an uncased WordPiece splits a
# Hangul syllable into jamo), the request's truncate=true cuts the input instead of failing it.
_MAX_WINDOW = 512
_SPECIAL_TOKENS = 2  # [CLS]/[SEP] or <s>/</s>, which the model's window also holds
_FALLBACK_WINDOW = 512  # when /api/show names no context length
# Ollama's English-only embedding models (their tokenizers split other scripts into lone letters).
_ENGLISH_ONLY = frozenset({"nomic-embed-text", "mxbai-embed-large", "all-minilm", "snowflake-arctic-embed"})


class EmbeddingError(RagError):
    """Ollama failed to embed texts (a server error, a timeout, a reply this app does not understand)."""


def is_ollama_model(name: str) -> bool:
    """Whether an embedding model name asks for Ollama (``ollama:<name>``)."""
    return name.strip().lower().startswith(OLLAMA_PREFIX)


def estimated_pieces(text: str) -> list[tuple[int, int]]:
    """Character spans of the estimated tokens of ``text`` (see ``_PIECE``)."""
    return [m.span() for m in _PIECE.finditer(text)]


def latin_share(text: str) -> float:
    """Share of a text's letters in Latin script (1.0 without letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ord(ch) < 0x250 for ch in letters) / len(letters) if letters else 1.0


class OllamaEmbedder(Embedder):
    """An Ollama embedding model; batches of ``batch_size`` texts go to ``/api/embed`` at ``host``."""

    def __init__(self, name: str, *, host: str, batch_size: int = 32, timeout_s: float = 300.0) -> None:
        model = name.strip()[len(OLLAMA_PREFIX) :].strip() if is_ollama_model(name) else name.strip()
        if not model:
            raise ConfigError("RAG_EMBEDDING_MODEL=ollama: needs a model name, e.g. ollama:bge-m3")
        self.name = canonical_name(OLLAMA_PREFIX + model)
        self.model = self.name[len(OLLAMA_PREFIX) :]
        self._given = model  # for messages: `ollama pull bge-m3` as the user wrote it
        self.host = host
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        # A dead host should fail fast; the long timeout covers loading the model and a batch on a CPU.
        self._client = ollama.Client(host=host, timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)))
        self.query_prefix, self.passage_prefix = prefixes_for(self.name)
        self.context_length = self._context_length()
        self.max_tokens = min(self.context_length, _MAX_WINDOW) - _SPECIAL_TOKENS
        self._english_only = self.model.rsplit("/", 1)[-1].split(":", 1)[0].lower() in _ENGLISH_ONLY
        self._dim: int | None = None
        log.info("Ollama embedding model %s at %s: context %d", self.model, host, self.context_length)

    @property
    def dim(self) -> int:
        """Vector length, from the first reply (one short request if nothing was embedded yet)."""
        if self._dim is None:
            self._embed([self.query_prefix + "dimension"])
        assert self._dim is not None
        return self._dim

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_PIECE.findall(t)) for t in texts]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return estimated_pieces(text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self.query_prefix + text])[0]

    def fit(self, text: str) -> float:
        """1.0, except the share of Latin letters for Ollama's English-only models (``_ENGLISH_ONLY``).

        Without the tokenizer the word-piece test of ``vocabulary_fit`` cannot run. A multilingual model
        such as bge-m3 reads Korean as well as English, and a model this list does not know is taken to
        read the documents it was chosen for; the English-only ones read other scripts as lone letters,
        as MiniLM does, so for such text the search leans on BM25 instead.
        """
        return latin_share(text) if self._english_only else 1.0

    def close(self) -> None:
        self._client.close()

    # -- talking to Ollama -------------------------------------------------------------------

    def _context_length(self) -> int:
        """The model's trained window from ``/api/show``; also checks that the model is installed."""
        try:
            shown = self._client.show(self.model)
        except CLIENT_ERRORS as e:
            raise self._error(e) from e
        length = _context_from(shown.modelinfo or {})
        if length is None:
            log.warning("Ollama names no context length for %s; assuming %d", self.model, _FALLBACK_WINDOW)
            return _FALLBACK_WINDOW
        return length

    def _embed(self, texts: list[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                reply = self._client.embed(model=self.model, input=batch, truncate=True)
                vectors = np.asarray(reply.embeddings, dtype=np.float32)
            except CLIENT_ERRORS as e:
                raise self._error(e) from e
            except ValueError as e:  # rows of different lengths, or values that are not numbers
                raise EmbeddingError(f"Ollama at {self.host} sent malformed embeddings for '{self.model}': {e}") from e
            if vectors.ndim != 2 or len(vectors) != len(batch) or vectors.shape[1] == 0:
                raise EmbeddingError(
                    f"Ollama at {self.host} sent {len(vectors)} embeddings of shape {vectors.shape} for "
                    f"{len(batch)} texts to '{self.model}'"
                )
            if self._dim is None:
                self._dim = int(vectors.shape[1])
            elif vectors.shape[1] != self._dim:
                raise EmbeddingError(
                    f"Ollama's '{self.model}' changed its vector length from {self._dim} to {vectors.shape[1]}"
                )
            # Ollama normalises already; the store reads dot products as cosines, so make sure of it.
            parts.append(_unit_rows(vectors))
        return np.vstack(parts)

    def _error(self, e: BaseException) -> RagError:
        """The project's error for a client or transport failure."""
        if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
            return ConfigError(
                f"Ollama is not reachable at {self.host} (OLLAMA_HOST) to embed with '{self.model}'. Start it with "
                "`ollama serve` (or open the Ollama app), set OLLAMA_HOST to the address where it runs, or choose "
                "a local embedding model in RAG_EMBEDDING_MODEL."
            )
        if isinstance(e, httpx.TimeoutException):
            return EmbeddingError(
                f"Ollama at {self.host} did not answer within {self.timeout_s:g} s while embedding with "
                f"'{self.model}'; the model may still be loading: try again."
            )
        if isinstance(e, ollama.ResponseError):
            if e.status_code == 404:
                return ConfigError(
                    f"The embedding model '{self._given}' is not installed in Ollama at {self.host}. Pull it with "
                    f"`ollama pull {self._given}`, or name an installed one in RAG_EMBEDDING_MODEL=ollama:<name>."
                )
            return EmbeddingError(
                f"Ollama returned an error embedding with '{self.model}': {e.error} (HTTP {e.status_code}). "
                "Ollama's own log (where `ollama serve` runs) says more."
            )
        if isinstance(e, (json.JSONDecodeError, pydantic.ValidationError)):
            return EmbeddingError(f"Ollama at {self.host} sent a reply this app does not understand: {e}")
        return EmbeddingError(f"Embedding with Ollama at {self.host} failed: {e}")


def _context_from(model_info: Mapping[str, object]) -> int | None:
    """``<architecture>.context_length`` from ``/api/show``'s model_info, or any ``*.context_length``."""
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length") if arch else None
    if value is None:
        value = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    return int(value) if isinstance(value, (int, float)) and value > 0 else None
