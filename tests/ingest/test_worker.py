import logging
import threading
import time

import pytest

from rag.errors import DocumentError, ExtractionTimeout, PasswordRequired, ResourceLimitError
from rag.ingest.worker import ExtractionPool, Opened
from rag.models import Page
from tests.conftest import shared_path
from tests.pdfgen import text_pdf


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


def test_a_file_over_the_file_limit_is_stopped_and_the_next_file_still_runs(tmp_path):
    """The per-file limit applies to plain pypdf extraction too, not only to OCR'd scans."""
    slow = shared_path("pdfs", "adversarial", "slow_text_extraction_bug1978317.pdf")  # one page takes minutes
    # The next file must itself fit in 1 s on a busy machine: one hand-written page does.
    small = tmp_path / "small.pdf"
    small.write_bytes(text_pdf(["The next file in the queue is read by a fresh worker."]))
    with ExtractionPool(1, page_timeout_s=60, file_timeout_s=1) as pool:
        slow_job, small_job = pool.submit(slow), pool.submit(small)
        started = time.monotonic()
        with pytest.raises(ExtractionTimeout, match=r"extraction took over 1 s and was stopped$"):
            _drain(slow_job)
        # The clock starts once the worker is ready; the margin is for its start-up on a busy machine.
        assert time.monotonic() - started < 15
        n, pages = _drain(small_job)
    assert n == len(pages) == 1 and "read by a fresh worker" in pages[0].text


@pytest.mark.timeout(120)  # before the fix events() waited forever: fail instead of hanging the suite
def test_an_internal_error_in_a_slot_fails_that_job_and_the_slot_goes_on(caplog):
    good = shared_path("pdfs", "general", "attention_vaswani2017_arxiv1706.03762.pdf")
    with ExtractionPool(1) as pool:
        # A task that cannot be pickled makes the slot's own send to its worker raise TypeError, an
        # error of the parent's side that no file can cause.
        broken = pool.submit(good, "broken.pdf", password=threading.Lock())
        with caplog.at_level(logging.ERROR, logger="rag.ingest.worker"):
            with pytest.raises(DocumentError, match="internal error.*TypeError.*pickle") as info:
                _drain(broken)
        assert type(info.value) is DocumentError and info.value.kind == "internal"
        assert info.value.file_name == "broken.pdf"
        [record] = [r for r in caplog.records if "broken.pdf" in r.getMessage()]
        assert record.exc_info is not None and record.exc_info[0] is TypeError  # logged with its traceback
        n, pages = _drain(pool.submit(good))
        assert n == len(pages) == 15
        slots = list(pool._slots)
        assert all(slot.is_alive() for slot in slots)
    assert not any(slot.is_alive() for slot in slots)  # closed for real, and is_alive() says so
