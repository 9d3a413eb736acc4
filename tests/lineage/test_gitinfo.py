"""Code provenance from a git work tree inside the watched root, guarded against executing repo config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from expdesk.lineage.gitinfo import observe_git, strip_credentials


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@x", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "train.py").write_text("print(1)\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "https://alice:ghp_SECRET@github.com/lab/project.git?token=abc")
    git(root, "add", "train.py")
    git(root, "commit", "-qm", "init")
    (root / "train.py").write_text("print(2)\n")
    (root / "notes.txt").write_text("x")
    return root


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://alice:ghp_SECRET@github.com/lab/p.git", "https://github.com/lab/p.git"),
        ("https://x-access-token:tok@host:8443/p?access_token=1&ref=main", "https://host:8443/p?ref=main"),
        ("ssh://git@host/p.git", "ssh://git@host/p.git"),
        ("ssh://git:pw@host/p.git", "ssh://host/p.git"),
        ("git@github.com:lab/p.git", "git@github.com:lab/p.git"),
    ],
)
def test_credentials_are_stripped(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


def test_dirty_work_tree_with_diff(repo: Path) -> None:
    index_before = (repo / ".git" / "index").read_bytes()
    info, diff, reason = observe_git(repo / "runs" / "r1", repo)
    assert reason is None and info is not None and diff is not None
    assert len(info["commit"]) == 40 and info["branch"] == "main" and info["dirty"] is True
    assert info["remotes"] == {"origin": "https://github.com/lab/project.git"}
    assert "notes.txt" in info["untracked"] and b"+print(2)" in diff
    assert info["evidence"] == "observed-at-export"
    assert (repo / ".git" / "index").read_bytes() == index_before  # no optional locks: nothing rewritten


def test_repository_above_the_root_is_not_ours(repo: Path) -> None:
    info, _diff, reason = observe_git(repo / "runs" / "r1", repo / "runs")
    assert info is None and "not inside a git work tree" in str(reason)


def test_repository_with_filters_is_not_run(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    git(repo, "config", "filter.evil.clean", f"touch {marker}; cat")
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    info, _diff, reason = observe_git(repo, repo)
    assert info is None and "filter.evil.clean" in str(reason)
    assert not marker.exists()


def test_the_users_own_filters_are_switched_off_not_refused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git-lfs writes a filter into the user's (or the system's) config on install: that is the researcher's
    # own set-up, not something the watched folder configured, so git is read; the filter itself never runs
    # (git-lfs clean would write objects into the watched repository's .git/lfs)
    marker = tmp_path / "filter-ran"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[filter "lfs"]\n\tclean = touch {marker}; cat\n\tsmudge = touch {marker}; cat\n'
        f"\tprocess = touch {marker}\n\trequired = true\n"
    )
    monkeypatch.setenv("HOME", str(home))
    (repo / ".gitattributes").write_text("*.py filter=lfs\n")
    info, diff, reason = observe_git(repo / "runs" / "r1", repo)
    assert reason is None and info is not None and diff is not None
    assert b"+print(2)" in diff and info["dirty"] is True
    assert "lfs" in info["filters_not_run"]
    assert not marker.exists()
