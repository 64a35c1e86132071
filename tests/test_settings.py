from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings


def test_defaults(settings):
    assert settings.storage.collection == "documents"
    assert settings.embedding.model == "all-MiniLM-L6-v2"
    assert settings.ingest.chunk_tokens == 200 and settings.ingest.chunk_overlap == 32
    assert settings.ollama.host == "http://localhost:11434"
    assert settings.storage.catalog_path == settings.storage.data_dir / "catalog.sqlite3"


def test_environment_overrides(settings, monkeypatch):
    monkeypatch.setenv("RAG_DATA_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "120")
    monkeypatch.setenv("RAG_GARBLED_PAGES", "keep")
    s = Settings.from_env()
    assert (
        s.storage.data_dir == Path("/tmp/elsewhere")
        and s.ingest.chunk_tokens == 120
        and s.ingest.garbled_pages == "keep"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RAG_CHUNK_TOKENS", "many", "must be an integer"),
        ("RAG_PAGE_TIMEOUT", "-1", "at least"),
        ("RAG_GARBLED_PAGES", "maybe", "skip' or 'keep"),
        ("RAG_CHUNK_OVERLAP", "500", "smaller than RAG_CHUNK_TOKENS"),
        ("OLLAMA_HOST", "localhost:abc", "OLLAMA_HOST is not a valid address.*localhost:abc"),
        ("OLLAMA_HOST", "127.0.0.1:99999", "OLLAMA_HOST is not a valid address"),
        ("OLLAMA_HOST", "ftp://box", "OLLAMA_HOST is not a valid address"),
    ],
)
def test_bad_values_are_clear_errors(settings, monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()


@pytest.mark.parametrize(
    "host", ["http://localhost:11434", "0.0.0.0", "box.lan:11434", "https://box.lan/ollama", ":11434"]
)
def test_ollama_hosts_in_the_forms_ollama_accepts(settings, monkeypatch, host):
    monkeypatch.setenv("OLLAMA_HOST", host)
    assert Settings.from_env().ollama.host == host


def test_a_reranking_model_makes_reranked_hybrid_the_default_mode(settings, monkeypatch):
    assert settings.retrieval.rerank_model == "" and settings.retrieval.search_mode == "hybrid"
    monkeypatch.setenv("RAG_RERANK_MODEL", "/models/ms-marco-MiniLM-L6-v2")
    monkeypatch.setenv("RAG_RERANK_TOP_N", "20")
    s = Settings.from_env()
    assert s.retrieval.search_mode == "hybrid+rerank" and s.retrieval.rerank_top_n == 20
    monkeypatch.setenv("RAG_SEARCH_MODE", "dense")
    assert Settings.from_env().retrieval.search_mode == "dense"  # an explicit mode wins


def test_reranked_mode_without_a_model_is_a_config_error(settings, monkeypatch):
    monkeypatch.setenv("RAG_SEARCH_MODE", "hybrid+rerank")
    with pytest.raises(ConfigError, match="RAG_RERANK_MODEL"):
        Settings.from_env()


def test_every_setting_the_library_reads_is_documented_in_the_readme():
    import re

    root = Path(__file__).resolve().parents[1]
    source = "\n".join(p.read_text(encoding="utf-8") for p in (root / "rag").rglob("*.py"))
    names = set(re.findall(r'"((?:RAG|CHROMA|OLLAMA)_[A-Z_]+)"', source))
    assert {"RAG_RERANK_MODEL", "RAG_MIN_SCORE", "OLLAMA_HOST"} <= names  # the scan finds what it should
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert sorted(n for n in names if f"`{n}`" not in readme) == []


def test_the_app_listens_on_this_computer_only_and_sends_no_statistics():
    import tomllib

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 1024
    assert config["browser"]["gatherUsageStats"] is False
    assert config["runner"]["magicEnabled"] is False  # a bare expression must never render


def test_the_library_never_imports_streamlit():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import importlib, pkgutil, sys, rag\n"
        "for m in pkgutil.walk_packages(rag.__path__, 'rag.'):\n"  # every module, in every subpackage
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'streamlit'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
