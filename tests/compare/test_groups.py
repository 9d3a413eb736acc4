"""Grouped curves: groups, the step alignment rule, mean and bands against values computed by hand from the
runs' own files (a Hydra sweep's metrics.json, MLflow's metric files), NaN as logged, and the chart's artists."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from expdesk.compare.group_figures import BAND_TITLES, group_chart
from expdesk.compare.groups import (
    BandKind,
    GroupBy,
    aggregate,
    dedup_last,
    group_curves,
    group_runs,
)
from expdesk.compare.series import RawSeries, XMode, load_series
from expdesk.compare.smoothing import ema_smooth
from expdesk.index.service import Index
from tests.compare.conftest import add_run, runs_json
from tests.groundtruth import RUNS

SWEEP = RUNS / "hydra" / "multirun" / "2026-11-26" / "19-22-15"
IRIS = RUNS / "mlflow" / "filestore" / "mlruns" / "987389506339963218"


def _indexed(tmp_path: Path, root: Path) -> tuple[Index, list[dict]]:
    """The runs that logged metrics (a Hydra multirun's sweep folder is a run of its own, without any)."""
    index = Index(tmp_path / "i.db")
    index.index([root], remember=False)
    with index.reader() as reader:
        runs = [r for r in reader.runs_json(reader.run_keys()) if r["metrics"]]
    return index, runs


def _hydra_job(job: Path) -> tuple[str, dict[str, dict[int, float]]]:
    """(optimizer override, {metric: {epoch: value}}) from the job's own files."""
    overrides = (job / ".hydra" / "overrides.yaml").read_text().splitlines()
    optimizer = next(line.split("=", 1)[1] for line in overrides if line.startswith("- optimizer="))
    history: dict[str, dict[int, float]] = defaultdict(dict)
    for row in json.loads((job / "metrics.json").read_text())["history"]:
        for key, value in row.items():
            if key != "epoch":
                history[key][row["epoch"]] = value
    return optimizer, history


def _mlflow_metric(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) in file order from MLflow's `timestamp value step` lines."""
    out = []
    for line in (run_dir / "metrics" / metric).read_text().splitlines():
        _ts, value, step = line.split()
        out.append((int(step), float(value)))
    return out


@pytest.mark.parametrize("field", ["params.optimizer.name", "tags.hydra.choice.optimizer"])
def test_hydra_sweep_grouped_by_optimizer_mean_and_bands_match_hand_computed(
    tmp_path: Path, field: str
) -> None:
    jobs = [_hydra_job(j) for j in sorted(p for p in SWEEP.iterdir() if p.is_dir())]
    by_optimizer: dict[str, list[dict[str, dict[int, float]]]] = defaultdict(list)
    for optimizer, history in jobs:
        by_optimizer[optimizer].append(history)
    index, runs = _indexed(tmp_path, SWEEP)
    with index:
        groups = group_runs(runs, GroupBy.parse(field))
        assert [g.value for g in groups] == ["momentum", "sgd"]  # text values in text order
        assert [len(g.run_keys) for g in groups] == [2, 2]
        with index.reader() as reader:
            raws = load_series(reader, [r["key"] for r in runs], ["loss", "w"], with_timestamps=False)
    for band in (BandKind.MINMAX, BandKind.STD):
        curves = group_curves(groups, raws, ["loss", "w"], band)
        for metric in ("loss", "w"):
            for group, curve in zip(groups, curves[metric], strict=True):
                histories = [h[metric] for h in by_optimizer[group.value or ""]]
                epochs = sorted(histories[0])
                assert curve.steps.tolist() == epochs == list(range(8))
                assert curve.count.tolist() == [2] * 8 and curve.nonfinite.tolist() == [0] * 8
                for i, epoch in enumerate(epochs):
                    values = [h[epoch] for h in histories]
                    assert curve.mean[i] == pytest.approx(statistics.fmean(values), rel=1e-15)
                    if band is BandKind.MINMAX:
                        assert (curve.lo[i], curve.hi[i]) == (min(values), max(values))
                    else:
                        sd = statistics.stdev(values)
                        assert curve.hi[i] - curve.mean[i] == pytest.approx(sd, rel=1e-12)
                        assert curve.mean[i] - curve.lo[i] == pytest.approx(sd, rel=1e-12)
                assert curve.label == f"{group.label} (2 runs)"


def test_mlflow_group_with_uneven_steps_counts_only_runs_that_logged_the_step(tmp_path: Path) -> None:
    """alpha=0.0001 holds a 5-epoch child run and the 15-epoch baseline (which logs step 0 again at its
    end): steps 0-4 average both, 5-14 are the baseline alone, said by `count` and the legend."""
    files = {}
    for run_dir in IRIS.iterdir():
        params = run_dir / "params" / "alpha"
        if params.is_file() and params.read_text().strip() == "0.0001":
            files[run_dir.name] = _mlflow_metric(run_dir, "train_loss")
    assert len(files) == 2
    per_step: dict[int, list[float]] = defaultdict(list)
    for points in files.values():
        last = dict(points)  # later lines of a step overwrite earlier ones: the last written counts
        for step, value in last.items():
            per_step[step].append(value)
    index, runs = _indexed(tmp_path, IRIS.parent)
    with index:
        iris = [r for r in runs if r["experiment"] == "iris-classification"]
        groups = group_runs(iris, GroupBy.parse("params.alpha"))
        assert [g.value for g in groups] == [
            "0.0001",
            "0.001",
            "0.01",
            None,
        ]  # numbers by value, missing last
        assert groups[-1].label == "(no params.alpha)"
        with index.reader() as reader:
            raws = load_series(reader, groups[0].run_keys, ["train_loss"], with_timestamps=False)
    curve = aggregate(groups[0], "train_loss", raws)
    assert curve.steps.tolist() == sorted(per_step) == list(range(15))
    assert curve.count.tolist() == [len(per_step[s]) for s in range(15)] == [2] * 5 + [1] * 10
    for i, step in enumerate(range(15)):
        assert curve.mean[i] == pytest.approx(statistics.fmean(per_step[step]), rel=1e-15)
        assert curve.lo[i] == min(per_step[step]) and curve.hi[i] == max(per_step[step])
    assert curve.label == "params.alpha=0.0001 (2 runs, 1–2 per step)"


def test_values_that_are_the_same_number_are_one_group(index: Index, tmp_path: Path) -> None:
    keys = [
        add_run(index, tmp_path, "a", {"lr": "0.01"}),
        add_run(index, tmp_path, "b", {"lr": "1e-2"}),
        add_run(index, tmp_path, "c", {"lr": "0.1"}),
        add_run(index, tmp_path, "d", {"lr": "nan"}),
        add_run(index, tmp_path, "e", {"lr": "NaN"}),
        add_run(index, tmp_path, "f", {}),
        add_run(index, tmp_path, "g", {"lr": "2"}),
    ]
    groups = group_runs(runs_json(index, keys), GroupBy.parse("params.lr"))
    assert [(g.value, len(g.run_keys)) for g in groups] == [
        ("0.01", 2), ("0.1", 1), ("2", 1), ("nan", 2), (None, 1),
    ]  # fmt: skip
    text = group_runs(runs_json(index, keys), GroupBy.parse("experiment"))
    assert [(g.value, len(g.run_keys)) for g in text] == [("exp", 7)]


@pytest.mark.parametrize("text", ["", "params.", "tags.", "name", "metrics.loss"])
def test_a_bad_group_by_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected params\.KEY, tags\.KEY"):
        GroupBy.parse(text)


def test_dedup_keeps_the_last_written_value_of_a_step() -> None:
    steps, values = dedup_last(np.array([2, 0, 1, 0, 2]), np.array([20.0, 0.0, 10.0, 5.0, 21.0]))
    assert steps.tolist() == [0, 1, 2] and values.tolist() == [5.0, 10.0, 21.0]


def _raw(key: str, steps: list[int], values: list[float]) -> RawSeries:
    return RawSeries(key, "loss", np.array(steps, dtype=np.int64), np.array(values), None)


def test_nan_and_inf_are_kept_out_of_the_statistics_and_counted(index: Index, tmp_path: Path) -> None:
    keys = [
        add_run(index, tmp_path, "a", {"seed": "1"}, {"loss": [1.0, math.nan, math.nan, 4.0]}),
        add_run(index, tmp_path, "b", {"seed": "2"}, {"loss": [3.0, 2.0, math.nan, math.inf]}),
    ]
    groups = group_runs(runs_json(index, keys), GroupBy.parse("experiment"))
    with index.reader() as reader:
        raws = load_series(reader, keys, ["loss"], with_timestamps=False)
    curve = aggregate(groups[0], "loss", raws)
    assert curve.count.tolist() == [2, 1, 0, 1]
    assert curve.nonfinite.tolist() == [0, 1, 2, 1]
    np.testing.assert_array_equal(curve.mean, [2.0, 2.0, np.nan, 4.0])  # step 2: every value NaN, a gap
    np.testing.assert_array_equal(curve.lo, [1.0, 2.0, np.nan, 4.0])
    np.testing.assert_array_equal(curve.hi, [3.0, 2.0, np.nan, 4.0])
    assert "1 logged NaN/inf" in curve.describe(1)
    chart = group_chart({"loss": [curve]}, groups)
    ax = chart.axes["loss"]
    marks = next(a for a in ax.get_lines() if a.get_gid() == f"nonfinite:{groups[0].id}")
    assert marks.get_xdata().tolist() == [1, 2, 3] and marks.get_marker() == "x"


def test_std_band_needs_two_values() -> None:
    groups = group_runs([{"key": "a", "params": {}}, {"key": "b", "params": {}}], GroupBy.parse("params.x"))
    curve = aggregate(groups[0], "loss", [_raw("a", [0, 1], [1.0, 2.0]), _raw("b", [0], [3.0])], BandKind.STD)
    assert curve.count.tolist() == [2, 1]
    assert curve.hi[0] - curve.mean[0] == pytest.approx(statistics.stdev([1.0, 3.0]))
    assert math.isnan(curve.lo[1]) and math.isnan(curve.hi[1]) and curve.mean[1] == 2.0


def test_smoothing_smooths_each_member_before_the_mean() -> None:
    groups = group_runs([{"key": "a"}, {"key": "b"}], GroupBy.parse("status"))
    a, b = [1.0, 5.0, 2.0, 8.0, 3.0], [4.0, 0.0, 6.0, 1.0, 9.0]
    curve = aggregate(
        groups[0], "loss", [_raw("a", list(range(5)), a), _raw("b", list(range(5)), b)], smoothing=0.6
    )
    expected = (ema_smooth(np.array(a), 0.6) + ema_smooth(np.array(b), 0.6)) / 2
    np.testing.assert_allclose(curve.mean, expected, rtol=1e-15)


def test_chart_artists_legend_band_and_hover(tmp_path: Path) -> None:
    index, runs = _indexed(tmp_path, SWEEP)
    with index:
        groups = group_runs(runs, GroupBy.parse("params.optimizer.name"))
        with index.reader() as reader:
            raws = load_series(reader, [r["key"] for r in runs], ["loss"], with_timestamps=False)
    curves = group_curves(groups, raws, ["loss"], BandKind.MINMAX)
    chart = group_chart(curves, groups, figsize=(8, 4))
    FigureCanvasAgg(chart.figure).draw()
    ax = chart.axes["loss"]
    assert chart.x_mode is XMode.STEP and ax.get_xlabel() == "step"
    assert sorted(line.get_gid() for line in ax.get_lines()) == ["mean:momentum", "mean:sgd"]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "params.optimizer.name=momentum (2 runs)", "params.optimizer.name=sgd (2 runs)",
    ]  # fmt: skip
    assert legend.get_title().get_text() == BAND_TITLES[BandKind.MINMAX]
    for curve in curves["loss"]:
        mean = next(a for a in ax.get_lines() if a.get_gid() == f"mean:{curve.group.id}")
        np.testing.assert_array_equal(mean.get_ydata(), curve.mean)  # 8 steps: the real points
        band = next(p for p in ax.patches if p.get_gid() == f"band:{curve.group.id}")
        ys = band.get_path().vertices[:, 1]
        assert ys.max() == curve.hi.max() and ys.min() == curve.lo.min()
        assert mean.get_color()[:3] == band.get_facecolor()[:3]
    # hover on a mean point says what it is made of
    curve = curves["loss"][1]
    px, py = ax.transData.transform((3, curve.mean[3]))
    hit = chart.nearest(ax, px, py)
    assert hit is not None
    assert hit.text.startswith("params.optimizer.name=sgd\nstep 3   loss mean = ")
    assert f"2 of 2 runs; min {curve.lo[3]:.6g}, max {curve.hi[3]:.6g}" in hit.text


def test_several_metrics_share_one_legend_under_the_axes(tmp_path: Path) -> None:
    index, runs = _indexed(tmp_path, SWEEP)
    with index:
        groups = group_runs(runs, GroupBy.parse("params.optimizer.lr"))
        with index.reader() as reader:
            raws = load_series(reader, [r["key"] for r in runs], ["loss", "w", "b"], with_timestamps=False)
    chart = group_chart(group_curves(groups, raws, ["loss", "w", "b"], BandKind.STD), groups)
    assert list(chart.axes) == ["loss", "w", "b"]
    assert all(ax.get_legend() is None for ax in chart.axes.values())
    (legend,) = chart.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "params.optimizer.lr=0.01 (2 runs)", "params.optimizer.lr=0.05 (2 runs)",
    ]  # fmt: skip
    assert legend.get_title().get_text() == "mean ± std"


def test_dense_groups_keep_every_spread_extreme_at_any_zoom() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    b[123_457] = 50.0  # one member's spike: the band's top must reach it
    groups = group_runs([{"key": "a"}, {"key": "b"}], GroupBy.parse("status"))
    curve = aggregate(groups[0], "loss", [_raw("a", list(range(n)), a), _raw("b", list(range(n)), b)])
    chart = group_chart({"loss": [curve]}, groups, figsize=(8, 4), dpi=100)
    FigureCanvasAgg(chart.figure).draw()
    ax = chart.axes["loss"]
    band = next(p for p in ax.patches if p.get_gid() == f"band:{groups[0].id}")
    assert band.columns is not None
    x, lo, hi = band.columns
    assert len(x) < 1000  # per pixel column, not per step
    assert hi.max() == 50.0 and lo.min() == min(a.min(), b.min())
    assert ax.get_ylim()[1] >= 50.0
    ax.set_xlim(123_000, 124_000)  # 1,000 steps: still more than pixel columns
    x, lo, hi = band.columns
    assert 50.0 in hi.tolist() and len(x) < 1000
    ax.set_xlim(123_400, 123_600)  # zoomed in: the real steps again
    x, lo, hi = band.columns
    assert x.tolist() == list(range(123_399, 123_602))
    assert hi[x.tolist().index(123_457)] == 50.0


def test_a_huge_group_value_is_cut_in_its_label_not_in_its_value() -> None:
    big = "v" * (1 << 20)
    groups = group_runs(
        [{"key": "a", "params": {"x": big}}, {"key": "b", "params": {"x": big}}], GroupBy.parse("params.x")
    )
    (group,) = groups
    assert group.value == big and group.label == "params.x=" + "v" * 39 + "…"
    curve = aggregate(group, "loss", [_raw("a", [0, 1], [1.0, 2.0]), _raw("b", [0, 1], [3.0, 4.0])])
    chart = group_chart({"loss": [curve]}, groups)
    FigureCanvasAgg(chart.figure).draw()  # quick: the legend holds 40 characters of it
    assert chart.axes["loss"].get_legend().get_texts()[0].get_text() == "params.x=" + "v" * 39 + "… (2 runs)"


@pytest.mark.parametrize("band", list(BandKind))
def test_the_matrix_and_the_indexed_paths_agree(band: BandKind) -> None:
    """Members on one schedule take a members x steps matrix, others the indexed sums: one rule."""
    from expdesk.compare.groups import _indexed_stats, _matrix_stats

    rng = np.random.default_rng(3)
    values = rng.normal(size=(5, 400)) * 1e6
    values[rng.random(values.shape) < 0.05] = np.nan
    values[0, 7] = np.inf
    values[:, 9] = np.nan  # a step where every member logged NaN
    values[1:, 11] = np.nan  # and one with a single finite value
    where = np.tile(np.arange(400), 5)
    by_matrix = _matrix_stats(values, band)
    by_index = _indexed_stats(where, values.reshape(-1), 400, band)
    for a, b in zip(by_matrix, by_index, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    mean, _lo, _hi, count, nonfinite = by_matrix
    assert count[9] == 0 and nonfinite[9] == 5 and math.isnan(mean[9])
    assert count[11] == 1 and mean[11] == values[0, 11]
