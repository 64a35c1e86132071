"""The project's own exceptions; third-party errors are wrapped in these."""

from __future__ import annotations


class RagError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(RagError):
    """A setting is invalid or a configured resource is missing."""


class DocumentError(RagError):
    """A file could not be ingested; names the file and the reason."""

    #: short machine-readable reason, e.g. "password_required", "no_text", "corrupt"
    kind: str = "unreadable"

    def __init__(self, file_name: str, reason: str, *, kind: str | None = None) -> None:
        self.file_name = file_name
        self.reason = reason
        if kind is not None:
            self.kind = kind
        super().__init__(f"{file_name}: {reason}")


class PasswordRequired(DocumentError):
    kind = "password_required"


class NoTextError(DocumentError):
    kind = "no_text"


class ExtractionTimeout(DocumentError):
    kind = "timeout"


class ResourceLimitError(DocumentError):
    kind = "resource_limit"


class ModelMismatchError(RagError):
    """A collection was built with another embedding model than the one in use."""


class StoreError(RagError):
    """The vector store or the catalogue failed."""


class NotFoundError(RagError):
    """A named collection or document does not exist."""


class LLMError(RagError):
    """The local language model (Ollama) could not produce an answer."""


class LLMUnavailable(LLMError):
    """No Ollama server answers at the configured host."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(
            f"Ollama is not reachable at {host}. Start it with `ollama serve` (or open the Ollama app), "
            "or set OLLAMA_HOST to the address where it runs."
        )


class ModelNotFound(LLMError):
    """The configured model is not installed in Ollama."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"The model '{model}' is not installed in Ollama. Pull it with `ollama pull {model}` "
            "(or the pull button in the app), or pick an installed model with RAG_LLM_MODEL."
        )


class LLMTimeout(LLMError):
    """Ollama did not answer (or stopped answering) within the timeout."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(
            f"Ollama did not respond within {timeout_s:g} s. The model may still be loading or be too "
            "large for this machine: try again, choose a smaller model, or raise RAG_LLM_TIMEOUT."
        )


class StreamInterrupted(LLMError):
    """The answer stream ended before Ollama said it was done."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"The answer from Ollama was cut off ({reason}); the text so far is kept and marked "
            "incomplete. Ask again to get a full answer."
        )


class HistoryError(RagError):
    """The chat history database failed."""


class IndexCorrupt(StoreError):
    """An on-disk index is missing, unreadable or fails its checksums; rebuild it."""


class EvalDataError(RagError):
    """A QA set for retrieval evaluation is unreadable or malformed, or names PDFs that are missing."""
