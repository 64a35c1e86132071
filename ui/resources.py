"""Heavy objects, built once per process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from rag.chat import ChatConfig
from rag.embedder import Embedder, load_embedder
from rag.errors import LLMError
from rag.history import ChatHistory
from rag.library import Library
from rag.llm import OllamaLLM
from rag.settings import Settings
from rag.uploads import clean_stale_uploads

logger = logging.getLogger(__name__)


def settings() -> Settings:
    """Settings from the environment (cheap; read on every run so the caches below key on them)."""
    return Settings.from_env()


def chat_config() -> ChatConfig:
    return ChatConfig.from_env()


@st.cache_resource(show_spinner=False)
def favicon():
    """The tab icon, drawn here: an icon by name (":material/...:") would be fetched from Google's servers."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, 60, 60), radius=12, fill=(37, 99, 235, 255))
    draw.polygon([(20, 14), (38, 14), (46, 22), (46, 50), (20, 50)], fill=(255, 255, 255, 255))
    for y in (28, 35, 42):
        draw.line((25, y, 41, y), fill=(37, 99, 235, 255), width=3)
    return image


@st.cache_resource(show_spinner="Loading the embedding model (first start only)…")
def embedder(config: Settings) -> Embedder:
    """The embedder the settings name: sentence-transformers (torch or ONNX) or an Ollama model."""
    return load_embedder(config)


@st.cache_resource(show_spinner="Opening the document library…", on_release=lambda lib: lib.close())
def library(config: Settings) -> Library:
    clean_stale_uploads(config.data_dir)
    model = embedder(config)
    return Library(config, embedder=model)


@st.cache_resource(show_spinner=False, on_release=lambda llm: llm.close())
def llm(host: str, model: str, timeout_s: float) -> OllamaLLM:
    return OllamaLLM(host, model, timeout_s=timeout_s)


@st.cache_resource(show_spinner=False)
def history(path: str) -> ChatHistory:
    return ChatHistory(path)


@st.cache_data(ttl=15, show_spinner=False)
def ollama_models(host: str) -> tuple[bool, list[str], str | None]:
    """(reachable, installed model names, error) for the status line and the model picker."""
    probe = OllamaLLM(host, "probe", timeout_s=5.0)
    try:
        if not probe.is_available(timeout_s=1.5):
            return False, [], None
        return True, [m.name for m in probe.list_models()], None
    except LLMError as e:
        logger.warning("listing Ollama models failed: %s", e)
        return True, [], str(e)
    finally:
        probe.close()
