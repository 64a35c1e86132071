"""The local language model, through the official Ollama client; its failures become LLMError."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
import ollama
import pydantic

from rag.errors import LLMError, LLMTimeout, LLMUnavailable, ModelNotFound, StreamInterrupted
from rag.settings import Settings

logger = logging.getLogger(__name__)

# Used when the server tells us nothing about the window; every current model handles 4096.
FALLBACK_NUM_CTX = 4096
_NUM_CTX_PARAM = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
# Exceptions the client (or httpx under it, which it does not wrap while streaming) lets through.
CLIENT_ERRORS = (
    ollama.ResponseError,
    ollama.RequestError,
    httpx.HTTPError,
    ConnectionError,
    json.JSONDecodeError,
    pydantic.ValidationError,
)


@dataclass(frozen=True)
class ModelInfo:
    """One installed model, for a picker."""

    name: str
    size_bytes: int
    modified_at: datetime | None
    family: str | None
    parameter_size: str | None
    quantization: str | None


@dataclass(frozen=True)
class PullProgress:
    """One progress line of ``ollama pull``; ``completed``/``total`` are bytes of the current layer."""

    status: str
    digest: str | None = None
    completed: int | None = None
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total or self.completed is None:
            return None
        return min(1.0, self.completed / self.total)

    @property
    def done(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True)
class ContextInfo:
    """What the server says about a model's window: trained maximum and Modelfile ``num_ctx``."""

    trained: int | None
    configured: int | None

    def window(self, override: int = 0, cap: int = 8192) -> int:
        """The ``num_ctx`` to plan for and send.

        An explicit override wins, then the Modelfile's num_ctx; the trained maximum is capped
        because Ollama allocates the whole window up front (131072 tokens would exhaust most RAM).
        """
        if override > 0:
            chosen = override
        elif self.configured:
            chosen = self.configured
        elif self.trained:
            chosen = min(self.trained, cap)
        else:
            chosen = FALLBACK_NUM_CTX
        return min(chosen, self.trained) if self.trained else chosen


def normalise_model_name(name: str) -> str:
    """Ollama's canonical name: an untagged name means ``:latest``."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class TokenStream:
    """Text deltas of one streamed chat; after iteration ``done_reason`` says why it stopped."""

    def __init__(self, llm: OllamaLLM, parts: Iterator[ollama.ChatResponse], model: str) -> None:
        self._llm = llm
        self._parts = parts
        self.model = model
        self.done_reason: str | None = None
        self.eval_count: int | None = None
        #: the prompt's length in the model's own tokens, as the server counted it (after the stream)
        self.prompt_eval_count: int | None = None
        self.received = False

    def __iter__(self) -> Iterator[str]:
        finished = False
        try:
            for part in self._parts:
                delta = part.message.content or ""
                if delta:
                    self.received = True
                    yield delta
                if part.done:
                    finished = True
                    self.done_reason = part.done_reason
                    self.eval_count = part.eval_count
                    self.prompt_eval_count = part.prompt_eval_count
        except CLIENT_ERRORS as e:
            raise self._llm.map_error(e, self.model, streaming=self.received) from e
        if not finished:
            raise StreamInterrupted("the server ended the stream before it was done")


class OllamaLLM:
    """One Ollama server and model. Thread-safe: the underlying httpx client pools connections."""

    def __init__(self, host: str, model: str, *, timeout_s: float = 120.0, seed: int | None = None) -> None:
        self.host = host
        self.model = model
        self.timeout_s = timeout_s
        self.seed = seed
        # A dead host should fail fast; the long timeout is for the model loading and thinking.
        timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self._client = ollama.Client(host=host, timeout=timeout)
        self._contexts: dict[str, ContextInfo] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_s: float = 120.0) -> OllamaLLM:
        return cls(settings.ollama.host, settings.ollama.model, timeout_s=timeout_s, seed=settings.ollama.seed)

    def with_model(self, model: str) -> OllamaLLM:
        """The same server with another model (for the model picker)."""
        return OllamaLLM(self.host, model, timeout_s=self.timeout_s, seed=self.seed)

    def map_error(self, e: BaseException, model: str, *, streaming: bool = False) -> LLMError:
        """Translate a client/transport failure into the project's LLMError family."""
        if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
            return LLMUnavailable(self.host)
        if isinstance(e, httpx.TimeoutException):
            return LLMTimeout(self.timeout_s)
        if isinstance(e, ollama.ResponseError):
            if e.status_code == 404:
                return ModelNotFound(model)
            if streaming or e.status_code == -1:
                return StreamInterrupted(f"Ollama reported: {e.error}")
            return LLMError(
                f"Ollama returned an error for model '{model}': {e.error} (HTTP {e.status_code}). Ollama's own log"
                " (where `ollama serve` runs) says more; a model too large for this machine's memory fails this"
                " way: pick a smaller one."
            )
        if isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError)):
            return StreamInterrupted("the connection closed mid-answer")
        if isinstance(e, (json.JSONDecodeError, pydantic.ValidationError)):
            return LLMError(f"Ollama at {self.host} sent a reply this app does not understand: {e}")
        return LLMError(f"Talking to Ollama at {self.host} failed: {e}")

    def is_available(self, timeout_s: float = 1.0) -> bool:
        """True when a server answers at the host within ``timeout_s``."""
        try:
            with ollama.Client(host=self.host, timeout=timeout_s) as probe:
                probe.list()
        except CLIENT_ERRORS as e:
            logger.info("Ollama not available at %s: %s", self.host, e)
            return False
        return True

    def list_models(self) -> list[ModelInfo]:
        """Installed models (``/api/tags``), sorted by name."""
        try:
            listing = self._client.list()
        except CLIENT_ERRORS as e:
            raise self.map_error(e, self.model) from e
        models = []
        for m in listing.models:
            details = m.details
            models.append(
                ModelInfo(
                    name=m.model or "",
                    size_bytes=int(m.size or 0),
                    modified_at=m.modified_at,
                    family=details.family if details else None,
                    parameter_size=details.parameter_size if details else None,
                    quantization=details.quantization_level if details else None,
                )
            )
        return sorted(models, key=lambda info: info.name)

    def has_model(self, name: str | None = None) -> bool:
        """Whether ``name`` (default: this model) is installed."""
        wanted = normalise_model_name(name or self.model)
        return any(normalise_model_name(m.name) == wanted for m in self.list_models())

    def context_info(self, model: str | None = None) -> ContextInfo:
        """The model's window from ``/api/show``; cached per model (only successes are cached)."""
        model = model or self.model
        with self._lock:
            cached = self._contexts.get(model)
        if cached is not None:
            return cached
        try:
            shown = self._client.show(model)
        except CLIENT_ERRORS as e:
            raise self.map_error(e, model) from e
        info = _parse_context(shown.modelinfo or {}, shown.parameters or "")
        logger.info("model %s: trained context %s, num_ctx parameter %s", model, info.trained, info.configured)
        with self._lock:
            self._contexts[model] = info
        return info

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        num_ctx: int,
        num_predict: int | None = None,
        temperature: float = 0.1,
    ) -> TokenStream:
        """Start a streamed chat; the request is made when iteration begins."""
        options = _options(num_ctx, num_predict, temperature, self.seed)
        parts = self._client.chat(model=self.model, messages=list(messages), stream=True, options=options)
        return TokenStream(self, parts, self.model)

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        num_ctx: int,
        num_predict: int | None = None,
        temperature: float = 0.0,
    ) -> str:
        """One non-streamed chat reply."""
        options = _options(num_ctx, num_predict, temperature, self.seed)
        try:
            reply = self._client.chat(model=self.model, messages=list(messages), stream=False, options=options)
        except CLIENT_ERRORS as e:
            raise self.map_error(e, self.model) from e
        return reply.message.content or ""

    def pull_model(self, name: str | None = None) -> Iterator[PullProgress]:
        """Pull a model, yielding progress; the last item has status "success"."""
        name = name or self.model
        cut = LLMError(f"The pull of '{name}' was cut off before it finished; run it again (it resumes).")
        status = ""
        try:
            for part in self._client.pull(name, stream=True):
                status = part.status or ""
                yield PullProgress(status=status, digest=part.digest, completed=part.completed, total=part.total)
        except ollama.ResponseError as e:
            raise LLMError(f"Could not pull '{name}': {e.error}. Check the name at https://ollama.com/library.") from e
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            raise cut from e
        except CLIENT_ERRORS as e:
            raise self.map_error(e, name) from e
        if status != "success":
            raise cut
        with self._lock:
            self._contexts.pop(name, None)

    def close(self) -> None:
        self._client.close()


def _options(num_ctx: int, num_predict: int | None, temperature: float, seed: int | None) -> dict[str, float | int]:
    # num_ctx must be sent with every request: Ollama otherwise uses its own default window,
    # silently cutting the sources we planned for, and a changed value reloads the model.
    options: dict[str, float | int] = {"num_ctx": num_ctx, "temperature": temperature}
    if num_predict is not None:
        options["num_predict"] = num_predict
    if seed is not None:
        options["seed"] = seed
    return options


def _parse_context(model_info: Mapping[str, object], parameters: str) -> ContextInfo:
    arch = model_info.get("general.architecture")
    trained = model_info.get(f"{arch}.context_length") if arch else None
    if trained is None:
        trained = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    match = _NUM_CTX_PARAM.search(parameters)
    return ContextInfo(
        trained=int(trained) if isinstance(trained, (int, float)) and trained > 0 else None,
        configured=int(match.group(1)) if match else None,
    )
