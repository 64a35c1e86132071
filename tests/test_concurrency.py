"""Several sessions at once: Streamlit runs each browser session as a thread of one process."""

import threading

from tests.conftest import shared_path

FILES = [
    ("general", "attention_vaswani2017_arxiv1706.03762.pdf"),
    ("general", "dpr_karpukhin2020_arxiv2004.04906.pdf"),
    ("general", "realm_guu2020_arxiv2002.08909.pdf"),
    ("korean", "cjk-ko_manual_6p.pdf"),
]


def _run_threads(targets):
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def wrap(fn):
        def run():
            start.wait()  # all begin at the same moment
            try:
                fn()
            except BaseException as e:  # collected and re-raised in the test thread
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors


def test_four_sessions_ingest_and_search_at_once(library):
    library.ingest([shared_path("pdfs", "general", "rag_lewis2020_arxiv2005.11401.pdf")])
    results, hits = {}, {}

    def session(i):
        def run():
            [results[i]] = library.ingest([shared_path("pdfs", *FILES[i])])
            for _ in range(3):
                hits[i] = library.search("retrieval-augmented generation", k=5)

        return run

    _run_threads([session(i) for i in range(4)])
    assert all(r.status == "ingested" for r in results.values()), [r.reason for r in results.values()]
    docs = library.documents("documents")
    assert len(docs) == 5 and len({d.doc_id for d in docs}) == 5
    assert library.open_collection("documents").count() == sum(d.chunks for d in docs)
    assert all(len(h) == 5 for h in hits.values())


def test_the_same_file_uploaded_twice_at_the_same_moment_goes_in_once(library):
    pdf = shared_path("pdfs", *FILES[0])
    results = []
    _run_threads([lambda: results.extend(library.ingest([pdf])) for _ in range(2)])
    assert sorted(r.status for r in results) == ["duplicate", "ingested"]
    [doc] = library.documents("documents")
    ingested = next(r for r in results if r.status == "ingested")
    assert doc.chunks == ingested.chunks == library.open_collection("documents").count()
