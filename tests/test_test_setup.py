"""The test set-up itself: missing shared data fails in CI instead of skipping, and the `slow` list is real."""

from __future__ import annotations

import re

import pytest

import tests.conftest as conftest
from tests.conftest import ROOT, SLOW_MODULES, SLOW_TESTS


def test_missing_shared_data_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "no-shared-data")
    monkeypatch.delenv("CI_REQUIRE_SHARED_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared test data not found"):
        conftest.shared_path("pdfs", "general", "paper.pdf")
    monkeypatch.setenv("CI_REQUIRE_SHARED_DATA", "1")
    with pytest.raises(BaseException) as caught:  # a skip too, so that a skip here is a failure of this test
        conftest.shared_path("pdfs", "general", "paper.pdf")
    assert caught.type is pytest.fail.Exception, caught.value
    assert "CI requires it (CI_REQUIRE_SHARED_DATA=1)" in str(caught.value)
    (tmp_path / "no-shared-data").mkdir()
    (tmp_path / "no-shared-data" / "here.pdf").write_bytes(b"%PDF")
    assert conftest.shared_path("here.pdf").name == "here.pdf"  # present: neither


def test_ci_requires_the_shared_data_and_runs_the_slow_tests() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export CI_REQUIRE_SHARED_DATA=1$", script, re.MULTILINE)
    assert script.index("CI_REQUIRE_SHARED_DATA=1") < script.index("\nscripts/test.sh")
    assert re.search(r"^scripts/test\.sh$", script, re.MULTILINE)  # no marker filter: the slow tests run too


def test_every_test_marked_slow_exists() -> None:
    for module in SLOW_MODULES:
        assert (ROOT / "tests" / f"{module}.py").exists(), module
    for node in SLOW_TESTS:
        file, name = node.split("::")
        assert f"def {name}(" in (ROOT / "tests" / file).read_text(), node
