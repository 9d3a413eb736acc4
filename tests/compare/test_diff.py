"""Diff semantics: missing keys, NaN, numeric vs string equality, best per direction, legend names."""

from __future__ import annotations

from typing import Any

import pytest

from expdesk.compare.diff import Direction, build_diff, infer_direction, legend_labels


def run(
    key: str, params: dict[str, str] | None = None, metrics: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "key": key,
        "name": kw.get("name", f"run-{key}"),
        "experiment": "exp",
        "status": "finished",
        "format": "generic",
        "params": params or {},
        "tags": kw.get("tags", {}),
        "metrics": {
            m: {"last": v, "min": v, "max": v} if not isinstance(v, dict) else v
            for m, v in (metrics or {}).items()
        },
    }


def rows_by_label(table: Any, only: bool = True) -> dict[str, Any]:
    return {r.label: r for r in table.visible_rows(only)}


def test_missing_key_is_a_difference_shown_empty() -> None:
    table = build_diff([run("a", {"lr": "0.1", "wd": "0"}), run("b", {"lr": "0.1"})])
    rows = rows_by_label(table)
    assert "params.lr" not in rows
    assert [c.text for c in rows["params.wd"].cells] == ["0", ""]
    assert not rows["params.wd"].cells[1].present


def test_key_missing_everywhere_but_one_and_both_missing_are_same() -> None:
    table = build_diff([run("a"), run("b"), run("c", {"x": "1"})])
    assert [c.text for c in rows_by_label(table)["params.x"].cells] == ["", "", "1"]


def test_nan_equals_nan_and_numbers_compare_numerically() -> None:
    table = build_diff(
        [
            run("a", {"lr": "1e-3", "d": "nan", "opt": "adam", "n": "10"}),
            run("b", {"lr": "0.001", "d": "NaN", "opt": "Adam", "n": "10.0"}),
        ]
    )
    rows = rows_by_label(table)
    assert set(rows) == {
        "params.opt"
    }  # strings compare exactly; "1e-3" == "0.001", "10" == "10.0", NaN == NaN
    all_rows = rows_by_label(table, only=False)
    assert all_rows["params.lr"].same and [c.text for c in all_rows["params.lr"].cells] == ["1e-3", "0.001"]


def test_nan_metric_values_are_same_but_never_best() -> None:
    table = build_diff(
        [
            run("a", metrics={"val_loss": "NaN"}),
            run("b", metrics={"val_loss": 0.5}),
            run("c", metrics={"val_loss": 0.7}),
        ]
    )
    row = rows_by_label(table)["val_loss · last"]
    assert [c.text for c in row.cells] == ["NaN", "0.5", "0.7"]
    assert row.direction is Direction.MIN and row.best == frozenset({1})


def test_best_follows_direction_and_override() -> None:
    runs = [run("a", metrics={"accuracy": 0.9, "speed": 3}), run("b", metrics={"accuracy": 0.8, "speed": 5})]
    rows = rows_by_label(build_diff(runs))
    assert rows["accuracy · max"].best == frozenset({0})
    assert rows["speed · last"].best == frozenset()  # unknown direction: no highlight
    rows = rows_by_label(build_diff(runs, directions={"speed": Direction.MAX, "accuracy": Direction.MIN}))
    assert rows["speed · last"].best == frozenset({1}) and rows["accuracy · max"].best == frozenset({1})


def test_missing_metric_is_empty_and_ties_are_all_best() -> None:
    rows = rows_by_label(
        build_diff([run("a", metrics={"loss": 1.0}), run("b", metrics={"loss": 1.0}), run("c")])
    )
    row = rows["loss · last"]
    assert [c.text for c in row.cells] == ["1", "1", ""] and row.best == frozenset({0, 1})


def test_constant_rows_collapse_into_one_line() -> None:
    table = build_diff([run("a", {"lr": "0.1", "bs": "32"}), run("b", {"lr": "0.2", "bs": "32"})])
    summary = table.constant_summary()
    assert summary.startswith("4 identical rows:") and "params.bs=32" in summary
    assert "params.lr" not in summary
    assert len(table.visible_rows(False)) == len(table.visible_rows(True)) + 4


def test_single_run_hides_nothing() -> None:
    table = build_diff([run("a", {"lr": "0.1"})])
    assert "params.lr" in rows_by_label(table) and table.constant_summary() == ""


def test_value_at_step_rows() -> None:
    table = build_diff(
        [run("a", metrics={"loss": 1.0}), run("b", metrics={"loss": 2.0})],
        at_step=5,
        values_at_step={"loss": {"a": 0.3, "b": None}},
    )
    row = rows_by_label(table)["loss · @step 5"]
    assert [c.text for c in row.cells] == ["0.3", ""] and row.best == frozenset({0})


def test_matrix_and_transpose() -> None:
    table = build_diff([run("a", {"lr": "0.1"}, name="one"), run("b", {"lr": "0.2"}, name="two")])
    assert table.as_matrix() == [["", "one", "two"], ["params.lr", "0.1", "0.2"]]
    assert table.as_matrix(transpose=True) == [["", "params.lr"], ["one", "0.1"], ["two", "0.2"]]


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("val_loss", Direction.MIN),
        ("train/loss", Direction.MIN),
        ("eval_wer", Direction.MIN),
        ("epoch_time", Direction.MIN),
        ("valLoss", Direction.MIN),
        ("test_rmse", Direction.MIN),
        ("val_accuracy", Direction.MAX),
        ("top1_acc", Direction.MAX),
        ("acc1", Direction.MAX),
        ("f1_score", Direction.MAX),
        ("mAP", Direction.MAX),
        ("rouge_l", Direction.MAX),
        ("learning_rate", Direction.NONE),
        ("heatmap_size", Direction.NONE),
        ("timestamp", Direction.NONE),
        ("grad_norm", Direction.NONE),
    ],
)
def test_direction_inference(name: str, direction: Direction) -> None:
    assert infer_direction(name) is direction


def test_legend_names_by_differing_params() -> None:
    runs = [
        run("a", {"lr": "0.01", "opt": "adam", "seed": "1", "bs": "32"}),
        run("b", {"lr": "0.1", "opt": "sgd", "seed": "1", "bs": "32"}),
    ]
    assert legend_labels(runs) == ["lr=0.01, opt=adam", "lr=0.1, opt=sgd"]


def test_legend_falls_back_to_names_and_disambiguates() -> None:
    assert legend_labels([run("a", name="x"), run("b", name="y")]) == ["x", "y"]
    runs = [run("a", {"lr": "1"}, name="p"), run("b", {"lr": "1", "z": "1"}, name="q")]
    assert legend_labels(runs) == ["p", "z=1"]


def test_five_hundred_runs() -> None:
    runs = [run(f"{i:04d}", {"lr": str(i % 7), "seed": "0"}, {"loss": i * 0.1}) for i in range(500)]
    table = build_diff(runs)
    assert len(table.run_keys) == 500
    assert rows_by_label(table)["loss · last"].best == frozenset({0})
