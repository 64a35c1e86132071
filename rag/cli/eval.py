"""``python -m rag eval``: the evaluation from the command line.

python -m rag eval QA.jsonl [--collection NAME] [-k 1,3,5,10] [--modes dense,lexical,hybrid,hybrid+rerank]
                            [--ingest] [--extra PATH ...] [--json FILE] [--limit N]
python -m rag eval QA.jsonl --answers [--model M] [--absent-collection NAME | --no-absent] [--json FILE] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.cli import common
from rag.cli.common import BarProgress, positive_int, summary
from rag.errors import RagError
from rag.eval.evaluate import DEFAULT_KS, default_modes, evaluate
from rag.eval.qa import load_questions
from rag.eval.tables import format_table
from rag.retrieve.modes import SEARCH_MODES
from rag.settings import Settings


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"k values must be positive, got {text!r}")
    return values


def _mode_list(text: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    bad = [m for m in values if m not in SEARCH_MODES]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"modes must be among {', '.join(SEARCH_MODES)}, got {text!r}")
    return values


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``python -m rag eval``: print the metrics table and write the JSON report."""
    from tqdm import tqdm


    if args.answers:
        return _answers(args, settings)
    questions = load_questions(args.qa, base_dir=args.base, limit=args.limit)
    collection = args.collection or settings.storage.collection
    lib = common.open_library(settings)
    bars: list = []

    def advance(done: int, total: int) -> None:
        if not bars:  # created on the first answer, so ingestion time does not count as question time
            bars.append(tqdm(total=total, desc="questions", unit="q", file=sys.stderr, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        report = evaluate(
            lib,
            questions,
            collection,
            args.modes or default_modes(settings),
            args.k,
            ingest=args.ingest,
            extra=args.extra or (),
            ingest_progress=BarProgress(),
            progress=advance,
            source=Path(args.qa).name,
        )
    finally:
        for bar in bars:
            bar.close()
        lib.close()
    if report.ingest:
        print(summary(list(report.ingest)))
        print()
    print(format_table(report))
    if args.json:
        try:
            Path(args.json).write_text(report.to_json(), encoding="utf-8")
        except OSError as e:
            raise RagError(f"cannot write the report to {args.json}: {e.strerror or e}") from e
        print(f"report written to {args.json}")
    return 1 if any(m.errors for m in report.metrics) else 0


def _answers(args: argparse.Namespace, settings: Settings) -> int:
    """``--answers``: the answer benchmark (``rag.eval.answers``) instead of retrieval metrics."""
    from rag.eval.answers_report import run_command
    from rag.eval.evaluate import ingest_questions

    collection = args.collection or settings.storage.collection
    lib = common.open_library(settings)
    try:
        if args.ingest or args.extra:
            questions = load_questions(args.qa, base_dir=args.base, limit=args.limit) if args.ingest else []
            print(
                summary(ingest_questions(lib, questions, collection, extra=args.extra or (), progress=BarProgress()))
            )
        report = run_command(
            args.qa,
            lib,
            collection=collection,
            model=args.model,
            limit=args.limit,
            json_path=args.json,
            absent=not args.no_absent,
            absent_collection=args.absent_collection,
            base=args.base,
            log_to=lambda line: print(line, file=sys.stderr),
        )
    finally:
        lib.close()
    return 1 if any(s.errors for s in report.summaries) else 0


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` on the CLI's subcommands."""
    p = subparsers.add_parser("eval", help="retrieval quality (recall@k, MRR) and latency of each mode on a QA set")
    p.add_argument("qa", metavar="QA.jsonl", help="questions with their gold documents (and evidence pages)")
    p.add_argument("--collection", help="collection to search (default: RAG_COLLECTION)")
    p.add_argument("-k", type=_int_list, default=DEFAULT_KS, help="cut-offs, comma-separated (default 1,3,5,10)")
    p.add_argument(
        "--modes",
        type=_mode_list,
        help="comma-separated (default: dense,lexical,hybrid, and hybrid+rerank with a reranker)",
    )
    p.add_argument("--ingest", action="store_true", help="first ingest the gold PDFs the questions name")
    p.add_argument("--extra", nargs="+", action="extend", metavar="PATH", help="also ingest these PDFs/folders")
    p.add_argument("--base", type=Path, help="folder the QA file's pdf paths start from (default: its folder's parent)")
    p.add_argument("--json", metavar="FILE", help="write the full report (metrics and every ranked list) here")
    p.add_argument("--limit", type=positive_int, help="only the first N questions")
    p.add_argument(
        "--answers",
        action="store_true",
        help="ask each question through the chat (Ollama at OLLAMA_HOST) and score the answers against the gold"
        " answers: baseline top chunks vs page context (see rag/eval/answers.py)",
    )
    p.add_argument("--model", help="with --answers: the Ollama model (default: RAG_LLM_MODEL)")
    p.add_argument(
        "--absent-collection",
        metavar="NAME",
        help="with --answers: ask the questions whose gold documents NAME lacks there (default: keep each"
        " question's issuer out of retrieval in the collection itself)",
    )
    p.add_argument("--no-absent", action="store_true", help="with --answers: no absent-document questions")
    p.set_defaults(func=cmd_eval)
    return p
