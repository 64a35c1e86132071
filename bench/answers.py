"""Answers end to end: each question through the real chat, scored against its gold answer, baseline vs page context.

    OLLAMA_HOST=http://127.0.0.1:11600 python bench/answers.py QA.jsonl --data-dir DIR --collection NAME --model M
        [--limit N] [--json FILE] [--absent-collection NAME | --no-absent]

A thin script over ``rag.eval.answers`` (the same as ``python -m rag eval QA.jsonl --answers``): one row per
configuration, the baseline (today's prompt with the top chunks as they are, ``expand=None``: it differs from
page context in the model's sources only) measured in the same run. See that module for the scoring.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qa", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--model", help="Ollama model (default: RAG_LLM_MODEL)")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", type=Path, help="write every answer and the table's rows here")
    p.add_argument("--absent-collection", help="ask the questions whose gold documents this collection lacks there")
    p.add_argument("--no-absent", action="store_true", help="no absent-document questions")
    p.add_argument("--only", choices=("baseline", "page"), help="run one configuration (to compare two checkouts)")
    args = p.parse_args(argv)
    os.environ["RAG_DATA_DIR"] = str(args.data_dir)
    from rag.eval.answers_report import run_command
    from rag.library import Library
    from rag.settings import Settings

    lib = Library(Settings.from_env())
    try:
        report = run_command(
            args.qa,
            lib,
            collection=args.collection,
            model=args.model,
            limit=args.limit,
            json_path=args.json,
            absent=not args.no_absent,
            absent_collection=args.absent_collection,
            only=args.only,
            log_to=lambda line: print(line, file=sys.stderr, flush=True),
        )
    finally:
        lib.close()
    return 1 if any(s.errors for s in report.summaries) else 0


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # A run in the background (nohup, &) starts with SIGINT ignored; `kill` (SIGTERM) or Ctrl-C stops it the
    # same way: the questions that finished are scored and printed.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)
    raise SystemExit(main())
