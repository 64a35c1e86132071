"""Answer benchmark: a QA set asked through the real chat path, each answer scored against the gold answer.

Every question goes through ``ChatSession`` as ``rag ask`` builds it (the collection's hybrid search, the
not-found gate, the prompt, the model's stream, citation and refusal checks), once per configuration:
the baseline is today's code path without context assembly (``expand=None``: the top chunks as they are);
the prompt's wording is today's too, so the two rows differ in the model's sources only. The other row is
page context (``Library.expander``, RAG_CONTEXT_TOKENS), what the chat sends now.

Scores (pure functions, below): the gold answer's figures found in the answer (``rag.answer.support``'s figures:
"$12,645 million" is 12645.00, "21.6 percent" is 21.6%), within one unit of the gold's last digit (exact) or
as the gold rounded to the answer's coarser precision ("about 24.3" for 24.26: rounded, half credit); token
F1 over content terms (``rag.answer.terms.key_terms``: lower-cased words, Korean as bigrams of stems); a verdict:
correct (every gold figure exact, or F1 >= 0.5 when the gold has no figures), partly (some figure exact or
rounded, or F1 >= 0.25), wrong, refused (the app declined or the gate said not found), error (no answer).

Absent-document questions: each question whose gold documents are in the collection is asked again with
every document of the same issuer kept out of retrieval (``issuer``: the file name before its first part that
starts with a digit, "BOEING_2022_10K.pdf" -> "boeing"; the whole name when none does), so the collection holds
nothing about the company asked about and the right answer is "not found". The documents are dropped from the
ranked list (over-fetched, then filtered), not deleted: BM25's statistics still count them, a small difference
from a collection built without them. Or ``absent_collection``: a second collection, asked the questions
whose gold documents it lacks. A declined or gated answer counts as a correct not-found.

Prompt tokens: the server's ``prompt_eval_count`` from the stream's last line (read on the way through: the
client keeps it to itself), else ``rag.answer.prompt``'s estimate (3 characters a token: reads high). TTFT: wall
clock from asking (retrieval, page context and prompt included: what a user waits) to the first text; only
for questions that reached the model. Medians are over the answerable questions.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag.answer.chat import Answer, ChatSession, Expander, Retriever
from rag.answer.citations import marker_spans
from rag.answer.language import question_language
from rag.answer.llm import OllamaLLM, TokenStream
from rag.answer.prompt import build_answer_prompt
from rag.answer.support import Figure, figures
from rag.answer.terms import key_terms
from rag.eval.qa import Question, file_key
from rag.settings import AnswerSettings

if TYPE_CHECKING:
    from rag.library import Library

log = logging.getLogger(__name__)

Verdict = Literal["correct", "partly", "wrong", "refused", "error"]
Grade = Literal["exact", "rounded", "missing"]

CORRECT_F1 = 0.5
PARTLY_F1 = 0.25
# A figure without a scale word may be a table's thousands or millions ("$12645.00" in a filing's millions).
_TABLE_SCALES = (1, 10**3, 10**6, 10**9)
_PERCENT = re.compile(r"%|percent|per cent|pct|퍼센트|프로", re.IGNORECASE)
# Absent-document questions keep this many times k of the ranked list before the issuer's documents go.
_OVERFETCH = 5

# -- scoring (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberMatch:
    """One figure of the gold answer and how the answer gives it."""

    gold: str
    grade: Grade
    found: str | None = None


@dataclass(frozen=True)
class AnswerScore:
    """An answer against its gold answer."""

    verdict: Verdict
    f1: float
    numbers: tuple[NumberMatch, ...] = ()

    @property
    def exact(self) -> int:
        return sum(m.grade == "exact" for m in self.numbers)

    @property
    def rounded(self) -> int:
        return sum(m.grade == "rounded" for m in self.numbers)


def without_markers(text: str) -> str:
    """The text without its ``[n]`` citation markers (their digits are no figures or words of the answer)."""
    for start, end, _ in reversed(marker_spans(text)):
        text = text[:start] + " " + text[end:]
    return text


def gold_figures(gold: str, question: str = "") -> list[Figure]:
    """The figures an answer must give: the gold answer's, less those the question states itself."""
    asked = {f.key for f in figures(question)}
    out: dict[str, Figure] = {}
    for f in figures(gold):
        if f.key not in asked:
            out.setdefault(f.key, f)
    return list(out.values())


def _is_percent(f: Figure) -> bool:
    return bool(_PERCENT.search(f.text))


def _scale_pairs(gold: Figure, given: Figure) -> list[tuple[int, int]]:
    """(gold scale, answer scale) pairs to compare at: a scale word where written, else any table scale."""
    if gold.scale == given.scale or (gold.scale != 1 and given.scale != 1) or _is_percent(gold) or _is_percent(given):
        return [(gold.scale, given.scale)]
    if gold.scale == 1:
        return [(k, given.scale) for k in _TABLE_SCALES]
    return [(gold.scale, k) for k in _TABLE_SCALES]


def _decimals(value: Decimal) -> int:
    """Decimal places without trailing zeros (12645.00 has none)."""
    return max(0, -value.normalize().as_tuple().exponent)  # type: ignore[operator]


def _significant(value: Decimal) -> int:
    """Significant digits as written (2.0 has two; 12,000 has two: trailing zeros of a whole number are not)."""
    digits = value.as_tuple().digits
    text = "".join(map(str, digits)).lstrip("0")
    return len(text if value.as_tuple().exponent < 0 else text.rstrip("0")) or 1  # type: ignore[operator]


def number_grade(gold: Figure, given: Figure) -> Grade:
    """How ``given`` gives ``gold``: exact (within one unit of the gold's last digit: 24.25-24.27 for 24.26),
    rounded (the gold rounded to the answer's coarser precision: 24.3 or 24 for 24.26) or missing.

    Signs are not compared (a table's "(123)" is 123).
    """
    if gold.is_date or given.is_date:
        match = given.key == gold.key or (gold.is_date and given.key.startswith(gold.key + "-"))
        return "exact" if match else "missing"
    assert gold.value is not None and given.value is not None
    best: Grade = "missing"
    for kg, ka in _scale_pairs(gold, given):
        target, amount = gold.value * kg, given.value * ka
        # The gold's last significant digit: FinanceBench writes "$12645.00" for a figure in whole millions.
        unit = Decimal(10) ** -_decimals(gold.value) * kg
        quantum = Decimal(10) ** -given.decimals * ka
        if quantum <= unit:
            if abs(target - amount) <= unit:
                return "exact"
            continue
        # Coarser than the gold: a rounding of it, if it keeps two significant digits ("1" is no answer to 1.33).
        if _significant(given.value) < 2:
            continue
        try:
            rounded = (target / quantum).quantize(Decimal(1), ROUND_HALF_UP) * quantum
        except InvalidOperation:  # beyond Decimal's precision: no rounding of it
            continue
        if rounded == amount:
            best = "rounded"
    return best


def match_numbers(gold: Sequence[Figure], answer: str) -> tuple[NumberMatch, ...]:
    """Each gold figure with the best grade any of the answer's figures earns, and that figure."""
    given = figures(without_markers(answer))
    out = []
    for g in gold:
        grades = [(number_grade(g, a), a) for a in given]
        exact = next((a for grade, a in grades if grade == "exact"), None)
        rounded = next((a for grade, a in grades if grade == "rounded"), None)
        if exact is not None:
            out.append(NumberMatch(g.text, "exact", exact.text))
        elif rounded is not None:
            out.append(NumberMatch(g.text, "rounded", rounded.text))
        else:
            out.append(NumberMatch(g.text, "missing"))
    return tuple(out)


def token_f1(answer: str, gold: str) -> float:
    """F1 of the two texts' content terms (``key_terms``: lower-cased words, Korean as bigrams of stems;
    no digit runs)."""
    # Figures are matched as numbers; as terms "24.26" would be "24" and "26".
    got = {t for t in key_terms(without_markers(answer)) if not t.isdigit()}
    want = {t for t in key_terms(gold) if not t.isdigit()}
    shared = len(got & want)
    if not shared:
        return 0.0
    precision, recall = shared / len(got), shared / len(want)
    return 2 * precision * recall / (precision + recall)


def verdict(numbers: Sequence[NumberMatch], f1: float, *, refused: bool = False, failed: bool = False) -> Verdict:
    """The question's verdict from its figures and F1 (see the module docstring)."""
    if failed:
        return "error"
    if refused:
        return "refused"
    if numbers and all(m.grade == "exact" for m in numbers):
        return "correct"
    if not numbers and f1 >= CORRECT_F1:
        return "correct"
    if any(m.grade != "missing" for m in numbers) or f1 >= PARTLY_F1:
        return "partly"
    return "wrong"


def score_answer(
    answer: str, gold: str, question: str = "", *, refused: bool = False, failed: bool = False
) -> AnswerScore:
    """Score one answer's text against the gold answer."""
    numbers = match_numbers(gold_figures(gold, question), answer)
    f1 = token_f1(answer, gold)
    return AnswerScore(verdict(numbers, f1, refused=refused, failed=failed), round(f1, 4), numbers)


def issuer(file_name: str) -> str:
    """Who a document is about, from its file name: the parts before the first one starting with a digit
    ("JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf" -> "johnson_johnson"), or the whole name when none does."""
    stem = Path(file_key(file_name)).stem
    parts = [p for p in re.split(r"[_\s-]+", stem) if p] or [stem]
    # The first part is the name even when it starts with a digit ("3M_2018_10K").
    lead = [parts[0], *takewhile(lambda p: not p[:1].isdigit(), parts[1:])]
    return "_".join(lead).casefold()


# -- running ---------------------------------------------------------------------------------------


@dataclass
class _Meter:
    """What the last question's model call reported."""

    called: bool = False
    stream: TokenStream | None = None

    @property
    def prompt_eval_count(self) -> int | None:
        return self.stream.prompt_eval_count if self.stream is not None else None


class MeteredLLM(OllamaLLM):
    """The project's Ollama client, noting whether the model was called and the server's prompt token count."""

    def __init__(self, host: str, model: str, *, timeout_s: float = 120.0) -> None:
        super().__init__(host, model, timeout_s=timeout_s)
        self.meter = _Meter()

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        num_ctx: int,
        num_predict: int | None = None,
        temperature: float = 0.1,
    ) -> TokenStream:
        stream = super().stream_chat(messages, num_ctx=num_ctx, num_predict=num_predict, temperature=temperature)
        self.meter.called = True
        self.meter.stream = stream
        return stream


@dataclass(frozen=True)
class AnswerRecord:
    """One question asked in one configuration, with its answer and scores."""

    config: str
    kind: Literal["answerable", "absent"]
    id: str
    question: str
    gold: str
    mode: str
    text: str
    declined: bool
    verdict: Verdict | None  # answerable questions only
    f1: float | None
    numbers: tuple[NumberMatch, ...]
    not_found: bool  # declined or gated
    citations: int  # citation checks (sentence, source) of the support report
    supported: int
    prompt_tokens: int | None  # the server's count, else the estimate
    prompt_tokens_estimate: int | None
    prompt_tokens_from_server: bool
    ttft_s: float | None
    seconds: float
    sources: tuple[str, ...]  # "file p.N" of the numbered sources (the model's) or the nearest passages
    excluded: tuple[str, ...] = ()  # documents kept out of retrieval (absent-document questions)
    error: str | None = None


@dataclass(frozen=True)
class ConfigSummary:
    """One configuration's row of the table."""

    config: str
    questions: int
    correct: int
    partly: int
    wrong: int
    refused: int
    errors: int
    citation_support: float | None
    absent: int
    absent_not_found: int
    median_prompt_tokens: float | None
    prompt_tokens_from_server: bool
    median_ttft_s: float | None

    @property
    def not_found_accuracy(self) -> float | None:
        return self.absent_not_found / self.absent if self.absent else None


@dataclass(frozen=True)
class AnswerReport:
    """Every answer of a run and the table's rows."""

    model: str
    collection: str
    absent_from: str  # "issuer filtered" or the second collection's name
    records: tuple[AnswerRecord, ...]
    summaries: tuple[ConfigSummary, ...]
    skipped: tuple[str, ...] = ()  # questions whose gold documents are not in the collection
    stopped_early: bool = False  # interrupted: the questions finished before it

    def to_json(self) -> str:
        data = asdict(self)
        for row, summary in zip(data["summaries"], self.summaries, strict=True):
            row["not_found_accuracy"] = summary.not_found_accuracy
        return json.dumps(data, ensure_ascii=False, indent=1)


@dataclass(frozen=True)
class Config:
    """One way of making the model's sources: a name and the chat's ``expand`` (None: the hits as found)."""

    name: str
    expand: Callable[[str], Expander | None] = field(default=lambda collection: None)


def default_configs(lib: Library) -> list[Config]:
    """The baseline (top chunks as they are) and, unless RAG_CONTEXT_TOKENS is 0, today's page context."""
    configs = [Config("top chunks (baseline)")]
    if lib.settings.answer.context_tokens > 0:
        configs.append(Config(f"page context {lib.settings.answer.context_tokens}", lib.expander))
    return configs


def searcher(lib: Library, collection: str, excluded: set[str] | None = None) -> Retriever:
    """The chat's retrieval over the collection, as ``rag ask`` does it, without the ``excluded`` files."""
    if not excluded:
        return lambda query, k: lib.search(query, collection, k)

    def retrieve(query: str, k: int) -> list:
        hits = lib.search(query, collection, k * _OVERFETCH)
        return [h for h in hits if file_key(h.chunk.file_name) not in excluded][:k]

    return retrieve


def _ask(
    session: ChatSession, llm: MeteredLLM, q: Question, config: str, kind: str, excluded: Sequence[str]
) -> AnswerRecord:
    llm.meter = _Meter()
    started = time.perf_counter()
    ttft = None
    stream = session.ask(q.question)
    for delta in stream:
        if ttft is None and delta and llm.meter.called:
            ttft = time.perf_counter() - started
    answer = stream.result()
    seconds = time.perf_counter() - started
    return _record(answer, q, config, kind, excluded, llm.meter, ttft, seconds)


def _estimate(answer: Answer, question: str) -> int | None:
    """The prompt's token estimate, rebuilt as ``ChatSession`` built it (the same sources and window)."""
    if answer.mode != "answer" or not answer.hits or not answer.num_ctx:
        return None
    language = question_language(question)
    return build_answer_prompt(answer.standalone_query, answer.hits, answer.num_ctx, language=language).prompt_tokens


def _record(
    answer: Answer,
    q: Question,
    config: str,
    kind: str,
    excluded: Sequence[str],
    meter: _Meter,
    ttft: float | None,
    seconds: float,
) -> AnswerRecord:
    not_found = answer.declined or answer.mode == "not_found"
    failed = answer.mode in ("error", "search_only")
    score = score_answer(answer.text, q.answer, q.question, refused=not_found, failed=failed)
    checks = answer.support.checks if answer.support is not None else ()
    estimate = _estimate(answer, q.question) if meter.called else None
    server = meter.prompt_eval_count if meter.called else None
    pages = [(h.chunk.file_name, h.chunk.page + 1, h.chunk.page_end + 1) for h in answer.hits]
    return AnswerRecord(
        config=config,
        kind=kind,  # type: ignore[arg-type]
        id=q.id,
        question=q.question,
        gold=q.answer,
        mode=answer.mode,
        text=answer.text,
        declined=answer.declined,
        verdict=score.verdict if kind == "answerable" else None,
        f1=score.f1 if kind == "answerable" else None,
        numbers=score.numbers if kind == "answerable" else (),
        not_found=not_found,
        citations=len(checks),
        supported=sum(c.supported for c in checks),
        prompt_tokens=server if server is not None else estimate,
        prompt_tokens_estimate=estimate,
        prompt_tokens_from_server=server is not None,
        ttft_s=round(ttft, 3) if ttft is not None else None,
        seconds=round(seconds, 3),
        sources=tuple(f"{f} p.{a}" + (f"-{b}" if b != a else "") for f, a, b in pages),
        excluded=tuple(excluded),
        error=answer.error,
    )


def summarise(config: str, records: Sequence[AnswerRecord]) -> ConfigSummary:
    """The table row of one configuration's records."""
    asked = [r for r in records if r.config == config and r.kind == "answerable"]
    absent = [r for r in records if r.config == config and r.kind == "absent"]
    verdicts = [r.verdict for r in asked]
    checks = sum(r.citations for r in asked)
    tokens = [r.prompt_tokens for r in asked if r.prompt_tokens is not None]
    ttfts = [r.ttft_s for r in asked if r.ttft_s is not None]
    return ConfigSummary(
        config=config,
        questions=len(asked),
        correct=verdicts.count("correct"),
        partly=verdicts.count("partly"),
        wrong=verdicts.count("wrong"),
        refused=verdicts.count("refused"),
        errors=verdicts.count("error"),
        citation_support=sum(r.supported for r in asked) / checks if checks else None,
        absent=len(absent),
        absent_not_found=sum(r.not_found for r in absent),
        median_prompt_tokens=statistics.median(tokens) if tokens else None,
        prompt_tokens_from_server=bool(tokens) and all(r.prompt_tokens_from_server for r in asked if r.prompt_tokens),
        median_ttft_s=statistics.median(ttfts) if ttfts else None,
    )


def run_answers(
    lib: Library,
    questions: Sequence[Question],
    collection: str,
    llm: MeteredLLM,
    *,
    chat_config: AnswerSettings | None = None,
    configs: Sequence[Config] | None = None,
    absent: bool = True,
    absent_collection: str | None = None,
    progress: Callable[[AnswerRecord], None] | None = None,
) -> AnswerReport:
    """Ask every question in every configuration, then the absent-document questions, and score them.

    Questions are the outer loop, so a run stopped early (Ctrl-C) still compares the configurations on the
    same questions: those every configuration finished.
    """
    cfg = chat_config or AnswerSettings.from_env()
    configs = list(configs) if configs is not None else default_configs(lib)
    lib.open_collection(collection)  # fail early, with the reason, on a missing or mismatched collection
    present = {file_key(d.file_name) for d in lib.documents(collection)}
    by_issuer: dict[str, set[str]] = {}
    for name in present:
        by_issuer.setdefault(issuer(name), set()).add(name)
    elsewhere: set[str] | None = None
    if absent_collection is not None:
        lib.open_collection(absent_collection)
        elsewhere = {file_key(d.file_name) for d in lib.documents(absent_collection)}
    records: list[AnswerRecord] = []
    skipped: list[str] = []
    stopped = False

    def ask(session: ChatSession, q: Question, config: str, kind: str, excluded: tuple[str, ...]) -> AnswerRecord:
        record = _ask(session, llm, q, config, kind, excluded)
        if progress is not None:
            progress(record)
        return record

    try:
        for q in questions:
            if not set(q.docs) <= present:
                skipped.append(q.id)
                continue
            done: list[AnswerRecord] = []
            for c in configs:
                search = searcher(lib, collection)
                session = ChatSession(search, llm, cfg, c.expand(collection), lib.openings(collection))
                done.append(ask(session, q, c.name, "answerable", ()))
            if absent and (elsewhere is None or not set(q.docs) & elsewhere):
                target = absent_collection or collection
                excluded: tuple[str, ...] = ()
                if elsewhere is None:
                    excluded = tuple(sorted({d for doc in q.docs for d in by_issuer.get(issuer(doc), {doc})}))
                for c in configs:
                    search = searcher(lib, target, set(excluded))
                    session = ChatSession(search, llm, cfg, c.expand(target), lib.openings(target))
                    done.append(ask(session, q, c.name, "absent", excluded))
            records += done  # a question counts once all its configurations have answered it
    except KeyboardInterrupt:  # a long run stopped by hand still reports the questions it finished
        stopped = True
    return AnswerReport(
        model=llm.model,
        collection=collection,
        absent_from=absent_collection or ("issuer filtered" if absent else "none"),
        records=tuple(records),
        summaries=tuple(summarise(c.name, records) for c in configs),
        skipped=tuple(skipped),
        stopped_early=stopped,
    )


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
        lines.append(
            f"| {s.config} | {s.questions} | {s.correct} | {s.partly} | {s.wrong} | {s.refused} | {s.errors} "
            f"| {_num(s.citation_support, 2)} | {accuracy} | {tokens} | {_num(s.median_ttft_s, 1)} |"
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
    return f"{record.id} [{record.config}, {record.kind}] {outcome}{tokens}{ttft}"


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
) -> AnswerReport:
    """What ``rag eval --answers`` and ``bench/answers.py`` run: load, check the model, ask, print, write."""
    from rag.errors import LLMError, RagError
    from rag.eval.qa import load_questions

    questions = load_questions(qa, base_dir=base, limit=limit)
    cfg = AnswerSettings.from_env()
    llm = MeteredLLM(lib.settings.ollama.host, model or lib.settings.ollama.model, timeout_s=cfg.timeout_s)
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
