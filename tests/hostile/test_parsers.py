"""Guarantee 3 (inert) and the parser rows of HOSTILE.md: YAML, JSON, CSV and MLflow metric lines as hostile
tools and half-finished writers leave them; pickles and friends are listed, never loaded."""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.safefile import MAX_YAML_BYTES, parse_json_text, safe_yaml
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.sources import registry
from expdesk.sources.mlflow._common import parse_metric_lines
from tests.hostile.conftest import cli, copy_tool


def _only_run(db: Path) -> dict[str, Any]:
    with IndexReader(db) as reader:
        [run] = reader.runs_json(reader.run_keys(include_deleted=True), history=True)
    return run


def _generic_run(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    run = tmp_path / "root" / "run"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
    for name, content in files.items():
        (run / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return run.parent


# -- YAML ---------------------------------------------------------------------------------------------------


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    for tag in (
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
    ):
        with pytest.raises(SourceError):
            safe_yaml(f"x: {tag} ['touch {marker}']\n")
    assert not marker.exists()


def test_billion_laughs_is_refused_before_expanding() -> None:
    # refused by counting aliases while composing, before any expansion (hence fast, which is a
    # benchmark's business): nothing of the 9**10 values is ever built
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(SourceError, match="alias"):
        safe_yaml("\n".join(lines))


def test_nested_alias_expansion_under_the_alias_cap_is_still_refused() -> None:
    # 3 aliases per level x 11 levels stays under MAX_YAML_ALIASES but expands to 3**11 values
    lines = ["a0: &a0 [x, x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    with pytest.raises(SourceError, match="expands"):
        safe_yaml("\n".join(lines))


def test_huge_yaml_is_refused_without_parsing(tmp_path: Path, db: Path) -> None:
    root = _generic_run(tmp_path, {"params.yaml": b"a: " + b"x" * (MAX_YAML_BYTES + 10)})
    with Index(db) as index:
        index.index([root])
    run = _only_run(db)
    assert "over the" in run["error"] and run["metrics"]["loss"]["count"] == 1


def test_interpolations_and_yaml11_words_stay_as_written(tmp_path: Path, db: Path) -> None:
    os.environ.setdefault("HOME", "/root")
    root = _generic_run(
        tmp_path,
        {
            "params.yaml": "home: ${oc.env:HOME}\nuser: ${oc.env:USER,nobody}\nresolver: ${now:%Y}\n"
            "flag: yes\nsexagesimal: 1:20\nnorway: NO\nnull_key: ~\n"
        },
    )
    with Index(db) as index:
        index.index([root])
    params = _only_run(db)["params"]
    assert params["home"] == "${oc.env:HOME}"
    assert params["user"] == "${oc.env:USER,nobody}"
    assert params["resolver"] == "${now:%Y}"
    assert os.environ["HOME"] not in params.values()


# -- JSON ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,check",
    [
        ('{"a": NaN, "b": Infinity, "c": -Infinity, "d": -0.0}', lambda d: math.isnan(d["a"])),
        ('{"a": 9223372036854775808, "b": 18446744073709551616}', lambda d: d["b"] == 2**64),
        ('{"a": ' + "9" * 5000 + "}", lambda d: d["a"] == math.inf),
        ('{"a": 1, "a": 2}', lambda d: d["a"] == 2),
    ],
)
def test_json_edge_values_parse(text: str, check: Any) -> None:
    assert check(parse_json_text(text, "x.json"))


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000, "\x00\xff", "nul\x00"])
def test_json_hostile_documents_are_source_errors(text: str) -> None:
    with pytest.raises(SourceError):
        parse_json_text(text, "x.json")


@pytest.mark.parametrize("text", ["", "   ", '{"a": 1, "b": [1, 2', '{"a": 0.'])
def test_json_being_rewritten_is_incomplete_not_corrupt(text: str) -> None:
    with pytest.raises(IncompleteRead):
        parse_json_text(text, "x.json", partial_ok=True)


def test_jsonl_metrics_with_huge_numbers_and_deep_lines(tmp_path: Path, db: Path) -> None:
    root = _generic_run(tmp_path, {})
    (root / "run" / "metrics.jsonl").write_text(
        '{"step": 0, "loss": 1.0}\n'
        + '{"step": 1, "loss": ' + "9" * 5000 + "}\n"
        + "[" * 50_000 + "]" * 50_000 + "\n"
        + '{"step": 1e300, "loss": 0.5}\n'
        + '{"step": 3, "loss": NaN, "acc": -0.0}\n'
    )  # fmt: skip
    with Index(db) as index:
        index.index([root])
    run = _only_run(db)
    loss = [p["value"] for p in run["metrics"]["loss"]["history"]]
    assert loss[:2] == [1.0, "Infinity"] and len(loss) == 4  # the run JSON spells non-finite values as text
    assert run["error"] and "line 3" in run["error"]


# -- CSV ----------------------------------------------------------------------------------------------------


def test_csv_with_nul_huge_field_bare_cr_and_ragged_rows(tmp_path: Path, db: Path) -> None:
    root = tmp_path / "root"
    run = root / "run"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_bytes(
        b"step,loss,acc\n0,1.0,0.1\n1,0.\x009,0.2\n2," + b"x" * 200_000 + b",0.3\n3,0.7\r4,0.6,0.4,extra\n"
        b"99999999999999999999999,0.5,0.5\n"
    )
    with Index(db) as index:
        report = index.index([root])
    assert report.found == 1
    run_json = _only_run(db)
    assert run_json["metrics"]["acc"]["count"] >= 3
    assert run_json["metrics"]["loss"]["count"] >= 3


# -- MLflow metric lines ------------------------------------------------------------------------------------


def test_mlflow_metric_lines_every_shape() -> None:
    data = (
        b"1700000000000\n"
        b"1700000000000 1.0\n"
        b"1700000000000 1.0 0\n"
        b"1700000000000 2.0 1 extra\n"
        b"1700000000000 nan 2\n1700000000000 inf 3\n1700000000000 -0.0 4\n1700000000000 1e309 5\n"
        b"1700000000000 1.0 9223372036854775808\n"
        b"1700000000000 1.0 -7\n1700000000000 1.0 2.5\n"
        b"1700000000 1.0 8\n1700000000000000000 1.0 9\n0 1.0 10\n99999999999999 1.0 11\n"
        b"1700000000000 1.0 1\n1700000000000 1.0 0\n"  # duplicate and out-of-order steps (a restart)
        b"1700000000000 5.0 12"  # no trailing newline
    )
    steps, values, stamps, errors = parse_metric_lines(data, "metrics/loss")
    assert len(errors) == 3  # 1 field, 2 fields, a step beyond int64
    assert steps.tolist()[:2] == [0, 1] and steps.tolist()[-1] == 12
    assert math.isnan(values[2]) and values[3] == math.inf and math.copysign(1, values[4]) == -1
    assert values[5] == math.inf  # 1e309 overflows to inf, like MLflow
    assert -7 in steps.tolist() and 2 in steps.tolist()
    assert len(steps) == len(values) == len(stamps)


def test_big_metric_file_with_bad_values_falls_back(tmp_path: Path) -> None:
    good = b"".join(b"1700000000000 %d.5 %d\n" % (i, i) for i in range(5000))
    steps, values, _, errors = parse_metric_lines(good + b"garbage line here\n" + good, "m")
    assert len(steps) == 10_000 and len(errors) == 1
    assert values.dtype == np.float64


# -- inert: pickles and friends -----------------------------------------------------------------------------


class _Boom:
    """Unpickling this runs `open(marker, "w")`: the marker existing proves something loaded it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _plant(folder: Path, marker: Path) -> list[str]:
    payload = pickle.dumps(_Boom(marker))
    names = ["model.pkl", "model.pickle", "model.pt", "model.pth", "model.joblib", "checkpoint.ckpt"]
    for name in names:
        (folder / name).write_bytes(payload)
    np.save(folder / "weights.npy", np.array([_Boom(marker)], dtype=object), allow_pickle=True)
    (folder / "arrays.npz").write_bytes(payload)
    return [*names, "weights.npy", "arrays.npz"]


def test_pickles_are_listed_never_loaded(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    watched = tmp_path / "watched"
    planted = []
    mlflow = copy_tool("mlflow", watched) / "filestore"
    mlflow_run = next(p.parent for p in sorted(mlflow.rglob("meta.yaml")) if (p.parent / "params").is_dir())
    (mlflow_run / "artifacts" / "model").mkdir(parents=True, exist_ok=True)
    planted += _plant(mlflow_run / "artifacts" / "model", marker)
    plain = copy_tool("plain", watched)
    for run in sorted(
        {p.parent for p in plain.rglob("metrics.*")} | {p.parent for p in plain.rglob("history.json")}
    ):
        _plant(run, marker)
    sacred = copy_tool("sacred", watched)
    for run in sorted(p.parent for p in sacred.rglob("run.json")):
        _plant(run, marker)
    assert cli("index", watched, "--db", db, "-q") == 0
    with IndexReader(db) as reader:
        keys = reader.run_keys(include_deleted=True)
        runs = reader.runs_json(keys)
    listed = {a["path"].rsplit("/", 1)[-1] for r in runs for a in r["artifacts"]}
    assert set(planted) <= listed
    for run in runs:
        cli("show", run["key"], "--db", db, "--history")
        cli("lineage", run["key"], "--db", db)
    mlflow_key = next(r["key"] for r in runs if r["path"] == str(mlflow_run))
    assert (
        cli("export", mlflow_key, "--db", db, "--out", tmp_path / "bundle.zip", "--artifact", "model", "-q")
        == 0
    )
    capsys.readouterr()
    assert not marker.exists()


def test_no_reader_imports_an_unpickler() -> None:
    """Belt and braces: reading every sample run never calls pickle/torch/joblib loaders."""
    calls: list[str] = []
    real = pickle.loads, pickle.load, np.load
    try:
        pickle.loads = lambda *a, **k: calls.append("pickle.loads")  # type: ignore[assignment]
        pickle.load = lambda *a, **k: calls.append("pickle.load")  # type: ignore[assignment]
        np.load = lambda *a, **k: calls.append("np.load")  # type: ignore[assignment]
        data = Path(__file__).resolve().parent.parent / "data" / "runs"
        for ref in registry.discover(data):
            with contextlib.suppress(SourceError):
                registry.reader_for(ref.format).read(ref, None)
    finally:
        pickle.loads, pickle.load, np.load = real
    assert calls == []
    assert json  # keep the import for parametrized JSON cases


def test_export_of_a_run_with_a_deeply_nested_param_value(tmp_path: Path, db: Path) -> None:
    """A param *string* that looks like JSON 100,000 levels deep: the bundle writer types params by parsing
    them, which raised RecursionError out of `expdesk export`."""
    root = _generic_run(tmp_path, {"params.json": json.dumps({"deep": "[" * 100_000 + "]" * 100_000})})
    (root / "run" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    assert cli("index", root, "--db", db, "-q") == 0
    key = _only_run(db)["key"]
    out = tmp_path / "bundle.zip"
    assert cli("export", key, "--db", db, "--out", out, "--artifact", "model.safetensors", "-q") == 0


MUTATIONS = [
    b"",  # a blank line
    b"1700000000000 1.5 3\r",  # CRLF
    b'1700000000000 "1.5" 3',  # quotes are not MLflow's
    b"1700000000000\t1.5 3",
    b"1700000000000 1.5 3 ",
    b"1700000000000  1.5 3",
    b"1700000000000 1.5 3 dataset",
    b"1700000000000 1.5",
    b"1700000000000 1.5 3.0",
    b"1700000000000 1.5 9223372036854775808",
    b"1700000000000 NaN 3",
    b"1700000000000 -inf 3",
    b"1700000000000 Infinity 3",
    b"1700000000000 1e309 3",
    b"1700000000000 +1.5 3",
    b"1700000000000 0x10 3",
    b"1700000000000.5 1.5 3",
    b"17e11 1.5 3",
    b"1700000000000 1_000 3",
    b"1700000000000 1.5 -3",
]


def _careful(data: bytes) -> tuple[list[int], list[str], list[float]] | None:
    """What the line-by-line path accepts, spelled out: None when any line is refused."""
    steps, values, stamps = [], [], []
    for raw in data.split(b"\n")[:-1]:
        parts = raw.split()
        if len(parts) < 3:
            return None
        try:
            stamp, value = float(parts[0]), float(parts[1])
            # MLflow's reader: int(step); a float-typed writer's `3.0` is step 3
            step = int(parts[2]) if parts[2].lstrip(b"-").isdigit() else int(float(parts[2]))
        except (ValueError, OverflowError):
            return None
        if not -(2**63) <= step < 2**63:
            return None
        steps.append(step)
        values.append(repr(value))
        stamps.append(stamp)
    return steps, values, stamps


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32),
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2999), st.sampled_from(MUTATIONS)), max_size=3),
)
# found by CI: a float step then a step beyond int64 made pandas warn from a cast instead of refusing
@example(
    seed=0, mutations=[(0, 0, b"1700000000000 1.5 3.0"), (0, 1, b"1700000000000 1.5 9223372036854775808")]
)
def test_batched_metric_parse_agrees_with_the_careful_path_on_hostile_lines(
    seed: int, mutations: list[tuple[int, int, bytes]]
) -> None:
    # the one-call pandas path may refuse a run (then each file is parsed on its own), but whatever it
    # returns must be exactly what the careful line-by-line reading gives, file by file
    from expdesk.sources.mlflow._common import parse_many

    rng = np.random.default_rng(seed)
    files = []
    for f in range(2):
        lines = [b"%d %r %d" % (1700000000000 + i, float(v), i) for i, v in enumerate(rng.normal(size=3000))]
        for target, at, line in mutations:
            if target == f:
                lines[at] = line
        files.append(b"\n".join(lines) + b"\n")
    parsed = parse_many(files)
    expected = [_careful(data) for data in files]
    if not mutations:
        assert parsed is not None
    if parsed is None:
        return
    for (steps, values, stamps, errors), want in zip(parsed, expected, strict=True):
        assert want is not None and errors == []
        assert steps.tolist() == want[0]
        assert [repr(v) for v in values.tolist()] == want[1]
        assert stamps.tolist() == want[2]
