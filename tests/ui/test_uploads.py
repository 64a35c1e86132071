"""Uploaded files: stored by content hash under data/uploads, names only as cleaned labels."""

from __future__ import annotations

import hashlib
import os
import time
import unicodedata
from pathlib import Path

import pytest

from rag.ingest.sources import Source
from ui.state.uploads import (
    MAX_NAME_CHARS,
    clean_stale_uploads,
    discard_upload,
    display_name,
    is_upload,
    save_upload,
    uploads_dir,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\secret plan.pdf", "secret plan.pdf"),
        ("  spaced\t\tout  name .pdf ", "spaced out name .pdf"),
        ("evil\u202egnp.pdf", "evil gnp.pdf"),  # a right-to-left override could disguise the extension
        ("line\nbreak\x00.pdf", "line break .pdf"),
        ("", "upload.pdf"),
        ("...", "upload.pdf"),
        ("/", "upload.pdf"),
        ("noextension", "noextension.pdf"),
        ("UPPER.PDF", "UPPER.PDF"),
    ],
)
def test_display_name_is_a_label_not_a_path(raw: str, expected: str) -> None:
    assert display_name(raw) == expected


def test_display_name_composes_korean_from_macos() -> None:
    decomposed = unicodedata.normalize("NFD", "보고서.pdf")
    assert decomposed != "보고서.pdf"
    assert display_name(decomposed) == "보고서.pdf"


def test_display_name_is_bounded_and_keeps_the_extension() -> None:
    name = display_name("x" * 1000 + ".pdf")
    assert len(name) <= MAX_NAME_CHARS
    assert name.endswith("….pdf")


def test_save_upload_stores_by_content_hash(tmp_path: Path) -> None:
    data = b"%PDF-1.4 some bytes" * 1000
    source = save_upload(data, "../../escape/attempt.pdf", tmp_path)
    assert isinstance(source, Source)
    assert source.path == uploads_dir(tmp_path) / f"{hashlib.sha256(data).hexdigest()}.pdf"
    assert source.path.read_bytes() == data
    assert source.name == "attempt.pdf"
    # Nothing anywhere is named after the upload, and nothing escaped the data folder.
    everything = [p.name for p in tmp_path.rglob("*")]
    assert "attempt.pdf" not in everything and "escape" not in everything
    assert not (tmp_path.parent / "escape").exists()
    assert [p.name for p in uploads_dir(tmp_path).iterdir()] == [source.path.name]  # no temp file left


def test_save_upload_reads_file_objects_and_repeats_harmlessly(tmp_path: Path) -> None:
    import io

    data = os.urandom(3 * (1 << 20) + 17)  # several blocks
    first = save_upload(io.BytesIO(data), "a.pdf", tmp_path)
    second = save_upload(data, "b.pdf", tmp_path)
    assert first.path == second.path and first.path.read_bytes() == data
    assert (first.name, second.name) == ("a.pdf", "b.pdf")
    other = save_upload(b"different", "a.pdf", tmp_path)
    assert other.path != first.path


def test_save_upload_leaves_nothing_when_writing_fails(tmp_path: Path) -> None:
    class Broken:
        def read(self, n: int) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(OSError):
        save_upload(Broken(), "x.pdf", tmp_path)  # type: ignore[arg-type]
    assert list(uploads_dir(tmp_path).iterdir()) == []


def test_discard_only_touches_staged_uploads(tmp_path: Path) -> None:
    source = save_upload(b"abc", "x.pdf", tmp_path)
    outside = tmp_path / "keep.pdf"
    outside.write_bytes(b"mine")
    lookalike = uploads_dir(tmp_path) / "notes.pdf"
    lookalike.write_bytes(b"x")
    assert is_upload(source.path, tmp_path)
    assert not discard_upload(outside, tmp_path) and outside.exists()
    assert not discard_upload(lookalike, tmp_path) and lookalike.exists()
    assert not discard_upload(uploads_dir(tmp_path) / ".." / "keep.pdf", tmp_path) and outside.exists()
    assert discard_upload(source.path, tmp_path) and not source.path.exists()


def test_clean_stale_uploads_removes_only_old_leftovers(tmp_path: Path) -> None:
    fresh = save_upload(b"fresh", "f.pdf", tmp_path)
    old = save_upload(b"old", "o.pdf", tmp_path)
    partial = uploads_dir(tmp_path) / ".upload-abc.tmp"
    partial.write_bytes(b"half")
    long_ago = time.time() - 3 * 24 * 3600
    os.utime(old.path, (long_ago, long_ago))
    os.utime(partial, (long_ago, long_ago))
    assert clean_stale_uploads(tmp_path) == 2
    assert fresh.path.exists() and not old.path.exists() and not partial.exists()
    assert clean_stale_uploads(tmp_path / "nowhere") == 0
