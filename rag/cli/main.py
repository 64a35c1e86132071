"""Command-line interface: ``python -m rag ingest|list|delete|search|ask``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.cli import common
from rag.cli.common import BarProgress, positive_int, summary
from rag.errors import RagError
from rag.models import ocr_label
from rag.retrieve.modes import SEARCH_MODES
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answer.chat import Answer

log = logging.getLogger(__name__)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    lib = common.open_library(settings)
    try:
        results = lib.ingest(
            args.paths,
            args.collection,
            password=args.password,
            keep_both=args.keep_both,
            progress=None if args.quiet else BarProgress(),
            ocr=args.ocr,
        )
    finally:
        lib.close()
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False))
    else:
        print(summary(results))
    return 0 if all(r.ok for r in results) else 1


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    lib = common.open_library(settings)
    collections = lib.collections()
    if args.collection:
        collections = [c for c in collections if c.name == args.collection]
    docs = {c.name: lib.documents(c.name) for c in collections}
    if args.json:
        payload = [
            {**c.__dict__, "documents": [{**d.__dict__, "warnings": list(d.warnings)} for d in docs[c.name]]}
            for c in collections
        ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if not collections:
        print("no collections yet: ingest some PDFs with `python -m rag ingest FILE...`")
        return 0
    import pandas as pd

    for c in collections:
        print(f"collection {c.name!r}: {len(docs[c.name])} documents, {c.chunks} chunks, model {c.embedding_model}")
        if docs[c.name]:
            frame = pd.DataFrame(
                [
                    {
                        "id": d.doc_id[:12],
                        "file": d.file_name,
                        "pages": d.pages,
                        "chunks": d.chunks,
                        "ocr": d.ocr_summary,
                        "ingested": d.ingested_at.replace("T", " ")[:16],
                    }
                    for d in docs[c.name]
                ]
            )
            print(frame.to_string(index=False))
        print()
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    lib = common.open_library(settings)
    doc = lib.delete_document(args.collection or settings.storage.collection, args.doc)
    print(f"deleted {doc.file_name} ({doc.doc_id[:12]}, {doc.chunks} chunks)")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    lib = common.open_library(settings)
    hits = lib.search(args.query, args.collection, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for rank, h in enumerate(hits, 1):
        c = h.chunk
        pages = f"p. {c.page + 1}" + (f"-{c.page_end + 1}" if c.page_end != c.page else "")
        parts = []
        if h.dense_score is not None:
            parts.append(f"dense {h.dense_score:.3f}" + (f" #{h.dense_rank}" if h.dense_rank else ""))
        if h.lexical_score is not None:
            parts.append(f"bm25 {h.lexical_score:.2f} #{h.lexical_rank}")
        if h.rerank_score is not None:
            parts.append(f"rerank {h.rerank_score:.3f}")
        if h.statement:
            parts.append(f"placed: the {h.statement} the question calls for")
        if c.ocr:
            parts.append(ocr_label(c.ocr, c.ocr_confidence))
        detail = f" ({', '.join(parts)})" if parts else ""
        print(f"{rank}. {c.file_name}  {pages}  score {h.score:.3f}{detail}")
        text = " ".join(c.text.split())
        print(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0


#: How ``rag ask`` marks a cited source's support check.
_SUPPORT_WORDS = {"supported": "✓ supports", "not_found": "✗ not in source", "partly": "~ partly supports"}


def _print_sources(answer: Answer) -> None:
    """The numbered sources with file, page and scores, the cited ones marked with their support check."""
    from rag.answer.citations import source_label
    print("sources:")
    support = answer.support.source_marks() if answer.support else {}
    for n, hit in enumerate(answer.hits, 1):
        mark = "cited" if n in answer.cited else "     "
        scores = f"score {hit.score:.3f}" + (f", dense {hit.dense_score:.3f}" if hit.dense_score is not None else "")
        if hit.chunk.ocr:
            scores += ", " + ocr_label(hit.chunk.ocr, hit.chunk.ocr_confidence)
        label = source_label(hit.chunk.file_name, hit.chunk.page, hit.chunk.page_end)
        checked = ""
        if n in support and answer.support is not None:
            missing = answer.support.missing_for(n)
            checked = "  " + _SUPPORT_WORDS[support[n]] + (f" (lacks {', '.join(missing)})" if missing else "")
        print(f"  [{n}] {mark} {label}  ({scores}){checked}")
        if answer.mode != "answer":  # no generated text: the passages are the answer
            text = " ".join(hit.chunk.text.split())
            print(f"       {text[:300]}{'…' if len(text) > 300 else ''}")


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.answer.chat import ChatSession
    from rag.answer.llm import OllamaLLM

    config = settings.answer
    if args.k:
        config = replace(config, top_k=args.k)
    if args.model:
        settings = settings.with_(llm_model=args.model)
    lib = common.open_library(settings)
    collection = args.collection or settings.storage.collection
    lib.open_collection(collection)  # fail early, with the reason, on a missing or mismatched collection
    llm = None if args.no_llm else OllamaLLM.from_settings(settings, timeout_s=config.timeout_s)
    # The same retrieval (RAG_SEARCH_MODE, with its fallback), page context (RAG_CONTEXT_TOKENS) and not-found
    # evidence as the app's chat.
    retriever = lib.retriever(collection)
    session = ChatSession(retriever, llm, config, expand=lib.expander(collection), openings=lib.openings(collection))
    stream = session.ask(args.question)
    if stream.standalone_query != args.question:
        print(f"(searching for: {stream.standalone_query})", file=sys.stderr)
    for delta in stream:
        sys.stdout.write(delta)
        sys.stdout.flush()
    answer = stream.result()
    for note in retriever.notes:
        print(f"note: {note}", file=sys.stderr)
    if answer.mode == "search_only":
        print("[search only: no answer was generated; the best passages are below]")
    if answer.declined:  # the model's refusal was printed as it came; the app's own wording follows
        print(f"\n[not found] {answer.text}")
    print()
    if answer.error:
        print(f"[{answer.mode}] {answer.error}", file=sys.stderr)
    if answer.incomplete:
        print("[the answer is incomplete]", file=sys.stderr)
    _print_sources(answer)
    if answer.invalid_citations:
        shown = ", ".join(f"[{n}]" for n in answer.invalid_citations)
        print(f"warning: the answer cites {shown}, which it was not given: not sources, ignore them", file=sys.stderr)
    if answer.asked_again and not answer.incomplete:  # the stream showed both replies
        note = "note: the model's first reply only pointed to its sources; it was asked again for words"
        print(note, file=sys.stderr)
    if answer.pointers_only and not answer.incomplete:
        print("warning: the model gave no answer in words, only source numbers (or nothing)", file=sys.stderr)
    if answer.mode == "answer" and answer.uncited and not answer.declined:
        print("warning: the answer cites none of the sources; check it against them", file=sys.stderr)
    if answer.support is not None and answer.support.unsupported_numbers:
        shown = ", ".join(answer.support.unsupported_numbers)
        print(f"warning: numbers in the answer that appear in none of the sources: {shown}", file=sys.stderr)
    for move in answer.moved_citations:  # the streamed text showed the model's numbers
        print(f"note: {move.note()}", file=sys.stderr)
    for note in answer.wrong_arithmetic:
        print(f"warning: {note}", file=sys.stderr)
    if answer.dropped_sources:
        print(f"note: {answer.dropped_sources} lower-ranked sources did not fit the model's context", file=sys.stderr)
    return 0 if answer.mode in ("answer", "not_found", "search_only") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Chat with your PDFs, locally.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add PDF files or folders to a collection")
    p.add_argument("paths", nargs="+", help="PDF files or folders (searched recursively)")
    p.add_argument("--collection", help="collection name (default: RAG_COLLECTION)")
    p.add_argument("--password", help="password for encrypted PDFs")
    p.add_argument("--keep-both", action="store_true", help="keep older versions of files with the same name")
    p.add_argument(
        "--ocr",
        choices=("auto", "off", "force"),
        help="OCR for this run (default: RAG_OCR). force: OCR every page, ignoring text layers, and re-read files"
        " already in the collection (the new reading replaces the old one)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("list", help="collections and their documents")
    p.add_argument("--collection", help="only this collection")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("delete", help="remove a document (by id, id prefix or file name)")
    p.add_argument("doc")
    p.add_argument("--collection")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("search", help="the best passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=positive_int, default=5, help="number of results (default 5)")
    p.add_argument("--collection")
    p.add_argument("--mode", choices=SEARCH_MODES, help="retrieval mode (default: RAG_SEARCH_MODE)")
    p.add_argument("--json", action="store_true", help="print hits as JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question from the documents with the local Ollama model")
    p.add_argument("question")
    p.add_argument("--collection")
    p.add_argument("--model", help="Ollama model (default: RAG_LLM_MODEL)")
    p.add_argument("-k", type=positive_int, default=None, help="passages to retrieve (default: RAG_TOP_K)")
    p.add_argument("--no-llm", action="store_true", help="search-only: show the best passages, generate nothing")
    p.set_defaults(func=cmd_ask)
    from rag.cli.eval import add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args, Settings.from_env())
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
