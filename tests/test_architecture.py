"""The shape of the code, read with ``ast`` (nothing is imported): imports go one way, without cycles, and no
module outgrows what a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAX_LINES = 400
#: Modules allowed over MAX_LINES, each with its reason. Empty: keep it so, or say here why not.
LONG_MODULES: dict[str, str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str, *, runtime_only: bool = True) -> set[str]:
    """The modules ``path`` imports (``from a.b import c`` counts as ``a.b`` and ``a.b.c``, which may be a module).

    ``runtime_only``: leave out imports under ``if TYPE_CHECKING:``, which never run.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this module is in
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def source_modules(*packages: str, root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for package in packages for p in sorted((root / package).rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of other modules in ``modules`` (a package's ``__init__`` stands for the package)."""
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in imported_modules(path, name) if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def forbidden_imports(modules: dict[str, Path], banned: tuple[str, ...]) -> list[str]:
    """``module -> import`` for every import (TYPE_CHECKING ones too) of a banned top-level package."""
    out = []
    for name, path in modules.items():
        for imported in sorted(imported_modules(path, name, runtime_only=False)):
            if imported.split(".")[0] in banned:
                out.append(f"{name} -> {imported}")
    return out


def long_modules(modules: dict[str, Path], root: Path = ROOT) -> list[str]:
    out = []
    for path in modules.values():
        rel = path.relative_to(root).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel not in LONG_MODULES:
            out.append(f"{rel}: {lines} lines")
    return out


def test_the_library_has_no_import_cycle() -> None:
    assert find_cycle(import_graph(source_modules("rag"))) is None


def test_the_library_never_imports_streamlit_or_the_ui() -> None:
    assert forbidden_imports(source_modules("rag"), ("streamlit", "ui")) == []


def test_no_module_outgrows_the_limit() -> None:
    assert long_modules(source_modules("rag", "ui")) == []
    assert set(LONG_MODULES) <= {p.relative_to(ROOT).as_posix() for p in source_modules("rag", "ui").values()}


# -- the checks themselves can fail: each on a small tree planted with what it must catch --


def plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    plant(
        tmp_path,
        {
            "rag/__init__.py": "",
            "rag/a.py": "from rag.b import thing\n",
            "rag/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rag import a\nthing = 1\n",
            "rag/sub/__init__.py": "",
            "rag/sub/c.py": "from ..sub import d\n",
            "rag/sub/d.py": "import rag.sub.c\nimport streamlit as st\n",
            "rag/e.py": "from ui.views import chat\n" + "x = 1\n" * MAX_LINES,
        },
    )
    return tmp_path


def test_a_planted_cycle_is_found_and_a_type_checking_import_is_not_one(planted: Path) -> None:
    modules = source_modules("rag", root=planted)
    graph = import_graph(modules)
    assert graph["rag.a"] == {"rag.b"} and graph["rag.b"] == set()  # the TYPE_CHECKING import does not run
    assert find_cycle(graph) == ["rag.sub.c", "rag.sub.d", "rag.sub.c"]  # a relative import, resolved


def test_planted_streamlit_and_ui_imports_are_found(planted: Path) -> None:
    assert forbidden_imports(source_modules("rag", root=planted), ("streamlit", "ui")) == [
        "rag.e -> ui.views",
        "rag.e -> ui.views.chat",
        "rag.sub.d -> streamlit",
    ]


def test_a_planted_long_module_is_found(planted: Path) -> None:
    assert long_modules(source_modules("rag", root=planted), root=planted) == [f"rag/e.py: {MAX_LINES + 1} lines"]
