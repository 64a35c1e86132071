import time

import pytest

from rag.errors import ExtractionTimeout, PasswordRequired, ResourceLimitError
from rag.models import Page
from rag.worker import ExtractionPool, Opened
from tests.conftest import shared_path


def _drain(job):
    events = list(job.events())
    assert isinstance(events[0], Opened)
    return events[0].n_pages, [e for e in events[1:] if isinstance(e, Page)]


def test_pages_stream_in_order_and_workers_are_reused():
    a = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    b = shared_path("pdfs", "general", "dpr_karpukhin2020_arxiv2004.04906.pdf")
    with ExtractionPool(1) as pool:
        jobs = [pool.submit(a), pool.submit(b, "renamed.pdf")]
        n_a, pages_a = _drain(jobs[0])
        n_b, pages_b = _drain(jobs[1])
    assert n_a == len(pages_a) == 15 and [p.index for p in pages_a] == list(range(15))
    assert n_b == len(pages_b) and jobs[1].task.name == "renamed.pdf"


def test_a_stalled_page_is_cut_off_and_the_next_file_still_runs():
    slow = shared_path("pdfs", "adversarial", "slow_text_extraction_bug1978317.pdf")
    good = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    with ExtractionPool(1, page_timeout_s=1.5) as pool:
        started = time.monotonic()
        slow_job, good_job = pool.submit(slow), pool.submit(good)
        with pytest.raises(ExtractionTimeout, match="stalled for over 1.5 s"):
            _drain(slow_job)
        assert time.monotonic() - started < 10
        assert _drain(good_job)[0] == 15


def test_memory_hungry_extraction_is_stopped():
    slow = shared_path("pdfs", "adversarial", "slow_text_extraction_bug1978317.pdf")  # ~430 MB for one page
    with ExtractionPool(1, page_timeout_s=60, memory_mb=200) as pool:
        with pytest.raises(ResourceLimitError, match="memory"):
            _drain(pool.submit(slow))


def test_errors_arrive_as_document_errors_with_the_file_name():
    enc = shared_path("pdfs", "adversarial", "enc_aes128_r4_user-asdfzxcv.pdf")
    with ExtractionPool(1) as pool:
        with pytest.raises(PasswordRequired) as info:
            _drain(pool.submit(enc, "secret.pdf"))
        assert info.value.file_name == "secret.pdf"
        n, pages = _drain(pool.submit(enc, "secret.pdf", "asdfzxcv"))
    assert n == len(pages) >= 1
