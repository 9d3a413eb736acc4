"""Global options go anywhere: `expdesk --db X runs` lists runs like `expdesk runs --db X` (issue 20 #10)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from expdesk.cli import entry
from tests.groundtruth import RUNS


def _no_window(argv: Sequence[str]) -> int:
    raise AssertionError(f"the window would open for {list(argv)}")


@pytest.fixture
def indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(entry, "_gui_main", _no_window)
    monkeypatch.delenv("EXPDESK_DB", raising=False)
    db = tmp_path / "index.db"
    assert entry.main(["--db", str(db), "index", str(RUNS / "plain")]) == 0
    return db


def test_db_before_and_after_the_command_agree(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert entry.main(["--db", str(indexed), "runs", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert entry.main(["runs", "--json", "--db", str(indexed)]) == 0
    after = json.loads(capsys.readouterr().out)
    assert entry.main([f"--db={indexed}", "runs", "--json"]) == 0
    equals = json.loads(capsys.readouterr().out)
    assert before == after == equals
    assert {r["name"] for r in before} >= {"runs/run-001", "runs/run-002"}


def test_conflicting_db_options_are_a_usage_error(indexed: Path, tmp_path: Path) -> None:
    assert entry.main(["--db", str(indexed), "runs", "--db", str(tmp_path / "other.db")]) == 2


def test_a_path_still_opens_the_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[list[str]] = []
    monkeypatch.setattr(entry, "_gui_main", lambda argv: opened.append(list(argv)) or 0)
    assert entry.main(["--db", str(tmp_path / "i.db"), str(tmp_path)]) == 0
    assert entry.main(["--db", str(tmp_path / "i.db")]) == 0
    assert len(opened) == 2


def test_first_word_skips_global_options() -> None:
    assert entry.first_word(["--db", "x.db", "runs"]) == "runs"
    assert entry.first_word(["--db=x.db", "show", "abc"]) == "show"
    assert entry.first_word(["--db", "x.db"]) is None
