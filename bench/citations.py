"""Every citation of an answer benchmark run beside the lines of its passage that bear on it, to check the
support check by hand.

    python bench/citations.py ANSWERS.json --data-dir DIR --collection NAME [--skip N] [--limit N]
        [--labels FILE]

ANSWERS.json is ``bench/answers.py --json``'s output for that collection. Each answer's sources are rebuilt as
the chat built them (the same retrieval and page context; a record whose rebuilt sources differ from the ones it
recorded is left out and counted: the collection or the code changed since). Its text goes through today's
citation move and support check (``rag.answer.repoint``, ``rag.answer.support``), and each (sentence, source)
check is printed, numbered, with the verdict, the figures the source lacks, the share of words, and the cited
passage's lines that hold one of the sentence's figures or two of its words.

With ``--labels FILE`` (lines "N yes" or "N no", written after reading the printout: does the passage say what
the sentence says?) the checker's agreement with them is printed, and each disagreement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("answers", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--skip", type=int, default=0, help="checks to pass over before printing")
    p.add_argument("--limit", type=int, help="checks to print")
    p.add_argument("--labels", type=Path, help='"N yes|no" lines: the hand verdict of check N')
    args = p.parse_args(argv)
    os.environ["RAG_DATA_DIR"] = str(args.data_dir)
    from rag.answer.figures import figures
    from rag.answer.repoint import repoint_citations
    from rag.answer.support import check_support
    from rag.answer.terms import key_terms
    from rag.eval.answers import searcher, source_label
    from rag.library import Library
    from rag.settings import Settings

    lib = Library(Settings.from_env())
    labels = {}
    if args.labels:
        for line in args.labels.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                number, verdict = line.split()
                labels[int(number)] = verdict.lower() in ("yes", "y", "1", "true")
    retrieve, expand = searcher(lib, args.collection), lib.expander(args.collection)
    records = json.loads(args.answers.read_text(encoding="utf-8"))["records"]
    number, changed, checker = 0, 0, {}
    try:
        for r in records:
            if r["kind"] != "answerable" or r["mode"] != "answer" or r["declined"] or not r["citations"]:
                continue
            sources = tuple(expand(tuple(retrieve(r["question"], lib.settings.answer.top_k))))
            if [source_label(h) for h in sources] != list(r["sources"]):
                changed += 1
                continue
            passages = {i: h.chunk.text for i, h in enumerate(sources, 1)}
            text, _ = repoint_citations(r["text"], passages)
            for check in check_support(text, passages, question=r["question"]).checks:
                number += 1
                checker[number] = check.supported
                if number <= args.skip or (args.limit is not None and number > args.skip + args.limit):
                    continue
                verdict = "supported" if check.supported else "not supported"
                print(
                    f"#{number} {r['id']} [{check.source}] {source_label(sources[check.source - 1])}: {verdict}"
                    f" (words {check.term_share:.2f}"
                    + (f", lacks {', '.join(check.missing_numbers)})" if check.missing_numbers else ")")
                )
                print(f"   question: {r['question'][:200]}")
                print(f"   sentence: {check.sentence[:400]}")
                keys, terms = {f.key for f in figures(check.sentence)}, key_terms(check.sentence)
                for line in passages[check.source].splitlines():
                    if keys & {f.key for f in figures(line)} or len(terms & key_terms(line)) >= 2:
                        print(f"     | {line[:240]}")
    finally:
        lib.close()
    print(f"{number} checks, {sum(checker.values())} supported; {changed} answers left out (sources changed)")
    if labels:
        judged = [n for n in labels if n in checker]
        agree = [n for n in judged if labels[n] == checker[n]]
        print(f"agreement with the hand labels: {len(agree)}/{len(judged)}")
        for n in sorted(set(judged) - set(agree)):
            print(
                f"  #{n}: checker {'supported' if checker[n] else 'not supported'}, by hand "
                f"{'supported' if labels[n] else 'not supported'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
