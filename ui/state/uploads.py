"""Uploaded files: stored under the data folder by content hash, never by the name the browser sent.

The uploaded name is only ever a label (cleaned for display); the bytes go to
``<data_dir>/uploads/<sha256>.pdf``, written to a temporary file first and renamed into place, so
a reader sees either nothing or the complete file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from rag.ingest.sources import Source

MAX_NAME_CHARS = 160
_FALLBACK_NAME = "upload.pdf"
# Control and format characters (incl. bidi overrides that can disguise an extension), and separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SPACES = re.compile(r"\s+")
_BLOCK = 1 << 20


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "uploads"


def display_name(name: str | None) -> str:
    """A safe label for an uploaded file name: no folders, no control characters, NFC, bounded length.

    Korean names from macOS arrive decomposed (NFD); NFC makes them compare equal to typed names.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[\\/]", text)[-1]  # a browser may send a path; only the last part is a name
    text = "".join(" " if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)
    text = _SPACES.sub(" ", text).strip().strip(".").strip()
    if not text:
        return _FALLBACK_NAME
    if not text.lower().endswith(".pdf"):
        text += ".pdf"
    if len(text) > MAX_NAME_CHARS:
        stem = text[: -len(".pdf")]
        text = stem[: MAX_NAME_CHARS - len(".pdf") - 1].rstrip() + "….pdf"
    return text


def _chunks(data: bytes | bytearray | memoryview | BinaryIO) -> Iterable[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), _BLOCK):
            yield bytes(view[start : start + _BLOCK])
        return
    if hasattr(data, "seek"):
        data.seek(0)
    while block := data.read(_BLOCK):
        yield block


def save_upload(data: bytes | bytearray | memoryview | BinaryIO, name: str | None, data_dir: Path) -> Source:
    """Store uploaded bytes as ``uploads/<sha256>.pdf`` (atomically) and return the Source to ingest.

    Saving the same content twice is harmless: the file is complete either way.
    """
    folder = uploads_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in _chunks(data):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        dest = folder / f"{digest.hexdigest()}.pdf"
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Source(dest, display_name(name))


def is_upload(path: Path, data_dir: Path) -> bool:
    """Whether ``path`` is a staged upload inside this data folder (and nothing else)."""
    folder = uploads_dir(data_dir).resolve()
    try:
        resolved = Path(path).resolve()
    except OSError:
        return False
    return resolved.parent == folder and re.fullmatch(r"[0-9a-f]{64}\.pdf", resolved.name) is not None


def discard_upload(path: Path, data_dir: Path) -> bool:
    """Delete a staged upload once it is no longer needed; never touches files outside uploads/."""
    if not is_upload(path, data_dir):
        return False
    Path(path).unlink(missing_ok=True)
    return True


def clean_stale_uploads(data_dir: Path, *, max_age_s: float = 24 * 3600, tmp_age_s: float = 3600) -> int:
    """Remove leftovers: partial writes of a crashed process and uploads nobody came back for."""
    import time

    folder = uploads_dir(data_dir)
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for path in folder.iterdir():
        limit = tmp_age_s if path.name.startswith(".upload-") else max_age_s
        try:
            if path.is_file() and now - path.stat().st_mtime > limit:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
