"""The ingest job log: every session sees every job, and results outlive a restart until dismissed."""

from __future__ import annotations

from pathlib import Path

import pytest

import ui.state.job_log as job_log
from rag.models import FileResult
from ui.state.job_log import STOPPED, JobLog
from ui.state.jobs import JobSnapshot

LOCKED = FileResult(
    "/data/uploads/ab.pdf", "locked.pdf", "failed", reason="password required", error_kind="password_required"
)
GOOD = FileResult(
    "/data/uploads/cd.pdf", "good.pdf", "ingested", doc_id="cd", pages=3, chunks=9, warnings=("page 2: no text",)
)


def snapshot(job_id: str, *results: FileResult, done: bool = True, total: int = 2) -> JobSnapshot:
    return JobSnapshot(job_id, "documents", total, results, None, done, None, 100.0, 101.0 if done else None)


def test_a_job_is_seen_from_another_object_on_the_same_file(tmp_path: Path) -> None:
    JobLog(tmp_path / "jobs.sqlite3").save(snapshot("j1", GOOD, LOCKED))
    [seen] = JobLog(tmp_path / "jobs.sqlite3").snapshots()
    assert seen.results == (GOOD, LOCKED) and seen.done and seen.error is None
    assert seen.counts() == {"ingested": 1, "replaced": 0, "duplicate": 0, "failed": 1}


def test_newest_first_and_gone_once_dismissed(tmp_path: Path) -> None:
    log = JobLog(tmp_path / "jobs.sqlite3")
    log.save(snapshot("old", GOOD))
    log.save(JobSnapshot("new", "documents", 1, (LOCKED,), None, True, None, 200.0, 201.0))
    assert [s.job_id for s in log.snapshots()] == ["new", "old"]
    log.dismiss(["new"])
    assert [s.job_id for s in log.snapshots()] == ["old"]


def test_a_job_another_process_left_unfinished_was_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = JobLog(tmp_path / "jobs.sqlite3")
    log.save(snapshot("running", GOOD, done=False))
    [here] = log.snapshots()
    assert not here.done  # still running in this process
    monkeypatch.setattr(job_log, "BOOT", "the next start")
    [after_restart] = log.snapshots()
    assert after_restart.done and after_restart.error == STOPPED and after_restart.results == (GOOD,)


def test_a_settled_locked_file_is_remembered(tmp_path: Path) -> None:
    log = JobLog(tmp_path / "jobs.sqlite3")
    log.settle("j1:/data/uploads/ab.pdf")
    log.settle("j1:/data/uploads/ab.pdf")
    assert JobLog(tmp_path / "jobs.sqlite3").settled() == {"j1:/data/uploads/ab.pdf"}
