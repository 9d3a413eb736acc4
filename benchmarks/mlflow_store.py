"""Write MLflow file stores (`mlruns/`) byte for byte as MLflow's own client writes them, fast.

Logging millions of points through `MlflowClient` takes far longer than the benchmarks themselves, so the
big stores are written here. `python benchmarks/mlflow_store.py --check` proves the claim on the installed
MLflow: it logs a small store through the client (experiment, runs with params, tags and metrics with NaN,
infinities, negative and repeated steps, terminated runs), writes the same content with `write_store`, and
compares every file byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: how a run's metric values are drawn: (run index, metric index, step) -> value
Values = Callable[[int, int, int], float]


def _experiment_meta(store: Path, exp_id: str, name: str, created_ms: int) -> str:
    return (
        f"artifact_location: file://{store / exp_id}\ncreation_time: {created_ms}\n"
        f"effective_trace_archival_retention: null\nexperiment_id: '{exp_id}'\n"
        f"last_update_time: {created_ms}\nlifecycle_stage: active\nname: {name}\n"
        f"trace_location: null\nworkspace: default\n"
    )


def _run_meta(store: Path, exp_id: str, run_id: str, name: str, start: int, end: int) -> str:
    return (
        f"artifact_uri: file://{store / exp_id / run_id}/artifacts\nend_time: {end}\n"
        f"entry_point_name: ''\nexperiment_id: '{exp_id}'\nlifecycle_stage: active\nrun_id: {run_id}\n"
        f"run_name: {name}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\n"
        f"status: 3\ntags: []\nuser_id: unknown\n"
    )


def write_store(
    base: Path,
    runs: int,
    metrics: int,
    steps: int,
    seed: int = 0,
    *,
    exp_id: str = "411160905199386910",
    created_ms: int = 1700000000000,
    run_ids: list[str] | None = None,
    values: Values | None = None,
    params: Callable[[int], dict[str, str]] | None = None,
) -> Path:
    """`runs` finished runs of `metrics` metrics x `steps` steps each (one point per step, 1 ms apart), with
    two params and the run-name tag, as MLflow 3's file store writes them. Returns the `mlruns` folder."""
    rng = random.Random(seed)
    store = base / "mlruns"
    (store / ".trash").mkdir(parents=True)
    (store / "0").mkdir()
    (store / "0" / "meta.yaml").write_text(_experiment_meta(store, "0", "Default", created_ms))
    exp = store / exp_id
    exp.mkdir()
    (exp / "meta.yaml").write_text(_experiment_meta(store, exp_id, "sweep", created_ms))
    draw = values or (lambda _r, _m, _s: rng.random())
    for r in range(runs):
        run_id = run_ids[r] if run_ids else f"{rng.getrandbits(128):032x}"
        run = exp / run_id
        for sub in ("artifacts", "metrics", "params", "tags"):
            (run / sub).mkdir(parents=True)
        start = 1700000000000 + 1000 * r
        (run / "meta.yaml").write_text(_run_meta(store, exp_id, run_id, f"run-{r}", start, start + 100000))
        for key, value in (
            params(r) if params else {"lr": str(10 ** -rng.randint(1, 5)), "seed": str(r)}
        ).items():
            (run / "params" / key).write_text(value)
        (run / "tags" / "mlflow.runName").write_text(f"run-{r}")
        for m in range(metrics):
            lines = "".join(f"{start + 1 + s} {draw(r, m, s)!r} {s}\n" for s in range(steps))
            with open(run / "metrics" / f"metric_{m}", "w") as fh:
                fh.write(lines)
    return store


def _special(r: int, m: int, s: int) -> float:
    return (
        [float("nan"), float("inf"), -0.0, 1e-300, -2.5][(r + m + s) % 5] if s % 2 else r + m / 10 + s / 100
    )


def check(runs: int = 3, metrics: int = 2, steps: int = 4) -> list[str]:
    """Differences between MLflow's client output and `write_store` for the same content (empty = none)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    with tempfile.TemporaryDirectory() as tmp:
        theirs, ours = Path(tmp) / "theirs", Path(tmp) / "ours"
        client = MlflowClient(tracking_uri=(theirs / "mlruns").as_uri())
        exp_id = client.create_experiment("sweep")
        run_ids = []
        for r in range(runs):
            start = 1700000000000 + 1000 * r
            run_id = client.create_run(exp_id, run_name=f"run-{r}", start_time=start).info.run_id
            points = [
                Metric(f"metric_{m}", _special(r, m, s), start + 1 + s, s)
                for m in range(metrics)
                for s in range(steps)
            ]
            client.log_batch(run_id, metrics=points, params=[Param("lr", f"1e-{r}"), Param("seed", str(r))],
                             tags=[RunTag("mlflow.runName", f"run-{r}")])  # fmt: skip
            client.set_terminated(run_id, "FINISHED", end_time=start + 100000)
            run_ids.append(run_id)
        created = int(
            next(ln for ln in (theirs / "mlruns" / exp_id / "meta.yaml").read_text().splitlines()
                 if ln.startswith("creation_time")).split()[1]
        )  # fmt: skip
        write_store(ours, runs, metrics, steps, exp_id=exp_id, created_ms=created, run_ids=run_ids,
                    values=_special, params=lambda r: {"lr": f"1e-{r}", "seed": str(r)})  # fmt: skip
        differences = []
        for path in sorted((theirs / "mlruns").rglob("*")):
            rel = path.relative_to(theirs / "mlruns")
            mine = ours / "mlruns" / rel
            if rel.parts[0] == "0":
                continue  # the Default experiment: its times are the client's clock
            if path.is_dir() != mine.is_dir() or (not path.is_dir() and not mine.exists()):
                differences.append(f"{rel}: missing or of another kind")
            elif (
                path.is_file()
                and not filecmp.cmp(path, mine, shallow=False)
                and path.read_text().replace(str(theirs), "") != mine.read_text().replace(str(ours), "")
            ):
                differences.append(f"{rel}: differs")
        extra = {p.relative_to(ours / "mlruns") for p in (ours / "mlruns").rglob("*")} - {
            p.relative_to(theirs / "mlruns") for p in (theirs / "mlruns").rglob("*")
        }
        differences += [f"{rel}: only in ours" for rel in sorted(extra) if rel.parts[0] != "0"]
        return differences


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with MLflow's own client output")
    args = ap.parse_args()
    if args.check:
        differences = check()
        print(
            "\n".join(differences) or "identical to MLflow's own file store output (all files, byte for byte)"
        )
        sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
