"""Heavy objects, built once per process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging
import threading

import streamlit as st

from rag.answer.history import ChatHistory
from rag.answer.llm import OllamaLLM
from rag.encoders.embedder import Embedder
from rag.encoders.loading import load_embedder
from rag.errors import LLMError
from rag.library import Library
from rag.settings import Settings
from ui.state.uploads import clean_stale_uploads

logger = logging.getLogger(__name__)


def settings() -> Settings:
    """Settings from the environment (cheap; read on every run so the caches below key on them)."""
    return Settings.from_env()


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


class DeferredEmbedder:
    """The embedder the settings name (sentence-transformers, torch or ONNX, or an Ollama model), loaded the
    first time something needs it, not before the first page is drawn: loading torch and the model took
    the whole cold start, with nothing on the page. A thread starts loading it at once, so it is usually
    ready by the first question or upload."""

    def __init__(self, config: Settings) -> None:
        self._config = config
        self._model: Embedder | None = None
        self._lock = threading.Lock()

    def get(self) -> Embedder:
        with self._lock:
            if self._model is None:
                self._model = load_embedder(self._config)
            return self._model

    def warm_up(self) -> None:
        try:
            self.get()
        except Exception as e:  # noqa: BLE001 - a thread has nobody to raise to; the first real use says it
            logger.warning("loading the embedding model in the background failed: %s", e)

    def __getattr__(self, name: str) -> object:  # everything else is the model's
        return getattr(self.get(), name)


@st.cache_resource(show_spinner="Opening the document library…", on_release=lambda lib: lib.close())
def library(config: Settings) -> Library:
    clean_stale_uploads(config.storage.data_dir)
    model = DeferredEmbedder(config)
    threading.Thread(target=model.warm_up, name="load-embedder", daemon=True).start()
    return Library(config, embedder=model)  # type: ignore[arg-type]  # stands in for the Embedder it loads


@st.cache_resource(show_spinner=False, on_release=lambda llm: llm.close())
def llm(host: str, model: str, timeout_s: float, seed: int | None = None) -> OllamaLLM:
    return OllamaLLM(host, model, timeout_s=timeout_s, seed=seed)


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
