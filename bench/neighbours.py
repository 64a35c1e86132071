"""Neighbour expansion: does adding each hit's neighbouring chunks put more gold pages before the model?

    python bench/neighbours.py QA.jsonl --data-dir DIR --collection NAME [-k 6] [--window 1]

For each question with evidence pages (a collection made by ``python -m rag eval QA.jsonl --ingest``),
the context the model would get is compared at equal size, counted in chunks:

- top k hits, each with ``window`` chunks before and after it (what expansion would send);
- the top n hits, n being the size of that expanded context (what a larger top-k sends instead).

It prints the share of gold pages each context covers (page recall) and its mean size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def covered(chunks, gold) -> float:
    pages = {(c.file_name, p) for c in chunks for p in range(c.page, c.page_end + 1)}
    return sum((g.file_name, g.page) in pages for g in gold) / len(gold)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qa", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("-k", type=int, default=6)
    p.add_argument("--window", type=int, default=1)
    args = p.parse_args(argv)
    os.environ["RAG_DATA_DIR"] = str(args.data_dir)
    from rag.eval.qa import load_questions
    from rag.library import Library
    from rag.settings import Settings

    lib = Library(Settings.from_env())
    col = lib.open_collection(args.collection)
    expanded_recall, plain_recall, top_k_recall, sizes = [], [], [], []
    for q in (q for q in load_questions(args.qa) if q.pages):
        hits = lib.search(q.question, args.collection, k=args.k, mode="hybrid")
        ids = []
        for h in hits:
            doc, pos = h.chunk.doc_id, h.chunk.position
            ids += [f"{doc}:{i}" for i in range(max(0, pos - args.window), pos + args.window + 1)]
        context = lib.store.chunks_by_id(col, list(dict.fromkeys(ids)))
        n = len(context)
        wider = lib.search(q.question, args.collection, k=n, mode="hybrid")
        expanded_recall.append(covered(context, q.pages))
        plain_recall.append(covered([h.chunk for h in wider], q.pages))
        top_k_recall.append(covered([h.chunk for h in hits], q.pages))
        sizes.append(n)
    lib.close()
    print(f"{args.qa.name}: {len(sizes)} questions with evidence pages, collection {args.collection!r}")
    print(f"top {args.k} hits alone:                     gold-page coverage {np.mean(top_k_recall):.3f}")
    print(
        f"top {args.k} hits + {args.window} neighbour(s) each side: gold-page coverage {np.mean(expanded_recall):.3f}, "
        f"{np.mean(sizes):.1f} chunks"
    )
    print(f"top n hits, same n chunks:              gold-page coverage {np.mean(plain_recall):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
