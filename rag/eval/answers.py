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
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from rag.answer.chat import Answer, ChatSession, Expander, Retriever
from rag.answer.language import question_language
from rag.answer.llm import OllamaLLM, TokenStream
from rag.answer.prompt import build_answer_prompt
from rag.eval.qa import Question, file_key
from rag.models import Hit
from rag.settings import AnswerSettings

if TYPE_CHECKING:
    from rag.library import Library
from rag.eval.scoring import NumberMatch, Verdict, issuer, score_answer

log = logging.getLogger(__name__)

# Absent-document questions keep this many times k of the ranked list before the issuer's documents go.
_OVERFETCH = 5

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

    def __init__(self, host: str, model: str, *, timeout_s: float = 120.0, seed: int | None = None) -> None:
        super().__init__(host, model, timeout_s=timeout_s, seed=seed)
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
        if not self.meter.called:  # the answer's prompt; not a second request asking again for words
            self.meter.stream = stream
        self.meter.called = True
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
    moved: int  # sentences whose citation the app moved to the source holding their figures (checked as moved)
    prompt_tokens: int | None  # the server's count, else the estimate
    prompt_tokens_estimate: int | None
    prompt_tokens_from_server: bool
    ttft_s: float | None
    seconds: float
    sources: tuple[str, ...]  # "file p.N" of the numbered sources (the model's) or the nearest passages
    excluded: tuple[str, ...] = ()  # documents kept out of retrieval (absent-document questions)
    error: str | None = None
    asked_again: bool = False  # the first reply was source numbers only; ``text`` is the second
    calculations: int = 0  # calculations the answer writes out ("a / b = c")
    wrong_arithmetic: int = 0  # of them, those whose result is not what the expression comes to


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
    moved: int = 0  # sentences whose citation the app moved (``AnswerRecord.moved``)

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


def source_label(hit: Hit) -> str:
    """ "file.pdf p.4" or "file.pdf p.4-5" (1-based), as a record lists its sources."""
    c = hit.chunk
    return f"{c.file_name} p.{c.page + 1}" + (f"-{c.page_end + 1}" if c.page_end != c.page else "")


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
        moved=len(answer.moved_citations),
        asked_again=answer.asked_again,
        calculations=len(answer.calculations),
        wrong_arithmetic=len(answer.wrong_arithmetic),
        prompt_tokens=server if server is not None else estimate,
        prompt_tokens_estimate=estimate,
        prompt_tokens_from_server=server is not None,
        ttft_s=round(ttft, 3) if ttft is not None else None,
        seconds=round(seconds, 3),
        sources=tuple(source_label(h) for h in answer.hits),
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
        moved=sum(r.moved for r in asked),
    )


def _documents(
    lib: Library, collection: str, absent_collection: str | None
) -> tuple[set[str], dict[str, set[str]], set[str] | None]:
    """The collection's documents (by file key), grouped by issuer, and those of ``absent_collection`` (None
    without one). Fails early, with the reason, on a missing or mismatched collection."""
    lib.open_collection(collection)
    present = {file_key(d.file_name) for d in lib.documents(collection)}
    by_issuer: dict[str, set[str]] = {}
    for name in present:
        by_issuer.setdefault(issuer(name), set()).add(name)
    elsewhere: set[str] | None = None
    if absent_collection is not None:
        lib.open_collection(absent_collection)
        elsewhere = {file_key(d.file_name) for d in lib.documents(absent_collection)}
    return present, by_issuer, elsewhere


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
    present, by_issuer, elsewhere = _documents(lib, collection, absent_collection)
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


