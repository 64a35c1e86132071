"""Page context at several token budgets against today's top-k chunks: prompt size and answer-bearing text.

    python bench/context.py QA.jsonl --data-dir DIR --collection NAME [--budgets 600,900,1200,1400,1600]
        [--page-tokens 400] [-k 6]

For each question of a FinanceBench-style set (``answer``, ``evidence[].evidence_text``, ``page_index0``) the
real retrieval runs against an ingested collection, and the model's sources are built two ways: the
baseline (the top k chunks as they are, what the chat sent before rag/answer/context.py), the same chunks cut to each
budget ("top chunks within": rank order, the rest dropped) and page context (``rag.answer.context``) at each budget
and page share (``--page-tokens``). For each it prints:

- median and p90 prompt tokens: the real prompt (``build_answer_prompt``, 8192-token window) as
  ``estimate_tokens`` counts it (the count the prompt is fitted with; it reads high: 3 characters a token);
- answer-bearing: the share of questions whose sources hold the gold answer's text. When the gold answer
  has figures (years aside) that also appear in the gold evidence (the same figure, or the answer a
  rounding of it: ``rag.answer.support``), every such figure of the evidence must be in the sources. Otherwise
  (answers computed from the evidence, or in words) the 40-word window of the evidence that shares most
  content words with the question and the answer (the first, on a tie) is the key passage, and at least 60%
  of its content words (``rag.answer.terms.key_terms``) must be in the sources;
- gold page: the share of questions with a gold evidence page among the sources' pages;
- sources: mean number of sources in the prompt; widened: how many of them hold more than their hit's chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer.context import PAGE_TOKENS, assemble, page_contexts  # noqa: E402
from rag.answer.figures import figures, found_in  # noqa: E402
from rag.answer.prompt import build_answer_prompt  # noqa: E402
from rag.answer.terms import key_terms  # noqa: E402
from rag.eval.qa import load_questions  # noqa: E402
from rag.models import Hit  # noqa: E402

_WINDOW_WORDS = 40
_WINDOW_SHARE = 0.6
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True)
class Gold:
    """What the sources must hold: the evidence's figures the answer uses, or its key passage's terms."""

    figures: tuple[tuple[str, ...], ...]  # per answer figure: the evidence figures' keys that match it
    passage: frozenset[str]


def gold_for(question: str, answer: str, evidence: list[str]) -> Gold:
    """The answer-bearing text of one question (see the module docstring)."""
    ev_figs = [f for text in evidence for f in figures(text)]
    ev_keys = {f.key for f in ev_figs}
    wanted = []
    for fig in figures(answer):
        if fig.is_date or (_YEAR.fullmatch(fig.key) and fig.scale == 1):
            continue
        matches = tuple(sorted({e.key for e in ev_figs if not e.is_date and found_in(fig, {e.key}, [e])}))
        if fig.key in ev_keys:
            matches = tuple(sorted({fig.key, *matches}))
        if matches:
            wanted.append(matches)
    # The question names what a computed answer is made of ("FY2019 revenue / average PP&E"): its rows.
    answer_terms = key_terms(answer) | key_terms(question)
    best: frozenset[str] = frozenset()
    best_shared = -1
    for text in evidence:
        words = text.split()
        for start in range(0, max(1, len(words) - _WINDOW_WORDS + 1)):
            terms = frozenset(key_terms(" ".join(words[start : start + _WINDOW_WORDS])))
            shared = len(terms & answer_terms)
            if shared > best_shared and terms:
                best, best_shared = terms, shared
    return Gold(tuple(wanted), best)


def answer_bearing(gold: Gold, text: str) -> bool:
    if gold.figures:
        keys = {f.key for f in figures(text)}
        return all(any(k in keys for k in options) for options in gold.figures)
    if not gold.passage:
        return False
    return len(gold.passage & key_terms(text)) / len(gold.passage) >= _WINDOW_SHARE


def on_gold_page(sources: tuple[Hit, ...], pages) -> bool:
    held = {(c.file_name, p) for c in (h.chunk for h in sources) for p in range(c.page, c.page_end + 1)}
    return any((g.file_name, g.page) in held for g in pages)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qa", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--budgets", default="600,900,1200,1400,1600")
    p.add_argument("--page-tokens", default=str(PAGE_TOKENS), help="comma-separated: most tokens per page")
    p.add_argument("-k", type=int, default=6)
    args = p.parse_args(argv)
    os.environ["RAG_DATA_DIR"] = str(args.data_dir)
    from rag.library import Library
    from rag.settings import Settings

    rows = {json.loads(line)["id"]: json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()}
    lib = Library(Settings.from_env())
    col = lib.open_collection(args.collection)

    def fetch(ids):
        return lib.store.chunks_by_id(col, ids)

    budgets = [int(b) for b in args.budgets.split(",")]
    caps = [int(c) for c in args.page_tokens.split(",")]
    # "top chunks" rows: the same budget filled with the hits' own chunks alone, no page context.
    variants = [("baseline", None, None)]
    variants += [(f"top chunks within {b}", b, 0) for b in budgets]
    variants += [(f"{b} / page {c}", b, c) for c in caps for b in budgets]
    results: dict[str, list[tuple[int, bool, bool, int, int]]] = {name: [] for name, _, _ in variants}
    questions = [q for q in load_questions(args.qa) if q.pages]
    evidence = {q.id: [str(e.get("evidence_text") or "") for e in rows[q.id].get("evidence") or []] for q in questions}
    golds = {q.id: gold_for(q.question, q.answer, evidence[q.id]) for q in questions}
    for q in questions:
        gold = golds[q.id]
        hits = lib.search(q.question, args.collection, k=args.k)
        pages = page_contexts(hits, fetch)
        alone = page_contexts(hits, fetch, window=0)
        for name, budget, cap in variants:
            if budget is None:
                sources = hits
            else:
                sources = assemble(alone if cap == 0 else pages, budget, page_tokens=cap or budget)
            plan = build_answer_prompt(q.question, sources, 8192)
            text = "\n".join(h.chunk.text for h in plan.sources)
            results[name].append(
                (
                    plan.prompt_tokens,
                    answer_bearing(gold, text),
                    on_gold_page(plan.sources, q.pages),
                    len(plan.sources),
                    sum(s.chunk.text != h.chunk.text for s, h in zip(plan.sources, hits)),
                )
            )
    lib.close()
    with_figures = sum(bool(g.figures) for g in golds.values())
    print(f"{args.qa.name}: {len(questions)} questions ({with_figures} judged by figures), k={args.k}")
    print("| context | median prompt tokens | p90 | answer-bearing | gold page | sources | widened |")
    print("|---|---|---|---|---|---|---|")
    for name, _, _ in variants:
        got = results[name]
        tokens = [r[0] for r in got]
        share = statistics.mean(r[1] for r in got)
        page = statistics.mean(r[2] for r in got)
        n = statistics.mean(r[3] for r in got)
        widened = statistics.mean(r[4] for r in got)
        print(
            f"| {name} | {statistics.median(tokens):.0f} | {percentile(tokens, 0.9):.0f} | {share:.3f} | {page:.3f} "
            f"| {n:.1f} | {widened:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
