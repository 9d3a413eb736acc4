"""The workspace's own promises: light import without Qt, indexing and refreshing in place, run lookup
errors that name candidates, decimation, figures, HTML that escapes, and an index from a newer expdesk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import expdesk
from expdesk.index.version import known_migrations
from tests.groundtruth import RUNS, load_gt

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, tmp_path: Path) -> list[str]:
    """Run `code` in a fresh interpreter; it prints a JSON list as its last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "EXPDESK_DB": str(tmp_path / "default.sqlite")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def tree_digest(root: Path) -> dict[str, str]:
    """Every file below `root` with its bytes' hash (symlinks as their target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "->" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_import_is_light_and_never_loads_qt(tmp_path: Path) -> None:
    heavy = ("numpy", "pandas", "sqlite_utils", "matplotlib", "PySide6")
    loaded = run_python(
        "import json, sys, expdesk\n"
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {heavy!r}]))",
        tmp_path,
    )
    assert loaded == []


def test_the_whole_api_never_loads_qt_or_pyplot(tmp_path: Path) -> None:
    code = f"""
import json, sys, warnings
warnings.simplefilter("error")
import expdesk
ws = expdesk.open({str(tmp_path / "i.sqlite")!r})
pandas_before = "pandas" in sys.modules
ws.index({str(RUNS / "plain")!r}, {str(RUNS / "mlflow")!r})
df = ws.runs(where="format = generic")
h = ws.history(df.index, "loss", max_points=8)
r = ws.run(df.index[0])
html = ws._repr_html_() + r._repr_html_()
fig = ws.plot(df.index, "loss", x="relative")
png = fig._repr_png_()
ws.refresh()
bad = [m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "matplotlib.pyplot", "matplotlib.backends.backend_qt"))]
print(json.dumps(bad + (["pandas before a frame"] if pandas_before else []) + ([] if png[:4] == b"\\x89PNG" else ["png"])))
"""
    assert run_python(code, tmp_path) == []


def test_open_without_a_path_is_the_apps_default_index(tmp_path: Path) -> None:
    code = "import json, expdesk\nws = expdesk.open()\nprint(json.dumps([str(ws.path)]))"
    assert run_python(code, tmp_path) == [str(tmp_path / "default.sqlite")]
    assert (tmp_path / "default.sqlite").exists()


def test_index_reports_like_the_cli_and_never_writes_into_folders(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(RUNS / "plain", root / "plain")
    broken = root / "plain" / "runs" / "run-broken"
    broken.mkdir()
    (broken / "params.json").write_text('{"lr": 0.1, ')  # torn JSON: that run has an error, not the others
    (broken / "metrics.csv").write_text("step,loss\n0,1.0\n")
    before = tree_digest(root)
    with expdesk.open(tmp_path / "i.sqlite") as ws:
        with pytest.raises(FileNotFoundError, match="no-such-folder"):
            ws.index(root, tmp_path / "no-such-folder")
        assert len(ws.runs(deleted=None)) == 0  # nothing indexed before the paths were checked
        summary = ws.index(root)
        assert (summary.found, summary.read, summary.unchanged) == (4, 4, 0)
        assert [path for path, _ in summary.errors] == [str(broken)]
        assert str(summary).startswith("4 runs found, 4 read, 0 unchanged, 1 with errors, 0 gone")
        assert str(broken) in summary._repr_html_()
        df = ws.runs()
        assert len(df) == 4 and df.loc[df["path"] == str(broken), "error"].notna().all()
        assert df["error"].isna().sum() == 3
        again = ws.index(root)
        assert again.unchanged == 3 and again.read == 1  # the run with an error is re-read, as the CLI does
    assert tree_digest(root) == before


def test_refresh_reads_what_changed_from_the_cursors(tmp_path: Path) -> None:
    store = tmp_path / "filestore"
    shutil.copytree(RUNS / "mlflow" / "filestore", store)
    run_dir = next(store.glob("mlruns/*/27adf0088e12480bacf337ea8c86b1c2"))  # still-running, metric `loss`
    with expdesk.open(tmp_path / "i.sqlite") as ws:
        first = ws.index(store)
        key = next(k for k in first.keys if ws.run(k).native_id == run_dir.name)
        before = ws.history(key, "loss")
        assert ws.refresh().read == 0  # nothing changed: nothing re-read
        with (run_dir / "metrics" / "loss").open("a") as f:
            f.write("1795720950000 0.25 3\n")
        refreshed = ws.refresh()
        assert (refreshed.read, refreshed.unchanged) == (1, first.found - 1)
        after = ws.history(key, "loss")
        assert len(after) == len(before) + 1
        assert after.iloc[-1][["step", "value"]].tolist() == [3, 0.25]
        assert after.iloc[-1]["time"] == pd.Timestamp(1795720950000, unit="ms", tz="UTC")
        pd.testing.assert_frame_equal(after.iloc[:-1], before)  # appended, not re-read from scratch
        shutil.rmtree(run_dir)
        assert ws.refresh().gone == (key,)
        assert key not in ws.runs(deleted=None).index


def test_run_lookup_errors_name_the_candidates(ws: expdesk.Workspace) -> None:
    keys = list(ws.runs(deleted=None).index)
    prefix = next(k[0] for k in keys if sum(o.startswith(k[0]) for o in keys) > 1)
    with pytest.raises(KeyError) as ambiguous:
        ws.run(prefix)
    clashing = sorted(k for k in keys if k.startswith(prefix))
    assert str(ambiguous.value).startswith(f"'{prefix}' is ambiguous")
    # candidates are runs, found by the keys of their parts (a run's head part has the run's key; a part's key
    # means its run), in part key order: which parts' keys clash depends on where the runs lie
    by_part = sorted((p.key, k) for k in keys for p in ws.run(k).parts if p.key.startswith(prefix))
    expected = list(dict.fromkeys(run for _, run in by_part))
    assert set(clashing) <= set(expected)
    assert list(ambiguous.value.candidates) == expected[: len(ambiguous.value.candidates)]  # type: ignore[attr-defined]
    assert all(k in str(ambiguous.value) for k in ambiguous.value.candidates)  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match="no run key starts with 'zz'"):
        ws.run("zz")
    with pytest.raises(KeyError) as by_name:
        ws.run("sgd-baseline")  # a name, not a key: the runs so named are offered
    assert len(by_name.value.candidates) == 2 and "sgd-baseline" in str(by_name.value)  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        ws.history(["zz"])
    assert ws.run(keys[0][:12]).key == keys[0]


def test_run_is_a_frozen_snapshot_with_typed_values(ws: expdesk.Workspace) -> None:
    df = ws.runs(where='name = "sgd-baseline" and format = mlflow')
    run = ws.run(df.index[0])
    gt = next(
        r for r in load_gt("mlflow")["runs"] if r["run_name"] == "sgd-baseline" and r["backend"] == "file"
    )
    assert dict(run.tags) == gt["tags"] and set(run.params) == set(gt["params"])
    assert (
        run.params["alpha"] == 0.0001
        and run.params["epochs"] == 15
        and run.params["model"] == "SGDClassifier"
    )
    loss, expected = run.metrics["train_loss"], gt["metrics"]["train_loss"]
    assert (loss.count, loss.first_step, loss.last_step) == (16, 0, 14)  # a step logged twice
    assert (loss.count, loss.first_step, loss.last_step) == tuple(
        expected[k] for k in ("count", "first_step", "last_step")
    )
    assert (loss.last, loss.min, loss.max) == (expected["last_value"], expected["min"], expected["max"])
    assert loss.last_time is not None and loss.last_time.tzinfo is not None
    assert run.start_time == pd.Timestamp(gt["start_time_ms"], unit="ms", tz="UTC")
    assert [a.path for a in run.artifacts] == sorted(a["path"] for a in gt["artifacts"])
    with pytest.raises(AttributeError):
        run.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.params["alpha"] = 1  # type: ignore[index]
    pd.testing.assert_frame_equal(run.history("train_loss"), ws.history(run.key, ["train_loss"]))
    assert run.history("train_loss")["value"].iloc[0] == 12.19016047467002


def test_run_lineage_has_the_mlflow_parent(ws: expdesk.Workspace) -> None:
    child = ws.runs(where="parent is not null and format = mlflow").iloc[0]
    run = ws.run(child.name)
    assert [(link.run, link.rule) for link in run.lineage.upstream] == [
        (child["parent"], "mlflow.parentRunId")
    ]
    assert child["parent"] in run.lineage.ancestors
    parent = ws.run(child["parent"])
    assert run.key in {link.run for link in parent.lineage.downstream}


def long_run(root: Path, n: int = 20_000) -> None:
    """A generic run with one long metric: a smooth curve, spikes a sampler would drop, NaN and inf."""
    folder = root / "long"
    folder.mkdir(parents=True)
    (folder / "params.json").write_text('{"lr": 0.1}')
    steps = np.arange(n)
    y = 1.0 / (1 + steps / 1000)
    y[[1_234, 6_789]] = [50.0, -50.0]
    lines = ["step,loss"] + [f"{s},{float(v)!r}" for s, v in zip(steps, y, strict=True)]
    lines[1 + 4_000] = "4000,nan"
    lines[1 + 9_001] = "9001,inf"
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_history_steps_and_max_points(tmp_path: Path) -> None:
    long_run(tmp_path / "runs")
    with expdesk.open(tmp_path / "i.sqlite") as ws:
        ws.index(tmp_path / "runs")
        key = ws.runs().index[0]
        full = ws.history(key)
        assert len(full) == 20_000 and full["value"].isna().sum() == 1 and np.isinf(full["value"]).sum() == 1
        window = ws.history(key, steps=(100, 199))
        assert window["step"].tolist() == list(range(100, 200))
        assert ws.history(key, steps=(19_990, None))["step"].tolist() == list(range(19_990, 20_000))
        small = ws.history(key, max_points=400)
        # 80 buckets of a falling curve: each keeps its first (= highest) and last (= lowest) point
        assert 160 <= len(small) <= 400
        assert small["step"].is_monotonic_increasing
        # real points only: each kept row is a row of the full history
        merged = small.merge(full, on=["run", "metric", "step"], suffixes=("", "_full"))
        assert len(merged) == len(small)
        assert np.array_equal(merged["value"], merged["value_full"], equal_nan=True)
        # what a sampler drops survives: both spikes, the NaN, the inf, both ends
        kept = set(small["step"])
        # (a bucket keeps its first non-finite point: the NaN and the inf are in different buckets)
        assert {0, 1_234, 6_789, 4_000, 9_001, 19_999} <= kept
        both = ws.history(key, steps=(1_000, 2_000), max_points=50)
        assert len(both) <= 50 and both["step"].between(1_000, 2_000).all() and 1_234 in set(both["step"])
        with pytest.raises(ValueError, match="at least 5"):
            ws.history(key, max_points=4)
        with pytest.raises(TypeError):
            ws.history(key, steps=(0.5, 10))  # type: ignore[arg-type]


def test_empty_history_keeps_its_dtypes(ws: expdesk.Workspace) -> None:
    for h in (ws.history([]), ws.history(ws.runs().index[:2], "no-such-metric")):
        assert len(h) == 0 and list(h.columns) == ["run", "metric", "step", "value", "time"]
        assert h["step"].dtype == np.int64 and h["value"].dtype == np.float64
        assert str(h["time"].dtype) == "datetime64[us, UTC]"


def test_history_pivots(ws: expdesk.Workspace) -> None:
    keys = ws.runs(where="format = tensorboard").index
    h = ws.history(keys, "Loss/train")
    wide = h.pivot(index="step", columns="run", values="value")
    assert wide.shape == (60, len(keys))


def test_plot_is_the_cli_figure(ws: expdesk.Workspace, sample_db: Path, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    keys = list(ws.runs(where="format = tensorboard").index)
    fig = ws.plot(keys, ["Loss/train", "LR"], smooth=0.0, log_y=True)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["Loss/train", "LR"]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    gids = {line.get_gid() for ax in fig.axes for line in ax.get_lines()}
    assert {f"raw:{k}" for k in keys} <= gids
    assert fig._repr_png_()[:4] == b"\x89PNG"  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match="none of these runs has 'nope'"):
        ws.plot(keys, "nope")
    with pytest.warns(UserWarning, match="no run has 'nope'"):
        ws.plot(keys, ["LR", "nope"])
    with pytest.raises(ValueError, match="x='epoch'"):
        ws.plot(keys, "LR", x="epoch")


def test_html_escapes_every_user_string(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    folder = tmp_path / "runs" / hostile.replace("/", "_")
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"<b>k</b>": "<script>alert(2)</script>"}))
    (folder / "metrics.csv").write_text("step,<i>loss</i>\n0,1.0\n")
    with expdesk.open(tmp_path / "i.sqlite") as ws:
        ws.index(tmp_path / "runs")
        run = ws.run(ws.runs().index[0])
        page = run._repr_html_() + ws._repr_html_()
    assert "<img" not in page and "<script" not in page and "<b>k" not in page and "<i>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_index_written_by_a_newer_expdesk_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    expdesk.open(path).close()
    conn = sqlite3.connect(path)  # what a newer expdesk would have recorded
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('expdesk', 'm999_future', 'x')"
    )
    conn.commit()
    conn.close()
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("index.sqlite")}
    with pytest.raises(expdesk.IndexTooNew) as caught:
        expdesk.open(path)
    assert "newer expdesk" in str(caught.value) and "m999_future" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert (path.read_bytes()) == files["index.sqlite"]
    rows = (
        sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        .execute("SELECT name FROM _sqlite_migrations")
        .fetchall()
    )
    assert sorted(r[0] for r in rows) == sorted([*known_migrations(), "m999_future"])


def test_other_files_are_not_indexes_and_stay_untouched(tmp_path: Path) -> None:
    mlflow_db = tmp_path / "mlflow.db"
    shutil.copy(RUNS / "mlflow" / "sqlite" / "mlflow.db", mlflow_db)
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    for path in (mlflow_db, text):
        before = path.read_bytes()
        with pytest.raises(expdesk.NotAnIndex, match="not an expdesk index"):
            expdesk.open(path)
        assert path.read_bytes() == before
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with expdesk.open(empty) as ws:  # an empty file is a new index
        assert len(ws.runs()) == 0


def test_filter_error_is_one_class() -> None:
    from expdesk.index.filter import FilterError

    assert expdesk.FilterError is FilterError and issubclass(FilterError, ValueError)
    assert "FilterError" in dir(expdesk)
    with pytest.raises(AttributeError):
        expdesk.no_such_name  # noqa: B018


def test_a_folder_that_cannot_be_listed_is_an_error_and_the_rest_is_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    shutil.copytree(RUNS / "plain", root)
    locked = root / "locked"
    shutil.copytree(RUNS / "plain" / "runs" / "run-001", locked / "run-009")
    if os.geteuid() != 0:
        locked.chmod(0)  # EACCES for real
    else:  # root reads any folder: the walk meets the same PermissionError through scandir
        from expdesk.sources import registry

        real = os.scandir

        def scandir(path: object) -> object:
            if Path(str(path)) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)  # type: ignore[arg-type]

        monkeypatch.setattr(registry.os, "scandir", scandir)
    try:
        with expdesk.open(tmp_path / "i.sqlite") as ws:
            summary = ws.index(root)
            assert summary.errors == ((str(locked), f"{locked}: cannot list this folder: Permission denied"),)
            assert summary.found == summary.read == 3  # every other run
            assert len(ws.runs()) == 3
    finally:
        locked.chmod(0o755)
