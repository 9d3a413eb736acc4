"""Export/verify timings and bundle size: the MLflow model run of tests/data, and a synthetic run with a
large model file and many runs joined by hash. Prints figures; writes only to a temp dir.

    python benchmarks/bench_bundle.py [--model-mib 256]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.bundle.export import ExportOptions, plan_bundle, write_bundle
from expdesk.bundle.verify import verify
from expdesk.index.filter import compile_filter
from expdesk.index.service import Index

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "runs"


def timed_export(index: Index, key: str, out: Path) -> tuple[float, float, Path, str]:
    with index.reader() as reader:
        started = time.perf_counter()
        plan = plan_bundle(reader, key, ExportOptions(), writer_call=index.writer.call)
        planned = time.perf_counter()
        path = write_bundle(plan, out)
    return planned - started, time.perf_counter() - planned, path, plan.fingerprint


def _where(expr: str) -> tuple[str, tuple[object, ...]]:
    sql, params = compile_filter(expr)
    return sql, tuple(params)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        index = Index(tmp_path / "db.sqlite")
        index.index([DATA / "mlflow"])
        with index.reader() as reader:
            key = reader.run_keys(True, *_where('format = mlflow and name = "sgd-baseline"'))[0]
        for label, folder in (("first", "a"), ("again", "b")):
            (tmp_path / folder).mkdir()
            plan_s, write_s, path, fp = timed_export(index, key, tmp_path / folder)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"mlflow sgd-baseline {label}: plan {plan_s * 1000:.0f} ms, write {write_s * 1000:.0f} ms, "
                  f"{path.stat().st_size:,} bytes, zip sha256 {digest[:16]}, fingerprint {fp[:12]}")  # fmt: skip
        started = time.perf_counter()
        ok = verify(path).ok
        print(f"verify zip: {ok} in {(time.perf_counter() - started) * 1000:.0f} ms")
        run = tmp_path / "big" / "run-big"
        run.mkdir(parents=True)
        with open(run / "model.safetensors", "wb") as handle:
            for _ in range(args.model_mib):
                handle.write(os.urandom(1 << 20))
        (run / "metrics.jsonl").write_text(
            "".join(f'{{"step": {i}, "loss": {1 / (i + 1)}}}\n' for i in range(100_000))
        )
        index.index([tmp_path / "big"])
        with index.reader() as reader:
            big = reader.run_keys(True, *_where('name = "run-big"'))[0]
        (tmp_path / "c").mkdir()
        plan_s, write_s, path, _fp = timed_export(index, big, tmp_path / "c")
        mib = args.model_mib
        print(f"{mib} MiB model + 100k metric points: plan {plan_s:.2f} s, write {write_s:.2f} s "
              f"({mib / (plan_s + write_s):.0f} MiB/s overall), {path.stat().st_size / 2**20:.1f} MiB zip")  # fmt: skip
        started = time.perf_counter()
        ok = verify(path).ok
        print(f"verify big zip: {ok} in {time.perf_counter() - started:.2f} s")
        index.close()


if __name__ == "__main__":
    main()
