"""The embedder the settings name: a sentence-transformers model (torch or ONNX) or one served by Ollama.

Apart from the embedders themselves so that ``embedder.py`` need not import ``ollama_embed.py`` (which builds on
it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.settings import Settings
from rag.encoders.embedder import OLLAMA_PREFIX, Embedder, OnnxEmbedder, SentenceTransformerEmbedder


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (heavy: build once and pass it around)."""
    if settings.embedding.model.strip().lower().startswith(OLLAMA_PREFIX):
        from rag.encoders.ollama_embed import OllamaEmbedder  # the Ollama client is imported only when used

        return OllamaEmbedder(
            settings.embedding.model, host=settings.ollama.host, batch_size=settings.embedding.batch_size
        )
    if settings.embedding.backend == "torch":
        return SentenceTransformerEmbedder(
            settings.embedding.model, device=settings.embedding.device, batch_size=settings.embedding.batch_size
        )
    return OnnxEmbedder(
        settings.embedding.model,
        cache_dir=settings.storage.data_dir / "models",
        quantize=settings.embedding.backend == "onnx-int8",
        batch_size=settings.embedding.batch_size,
    )
