"""The modules of ``calmopsd.record`` import each other without a cycle, at run time.

What counts is every import that can execute: at module level and inside
functions (a deferred import is a cycle hidden from the import order, not a
cycle removed: ``audit.verify_file`` once imported ``database``, which imports
``audit``). Imports under ``if TYPE_CHECKING:`` never execute, so they do not
count: ``audit`` names ``Database`` and ``Tx`` in annotations, the store builds
on the audit log, and mypy resolves such typing-only references either way.
"""

from __future__ import annotations

import ast
from pathlib import Path

RECORD = Path(__file__).resolve().parents[2] / "calmopsd" / "record"
PACKAGE = "calmopsd.record"


def runtime_imports(source: str, package: str = PACKAGE) -> set[str]:
    """The ``package`` modules that ``source`` imports outside ``if TYPE_CHECKING:``."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(source)]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)  # only the else branch runs
            continue
        found |= _imported(node, package)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _imported(node: ast.AST, package: str) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from .x import y, from . import x
            base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
        names = [base.rstrip("."), *(f"{base.rstrip('.')}.{a.name}" for a in node.names)]
    else:
        return set()
    prefix = package + "."
    return {".".join(n.split(".")[:3]) for n in names if n.startswith(prefix)}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(sources: dict[str, str], package: str = PACKAGE) -> dict[str, set[str]]:
    """Module name → the package modules it imports at run time (itself and unknowns left out)."""
    return {
        module: (runtime_imports(text, package) & set(sources)) - {module}
        for module, text in sources.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk, each as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            walk(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    return found


def record_sources() -> dict[str, str]:
    return {
        f"{PACKAGE}.{path.stem}": path.read_text(encoding="utf-8")
        for path in RECORD.glob("*.py")
        if path.stem != "__init__"
    }


def test_the_record_modules_form_no_import_cycle_at_run_time() -> None:
    graph = import_graph(record_sources())

    assert cycles(graph) == []
    assert f"{PACKAGE}.database" not in graph[f"{PACKAGE}.audit"]
    assert f"{PACKAGE}.anchor" in graph[f"{PACKAGE}.database"]


def test_a_deferred_import_closes_a_cycle_and_a_type_checking_one_does_not() -> None:
    sources = {
        "calmopsd.record.a": "from calmopsd.record.b import thing\n",
        "calmopsd.record.b": "def f():\n    from calmopsd.record import a\n    return a\n",
        "calmopsd.record.c": (
            "from typing import TYPE_CHECKING\n"
            "import calmopsd.record.a\n"
            "if TYPE_CHECKING:\n    from calmopsd.record.c2 import C\n"
        ),
        "calmopsd.record.c2": "from .c import x\n",
    }

    graph = import_graph(sources)

    assert graph == {
        "calmopsd.record.a": {"calmopsd.record.b"},
        "calmopsd.record.b": {"calmopsd.record.a"},
        "calmopsd.record.c": {"calmopsd.record.a"},
        "calmopsd.record.c2": {"calmopsd.record.c"},
    }
    assert cycles(graph) == [["calmopsd.record.a", "calmopsd.record.b", "calmopsd.record.a"]]
