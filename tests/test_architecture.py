"""Layers point one way and Qt stays in expdesk/gui (STYLE.md habits 2 and 3)."""

from __future__ import annotations

import ast
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
    ] + ["expdesk.cli"]
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
