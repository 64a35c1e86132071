"""Not-found threshold calibration: the gate's score for questions a collection can and cannot answer.

    python bench/threshold.py QA.jsonl:DATA_DIR:COLLECTION [QA.jsonl:DATA_DIR:COLLECTION ...]

Each collection is one made by ``python -m rag eval QA.jsonl --ingest`` (RAG_DATA_DIR=DATA_DIR). For
each, three groups of questions are searched as the chat does (hybrid, top 6) and the gate's score
is taken, the best cosine similarity among the hits (``chat.relevance``):

- answerable: the collection's own questions whose gold documents it holds;
- other documents: the other sets' questions (same kind of text, but their documents are not there);
- off-topic: everyday questions no document collection of this kind answers.

It prints the score percentiles of each group, then, for each threshold, the share of answerable
questions the gate would refuse and of the other two groups it would let through.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OFF_TOPIC = [
    "How long should I boil an egg for a soft yolk?",
    "What is the capital of Australia?",
    "How do I get red wine out of a carpet?",
    "Who won the football world cup in 2014?",
    "What is a good name for a golden retriever puppy?",
    "How many legs does a spider have?",
    "What is the best way to learn to play the guitar?",
    "When should tomato seedlings be planted outside?",
    "What time does the sun set in Oslo in December?",
    "How do I change a flat bicycle tyre?",
    "Which planet has the most moons?",
    "What is a traditional recipe for sourdough bread?",
    "How do I fold a paper crane?",
    "Why is the sky blue?",
    "What should I pack for a week of hiking in the Alps?",
    "How do I say thank you in Japanese?",
    "What is the plot of Romeo and Juliet?",
    "How often should I water a cactus?",
    "오늘 저녁 메뉴로 무엇을 추천하나요?",
    "강아지 산책은 하루에 몇 번 해야 하나요?",
]
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def gate_scores(lib, collection: str, questions: list[str]) -> np.ndarray:
    from rag.answer.chat import relevance

    out = []
    for q in questions:
        hits = lib.search(q, collection, k=6, mode="hybrid")
        out.append(max((relevance(h) for h in hits), default=-1.0))
    return np.array(out)


def parse_sets(specs: list[str]) -> list[tuple[Path, Path, str, list]]:
    """``QA.jsonl:DATA_DIR:COLLECTION`` specs as (QA path, data dir, collection, its questions)."""
    from rag.eval.qa import load_questions

    sets = []
    for spec in specs:
        qa, data_dir, collection = spec.rsplit(":", 2)
        sets.append((Path(qa), Path(data_dir), collection, load_questions(qa)))
    return sets


def main(argv: list[str] | None = None) -> int:
    from rag.library import Library
    from rag.settings import Settings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="+", metavar="QA.jsonl:DATA_DIR:COLLECTION")
    args = p.parse_args(argv)
    sets = parse_sets(args.sets)
    for qa, data_dir, collection, questions in sets:
        others = [q.question for other in sets if other[0] != qa for q in other[3]]
        lib = Library(Settings.from_env().with_(data_dir=data_dir))
        try:
            groups = {
                "answerable": gate_scores(lib, collection, [q.question for q in questions]),
                "other documents": gate_scores(lib, collection, others),
                "off-topic": gate_scores(lib, collection, OFF_TOPIC),
            }
        finally:
            lib.close()
        print(f"\n{qa.name} on its collection {collection!r} ({data_dir})")
        print(f"{'group':16}{'n':>5}{'min':>7}{'p5':>7}{'p25':>7}{'p50':>7}{'p75':>7}{'p95':>7}{'max':>7}")
        for name, s in groups.items():
            pct = np.percentile(s, [0, 5, 25, 50, 75, 95, 100])
            print(f"{name:16}{len(s):5d}" + "".join(f"{v:7.3f}" for v in pct))
        print(f"{'threshold':>10}{'answerable refused':>20}{'other docs passed':>19}{'off-topic passed':>18}")
        for t in THRESHOLDS:
            refused = float(np.mean(groups["answerable"] < t))
            passed_other = float(np.mean(groups["other documents"] >= t))
            passed_off = float(np.mean(groups["off-topic"] >= t))
            print(f"{t:10.2f}{refused:20.1%}{passed_other:19.1%}{passed_off:18.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
