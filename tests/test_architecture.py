"""Layers point one way and Qt stays in expdesk/gui (STYLE.md habits 2 and 3)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "expdesk"

#: what each layer may import from expdesk (besides itself)
ALLOWED = {
    "core": set(),
    "sources": {"core"},
    "index": {"core", "sources"},
    "watch": {"core", "sources", "index"},
    "compare": {"core", "sources", "index"},
    "lineage": {"core", "sources", "index"},
    "bundle": {"core", "sources", "index", "lineage"},  # the bundle carries the lineage graph
    "remote": {"core", "sources", "index"},
}


def _layer_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "expdesk" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_point_one_way(layer: str) -> None:
    folder = PKG / layer
    if not folder.is_dir():
        pytest.skip(f"no expdesk/{layer} package")
    for path in folder.rglob("*.py"):
        bad = _layer_imports(path) - ALLOWED[layer] - {layer}
        assert not bad, f"{path.relative_to(PKG)} imports {sorted(bad)}"


def test_non_gui_packages_never_load_qt() -> None:
    modules = [
        ".".join(p.relative_to(PKG.parent).with_suffix("").parts)
        for layer in ALLOWED
        if (PKG / layer).is_dir()
        for p in (PKG / layer).rglob("*.py")
    ] + ["expdesk.cli", "expdesk.api"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m.removesuffix('.__init__'))\n"
        "import expdesk.cli.entry as c\n"
        "for m in c.COMMAND_MODULES: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'matplotlib.pyplot', 'matplotlib.backends.backend_qt'))]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_the_index_opens_database_connections() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        # readers open the tools' own stores (mlflow.db, Trackio projects) read-only; never the index
        if rel.parts[0] in ("index", "sources"):
            continue
        if "sqlite3.connect(" in path.read_text(encoding="utf-8"):
            offenders.append(str(rel))
    assert offenders == []


#: the start of a SQL statement (or of a clause only a statement has), in any case
SQL_STATEMENT = re.compile(
    r"\bSELECT\b[^;]*?\bFROM\s+[\w(]|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bREPLACE\s+INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\b(?:CREATE|DROP|ALTER)\s+(?:TEMP\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b"
    r"|\bPRAGMA\s+\w+|\bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED)\b|\bWITH\s+(?:RECURSIVE\s+)?\w+\s+AS\s*\(",
    re.IGNORECASE,
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants: documentation may quote SQL, code may not."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string literal outside docstrings; an f-string's fields read as `x`, so
    `f"SELECT {cols} FROM runs"` is still seen as the statement it builds."""
    skip = _docstrings(tree)
    in_fstring: set[int] = set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                in_fstring.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) else "x")
            out.append((node.lineno, "".join(str(p) for p in parts)))
    for node in ast.walk(tree):
        literal = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if literal and id(node) not in skip and id(node) not in in_fstring:
            out.append((node.lineno, node.value))
    return out


def test_sql_literals_only_in_the_index_and_the_readers() -> None:
    """Every statement on the index is a named query in expdesk/index; readers of a foreign store
    (mlflow.db, Trackio) keep theirs in expdesk/sources. Anywhere else a SQL string is a query the index
    does not know about."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("index", "sources"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _string_literals(tree):
            if SQL_STATEMENT.search(text):
                offenders.append(f"{rel}:{line}: {text[:80]!r}")
    assert offenders == []


def test_nothing_outside_the_index_touches_a_readers_connection() -> None:
    """`IndexReader.conn` is for the index's own query modules: elsewhere it would be SQL in disguise."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("index", "sources"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "conn":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize(
    "text",
    [
        "SELECT key FROM runs WHERE x=?",
        "select count(*) from (select 1)",
        "INSERT OR REPLACE INTO hashes VALUES (?,?)",
        "UPDATE runs SET path=? WHERE key=?",
        "DELETE FROM params WHERE run_key=?",
        "PRAGMA mmap_size=0",
        "CREATE TABLE t (x)",
        "WITH RECURSIVE up AS (SELECT 1)",
    ],
)
def test_the_sql_check_sees_statements(text: str) -> None:
    assert SQL_STATEMENT.search(text)


def test_the_sql_check_reads_fstrings_and_skips_docstrings() -> None:
    tree = ast.parse('"""SELECT key FROM runs"""\nq = f"SELECT {cols} FROM runs WHERE key IN ({marks})"\n')
    found = [text for _line, text in _string_literals(tree) if SQL_STATEMENT.search(text)]
    assert found == ["SELECT x FROM runs WHERE key IN (x)"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    # every import counts, including TYPE_CHECKING and function-level ones: a cycle there is still two
    # modules that cannot be understood (or moved) one without the other
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the lint extra)")
    graph = grimp.build_graph("expdesk")
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m)} for m in graph.modules}
    assert _cycles(edges) == []


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(PKG)): n
        for p in PKG.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}
