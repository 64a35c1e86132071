"""The not-found gate's precision and recall: dense threshold alone (before) against threshold + evidence.

    python bench/notfound.py QA.jsonl:DATA_DIR:COLLECTION [QA.jsonl:DATA_DIR:COLLECTION ...]

Each collection is one made by ``python -m rag eval QA.jsonl --ingest`` (RAG_DATA_DIR=DATA_DIR). Every
question goes through ``ChatSession`` without a model (the gate decides before any model is asked), with the
chat's retrieval and the documents' openings, in four groups:

- answerable: the set's own questions whose gold documents the collection holds (the gate should pass them);
- absent: the same questions with every document of their issuer kept out of retrieval, as ``bench/answers.py``
  asks them (``rag.eval.answers.issuer``: for FinanceBench that is the company; for Docugami and the Korean set,
  whose file names do not start with the issuer, only the gold file, so other filings of the same company or
  programme stay and the "absent" group is not truly absent there: reported, not counted in precision/recall;
  for those sets "set out" asks the questions with every gold document of the whole set kept out instead, which
  leaves the collection's other documents: the Korean manuals for the Korean fiscal questions);
- other documents: the other sets' questions (their documents are not in this collection);
- off-topic: everyday questions (``bench/threshold.py``).

Positive = "should be not found" (absent where it is truly absent, other, off-topic). Precision: the share of
gated questions that should be; recall: the share of those that are gated; "answerable refused": the share of
answerable questions the gate stops (the issue asks for <= 10%).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from threshold import OFF_TOPIC, parse_sets  # noqa: E402  (bench/ is not a package)

GATES = {
    "dense 0.25 (before)": {"min_score": 0.25, "evidence_gate": False},
    "dense 0.25 + evidence (default)": {"min_score": 0.25, "evidence_gate": True},
    "evidence only": {"min_score": -1.0, "evidence_gate": True},
}
TRULY_ABSENT = {"financebench_dev"}  # sets whose file names start with the issuer (see the docstring)


@dataclass(frozen=True)
class Case:
    group: str
    question: str
    hits: tuple
    openings: tuple[str, ...]


def cases(lib, collection: str, questions, others: Sequence[str], *, set_out: bool) -> list[Case]:
    """Each question retrieved once, as the chat retrieves it; the gates are then judged on the same hits."""
    from rag.eval.answers import issuer, searcher
    from rag.eval.qa import file_key

    present = {file_key(d.file_name) for d in lib.documents(collection)}
    by_issuer: dict[str, set[str]] = {}
    for name in present:
        by_issuer.setdefault(issuer(name), set()).add(name)
    openings = lib.openings(collection)
    out: list[Case] = []

    def add(group: str, question: str, excluded: set[str] | None = None) -> None:
        hits = tuple(searcher(lib, collection, excluded)(question, 6))
        out.append(Case(group, question, hits, tuple(openings(hits)) if hits else ()))

    gold = {doc for q in questions for doc in q.docs}
    set_out = set_out and bool(present - gold)  # with nothing else in the collection it would be empty
    for q in questions:
        if not set(q.docs) <= present:
            continue
        add("answerable", q.question)
        add("absent", q.question, {d for doc in q.docs for d in by_issuer.get(issuer(doc), {doc})})
        if set_out:
            add("set out", q.question, gold)
    for question in others:
        add("other documents", question)
    for question in OFF_TOPIC:
        add("off-topic", question)
    return out


def gated(case: Case, gate: dict) -> bool:
    from rag.answer.chat import ChatSession
    from rag.settings import AnswerSettings

    config = AnswerSettings(top_k=6, rewrite_followups=False, **gate)
    session = ChatSession(lambda query, k: list(case.hits), None, config, openings=lambda hits: list(case.openings))
    return session.answer(case.question).mode == "not_found"


def report(name: str, all_cases: list[Case], truly_absent: bool) -> None:
    groups = ["answerable", "absent", "other documents", "off-topic"]
    groups += ["set out"] if any(c.group == "set out" for c in all_cases) else []
    counts = {g: sum(c.group == g for c in all_cases) for g in groups}
    print(f"\n{name}: " + ", ".join(f"{g} {n}" for g, n in counts.items()))
    print(
        f"{'gate':34}{'answerable refused':>20}{'absent':>9}{'set out':>9}{'other':>9}{'off-topic':>11}"
        f"{'precision':>11}{'recall':>8}"
    )
    for label, gate in GATES.items():
        stopped = {g: [gated(c, gate) for c in all_cases if c.group == g] for g in groups}
        negatives = ["other documents", "off-topic"] + (["absent"] if truly_absent else groups[4:])
        tp = sum(sum(stopped[g]) for g in negatives)
        fp = sum(stopped["answerable"])
        positives = sum(len(stopped[g]) for g in negatives)
        share = {g: sum(v) / len(v) if v else float("nan") for g, v in stopped.items()}
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / positives if positives else float("nan")
        absent = f"{share['absent']:.1%}" + ("" if truly_absent else "*")
        out = f"{share['set out']:.1%}" if "set out" in share else "-"
        print(
            f"{label:34}{share['answerable']:20.1%}{absent:>9}{out:>9}{share['other documents']:9.1%}"
            f"{share['off-topic']:11.1%}{precision:11.3f}{recall:8.3f}"
        )
    if not truly_absent:
        print("* not truly absent (same issuer's other documents stay): not counted in precision/recall")


def main(argv: list[str] | None = None) -> int:
    from rag.library import Library
    from rag.settings import Settings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="+", metavar="QA.jsonl:DATA_DIR:COLLECTION")
    p.add_argument("--others", type=int, default=40, help="questions taken from each other set (default 40)")
    args = p.parse_args(argv)
    sets = parse_sets(args.sets)
    for qa, data_dir, collection, questions in sets:
        others = [q.question for other in sets if other[0] != qa for q in other[3][: args.others]]
        lib = Library(Settings.from_env().with_(data_dir=data_dir))
        try:
            all_cases = cases(lib, collection, questions, others, set_out=qa.stem not in TRULY_ABSENT)
        finally:
            lib.close()
        report(f"{qa.name} on {collection!r}", all_cases, qa.stem in TRULY_ABSENT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
