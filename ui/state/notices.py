"""What the pages say beside an answer, as plain data: its notices, the sources table's rows and labels, and
the search modes' labels. Nothing here imports streamlit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.citations import page_ref
from rag.answer.declined import declined_text
from rag.models import ocr_label
from rag.retrieve.modes import MODES


def pages_label(source: dict) -> str:
    """ "4" or "4–5" (1-based) for a source dict."""
    return page_ref(int(source.get("page", 0)), source.get("page_end")).split(" ", 1)[1]


@dataclass(frozen=True)
class Notice:
    """How to headline an answer: ``level`` is "success", "info", "warning" or "error"."""

    level: str
    text: str


def answer_notices(message: dict) -> list[Notice]:
    """What an answer is, said plainly: not found, search only, failed, cut off, uncited."""
    mode, error = message.get("mode"), message.get("error")
    notices = []
    if mode == "not_found":
        notices.append(
            Notice(
                "warning",
                "Not found in your documents: no passage was relevant enough to answer from. "
                "The nearest passages are below; lower the relevance threshold in the sidebar to use them.",
            )
        )
    elif mode == "search_only":
        notices.append(Notice("info", error or "Search only: no language model answered. Best passages below."))
    elif mode == "error":
        notices.append(Notice("error", error or "No answer could be produced."))
    elif message.get("incomplete"):
        notices.append(Notice("warning", "Incomplete answer: " + (error or "the answer was cut off.")))
    elif mode == "answer" and message.get("declined"):
        # The model found no answer in the sources: the app says so, in the question's language.
        notices.append(Notice("warning", declined_text(message.get("question") or "")))
    declined = bool(message.get("declined"))
    if mode == "answer" and message.get("pointers_only") and not message.get("incomplete") and not declined:
        notices.append(
            Notice(
                "warning",
                pointers_only_text(message.get("sources") or (), asked_again=bool(message.get("asked_again"))),
            )
        )
    elif mode == "answer" and message.get("asked_again") and not declined:
        notices.append(Notice("info", ASKED_AGAIN_TEXT))
    if mode == "answer" and message.get("uncited") and not message.get("incomplete") and not declined:
        notices.append(
            Notice("warning", "This answer cites no source: check it against the passages below before relying on it.")
        )
    if mode == "answer" and not declined and message.get("unsupported_numbers"):
        numbers = ", ".join(message["unsupported_numbers"])
        notices.append(
            Notice("warning", f"Numbers in this answer that appear in none of its sources: {numbers}. Check them.")
        )
    if mode == "answer" and not declined:
        # The app changed what the model wrote: said beside the answer, never silently.
        notices.extend(Notice("info", note) for note in message.get("moved_citations") or ())
        # The model's own arithmetic, worked out again: a wrong result is the answer's error, not the sources'.
        notices.extend(Notice("warning", note) for note in message.get("wrong_arithmetic") or ())
    if message.get("dropped_sources"):
        n = message["dropped_sources"]
        notices.append(
            Notice("info", f"{n} more passage{'s' if n != 1 else ''} did not fit the model's context window.")
        )
    notices.extend(Notice("info", note) for note in message.get("notes") or ())
    return notices


#: The app asked the model a second time: said beside the answer, as every change to what the model wrote is.
ASKED_AGAIN_TEXT = "The model's first reply only pointed to its sources; it was asked again for the answer in words."


def pointers_only_text(sources: Sequence[dict], *, asked_again: bool = False) -> str:
    """What to say when the model answered with no words of its own, only source numbers (or nothing)."""
    cited = [str(s.get("n", i)) for i, s in enumerate(sources, 1) if s.get("cited")]
    where = ""
    if cited:
        where = f", only pointed to source{'s' if len(cited) > 1 else ''} " + (
            cited[0] if len(cited) == 1 else ", ".join(cited[:-1]) + " and " + cited[-1]
        )
        where += ": read " + ("it" if len(cited) == 1 else "them") + " below"
    again = ", even when asked a second time" if asked_again else ""
    return (
        f"The model gave no answer in words{again}{where}. Ask again, perhaps more precisely; "
        "a larger model answers more reliably."
    )


#: How a cited source's support check is shown: it holds the claim's figures and words, or it does not.
SUPPORT_LABELS = {"supported": "✓", "not_found": "not in source", "partly": "partly"}


def support_label(source: dict) -> str:
    """ "✓", "not in source" or "partly" for a checked citation; "" when the source was not checked."""
    return SUPPORT_LABELS.get(str(source.get("support")), "")


def source_rows(sources: Sequence[dict]) -> list[dict]:
    """One table row per source; retriever columns left None where that retriever did not score it."""
    return [
        {
            "#": s.get("n", i),
            "cited": bool(s.get("cited")),
            "supports": support_label(s),
            "file": s.get("file_name", "?"),
            "page": pages_label(s),
            "ocr": ocr_label(bool(s.get("ocr")), s.get("ocr_confidence")),
            "dense": s.get("dense_score"),
            "lexical": s.get("lexical_score"),
            "rerank": s.get("rerank_score"),
            "score": s.get("score"),
        }
        for i, s in enumerate(sources, 1)
    ]


#: How the compact table says whether the answer cites a source, and how its support check went.
CITED_LABELS = {"supported": "✓ holds", "not_found": "⚠ check", "partly": "◐ partly"}


def cited_label(source: dict) -> str:
    """ "" (not cited), "cited" (not checked), or the support check of a cited source: "✓ holds"..."""
    if not source.get("cited"):
        return ""
    return CITED_LABELS.get(str(source.get("support")), "cited")


def short_name(name: str, limit: int = 30) -> str:
    """A long file name shortened in the middle, keeping its end (often a date or version)."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[: keep - keep // 3] + "…" + name[-(keep // 3) :]


#: File names in the sources table: about 115 px of the 300 px a phone leaves beside a chat message's avatar.
TABLE_NAME_CHARS = 16


def table_file_name(name: str) -> str:
    """A file name as the sources table shows it: without ".pdf" (they all are), shortened in the middle."""
    stem = name[:-4] if name.lower().endswith(".pdf") and len(name) > 4 else name
    return short_name(stem, TABLE_NAME_CHARS)


def table_rows(sources: Sequence[dict], *, answered: bool) -> list[dict]:
    """The sources table as shown: narrow enough for a phone. Number, file (shortened in the middle, the full
    name is on the passage card), page, whether the answer cites it (only for an answer) and how its check went,
    who read it (only when OCR read one), and one relevance figure: the cosine similarity, on a fixed scale
    (-1 to 1), unlike BM25's; the keyword and ranking scores are on the passage cards."""
    ocr = any(s.get("ocr") for s in sources)
    rows = []
    for i, s in enumerate(sources, 1):
        row: dict = {"#": s.get("n", i), "file": table_file_name(str(s.get("file_name", "?")))}
        row["page"] = pages_label(s)
        if answered:
            row["cited"] = cited_label(s)
        if ocr:
            row["ocr"] = ocr_label(bool(s.get("ocr")), s.get("ocr_confidence"))
        row["match"] = s.get("dense_score")
        rows.append(row)
    return rows


#: How the chat's search modes are offered to users (the labels live with the modes).
MODE_LABELS = {mode: info.label for mode, info in MODES.items()}


def scores_text(source: dict) -> str:
    """Every score a passage got, each named with what it measures: the scales differ (a BM25 4.5 beside a
    cosine 0.72 says nothing about which is better)."""
    parts = []
    for name, label in (("dense", "match {:.2f} (cosine)"), ("lexical", "keywords {:.2f} (BM25)")):
        value = source.get(f"{name}_score")
        if value is not None:
            parts.append(label.format(value))
    if source.get("rerank_score") is not None:
        parts.append(f"reranker {source['rerank_score']:.3f}")
    score = source.get("score")
    if source.get("statement"):
        parts.append(f"placed here: the document's {source['statement']}, which the question's items call for")
    elif score is not None and score != source.get("dense_score"):
        parts.append(f"ranking {score:.4f} (the order: both rankings fused)")
    return " · ".join(parts)
