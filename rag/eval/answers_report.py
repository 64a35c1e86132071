"""The answer benchmark's table and progress lines, and its command (``python -m rag eval --answers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import AnswerSettings

if TYPE_CHECKING:
    from rag.library import Library


from rag.eval.answers import AnswerRecord, AnswerReport, Config, MeteredLLM, default_configs, run_answers

# -- reporting -------------------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(report: AnswerReport) -> str:
    """The Markdown table: one row per configuration."""
    absent_head = "not-found accuracy (absent docs)"
    lines = [
        f"{report.model} on {report.collection!r}; absent-document questions: {report.absent_from}",
        f"| configuration | questions | correct | partly | wrong | refused | errors | citation support "
        f"| {absent_head} | median prompt tokens | median TTFT s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report.summaries:
        accuracy = (
            "-" if s.not_found_accuracy is None else f"{s.absent_not_found}/{s.absent} ({s.not_found_accuracy:.2f})"
        )
        tokens = _num(s.median_prompt_tokens, 0) + (
            "" if s.prompt_tokens_from_server or s.median_prompt_tokens is None else " (est.)"
        )
        support = _num(s.citation_support, 2) + (f" ({s.moved} moved)" if s.moved else "")
        lines.append(
            f"| {s.config} | {s.questions} | {s.correct} | {s.partly} | {s.wrong} | {s.refused} | {s.errors} "
            f"| {support} | {accuracy} | {tokens} | {_num(s.median_ttft_s, 1)} |"
        )
    if report.skipped:
        lines.append(f"skipped (gold document not in the collection): {', '.join(report.skipped)}")
    if report.stopped_early:
        lines.append("stopped early: only the questions every configuration finished are counted")
    return "\n".join(lines)


def progress_line(record: AnswerRecord) -> str:
    """One line per answer, for a long run's log."""
    outcome = record.verdict if record.kind == "answerable" else ("not found" if record.not_found else "answered")
    ttft = "" if record.ttft_s is None else f" ttft {record.ttft_s:.1f}s"
    tokens = "" if record.prompt_tokens is None else f" prompt {record.prompt_tokens}"
    wrong = f" arithmetic wrong {record.wrong_arithmetic}/{record.calculations}" if record.wrong_arithmetic else ""
    return f"{record.id} [{record.config}, {record.kind}] {outcome}{tokens}{ttft}{wrong}"


def _configs(lib: Library, only: str | None) -> list[Config]:
    from rag.errors import RagError

    configs = default_configs(lib)
    if only is None:
        return configs
    chosen = [c for c in configs if c.name.startswith({"baseline": "top chunks", "page": "page context"}[only])]
    if not chosen:
        raise RagError(f"no {only!r} configuration to run (RAG_CONTEXT_TOKENS=0 turns page context off)")
    return chosen


def run_command(
    qa: Path | str,
    lib: Library,
    *,
    collection: str,
    model: str | None = None,
    limit: int | None = None,
    json_path: Path | str | None = None,
    absent: bool = True,
    absent_collection: str | None = None,
    base: Path | str | None = None,
    log_to: Callable[[str], None] | None = None,
    only: str | None = None,
) -> AnswerReport:
    """What ``rag eval --answers`` and ``bench/answers.py`` run: load, check the model, ask, print, write.

    ``only``: "baseline" or "page" runs that configuration alone (to compare two versions of the code on one).
    """
    from rag.errors import LLMError, RagError
    from rag.eval.qa import load_questions

    questions = load_questions(qa, base_dir=base, limit=limit)
    cfg = AnswerSettings.from_env()
    ollama = lib.settings.ollama
    llm = MeteredLLM(ollama.host, model or ollama.model, timeout_s=cfg.timeout_s, seed=ollama.seed)
    try:
        if not llm.has_model():
            raise RagError(f"the model {llm.model!r} is not on the Ollama server at {llm.host}")
        # Loaded before the first question (with the answers' window: another num_ctx reloads it), so no
        # configuration's time to first token includes loading the model.
        window = llm.context_info().window(cfg.num_ctx, cfg.max_ctx)
        llm.complete([{"role": "user", "content": "Say OK."}], num_ctx=window, num_predict=1)
    except LLMError as e:
        raise RagError(f"cannot use the model {llm.model!r} at {llm.host}: {e}") from e
    try:
        report = run_answers(
            lib,
            questions,
            collection,
            llm,
            chat_config=cfg,
            absent=absent,
            absent_collection=absent_collection,
            configs=_configs(lib, only),
            progress=(lambda r: log_to(progress_line(r))) if log_to else None,
        )
    finally:
        llm.close()
    print(format_table(report))
    if json_path:
        try:
            Path(json_path).write_text(report.to_json(), encoding="utf-8")
        except OSError as e:
            raise RagError(f"cannot write the report to {json_path}: {e.strerror or e}") from e
        print(f"report written to {json_path}")
    return report
