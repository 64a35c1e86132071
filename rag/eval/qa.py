"""QA sets for evaluation: questions with their gold documents and pages, read from JSON Lines.

A QA set is JSON Lines, one question a line: ``id, lang, question, answer`` and its gold document(s),
``doc`` + ``pdf_path`` or ``docs`` + ``pdf_paths`` (paths relative to a base folder, by default the
parent of the QA file's folder), optionally ``evidence: [{doc, page_index0}]`` for page-level scores.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rag.errors import EvalDataError


def file_key(path_or_name: str) -> str:
    """A file name as compared by the metrics: basename, Unicode NFC (macOS file names come NFD)."""
    return unicodedata.normalize("NFC", Path(str(path_or_name).replace("\\", "/")).name)


@dataclass(frozen=True, order=True)
class GoldPage:
    """An evidence page: a document's file name and its 0-based pypdf page index."""

    file_name: str
    page: int


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    question: str
    answer: str
    #: gold documents' file names (basenames of the gold pdf paths), in file order, no repeats
    docs: tuple[str, ...]
    #: gold pdf paths resolved against the base folder
    pdf_paths: tuple[Path, ...]
    #: evidence pages (empty when the set has none for this question)
    pages: tuple[GoldPage, ...] = ()


def _evidence_file(ev_doc: str | None, docs: tuple[str, ...], qid: str) -> str:
    if ev_doc:
        wanted = unicodedata.normalize("NFC", str(ev_doc))
        matches = [d for d in docs if d == wanted or Path(d).stem == wanted or Path(d).stem == Path(wanted).stem]
        if len(matches) == 1:
            return matches[0]
    if len(docs) == 1:
        return docs[0]
    raise EvalDataError(f"question {qid}: evidence document {ev_doc!r} is none of its gold documents {list(docs)}")


def parse_question(row: Mapping, base_dir: Path) -> Question:
    """One QA record (a decoded JSON line) as a Question; raises EvalDataError when malformed."""
    qid = str(row.get("id") or "").strip()
    text = row.get("question")
    if not qid or not isinstance(text, str) or not text.strip():
        raise EvalDataError(f"a QA record needs a non-empty 'id' and 'question': {str(dict(row))[:120]}")
    raw_paths = row.get("pdf_paths") or ([row["pdf_path"]] if row.get("pdf_path") else [])
    raw_docs = row.get("docs") or ([row["doc"]] if row.get("doc") else [])
    if not isinstance(raw_paths, list) or not isinstance(raw_docs, list):
        raise EvalDataError(f"question {qid}: 'pdf_paths' and 'docs' must be lists")
    names = [file_key(p) for p in raw_paths] or [file_key(d) for d in raw_docs]
    if not names:
        raise EvalDataError(f"question {qid}: no gold document ('doc'/'pdf_path' or 'docs'/'pdf_paths')")
    docs = tuple(dict.fromkeys(names))
    paths = tuple(dict.fromkeys((base_dir / str(p)).resolve() for p in raw_paths))
    pages: set[GoldPage] = set()
    for ev in row.get("evidence") or []:
        if not isinstance(ev, Mapping) or ev.get("page_index0") is None:
            continue
        try:
            index = int(ev["page_index0"])
        except (TypeError, ValueError) as e:
            raise EvalDataError(f"question {qid}: page_index0 must be an integer, got {ev['page_index0']!r}") from e
        if index < 0:
            raise EvalDataError(f"question {qid}: negative page_index0 {index}")
        pages.add(GoldPage(_evidence_file(ev.get("doc"), docs, qid), index))
    return Question(
        id=qid,
        lang=str(row.get("lang") or ""),
        question=text.strip(),
        answer=str(row.get("answer") or ""),
        docs=docs,
        pdf_paths=paths,
        pages=tuple(sorted(pages)),
    )


def parse_questions(lines: Iterable[str], base_dir: Path | str, *, source: str = "QA data") -> list[Question]:
    """Questions from JSON Lines text (blank lines skipped); ids must be unique."""
    out: list[Question] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalDataError(f"{source}, line {n}: not JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise EvalDataError(f"{source}, line {n}: expected a JSON object")
        try:
            q = parse_question(row, Path(base_dir))
        except EvalDataError as e:
            raise EvalDataError(f"{source}, line {n}: {e}") from e
        if q.id in seen:
            raise EvalDataError(f"{source}, line {n}: duplicate question id {q.id!r}")
        seen.add(q.id)
        out.append(q)
    return out


def default_base_dir(qa_path: Path | str) -> Path:
    """Where a QA file's pdf paths start: the parent of the QA file's folder (``data/qa/x.jsonl`` -> ``data``)."""
    return Path(qa_path).resolve().parent.parent


def load_questions(path: Path | str, *, base_dir: Path | str | None = None, limit: int | None = None) -> list[Question]:
    """The questions of a QA JSONL file (the first ``limit`` of them if given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise EvalDataError(f"cannot read the QA file {path}: {e.strerror or e}") from e
    questions = parse_questions(text.splitlines(), base_dir or default_base_dir(path), source=path.name)
    if not questions:
        raise EvalDataError(f"{path} holds no questions")
    return questions[:limit] if limit else questions
