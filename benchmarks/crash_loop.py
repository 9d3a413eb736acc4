"""kill -9 crash loop: the index DB survives SIGKILL at random moments of `index` and `export`.

    python -m benchmarks.crash_loop [--kills 200] [--runs 40] [--points 1000] [--seed 1] [--workdir DIR]

Builds a store (every sample run of tests/data plus `--runs` generated runs), indexes it once into a clean
DB, then repeatedly starts `python -m expdesk index ROOT --db DB --force` (3 of 4 times) or
`python -m expdesk export KEY ...` (1 of 4), SIGKILLs it at a random moment between launch and its usual
finish time, and checks `PRAGMA integrity_check` == ok. Now and then the DB is deleted first, so kills also
land while it is being created and migrated. At the end `index` runs to completion and every row is
compared with the clean DB (timestamps and row ids ignored). Prints runs, kills, integrity failures and
row mismatches; exits 1 unless the last two are 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "runs"


@dataclass
class Result:
    runs: int = 0  # processes started
    kills: int = 0  # of them SIGKILLed before they finished
    integrity_failures: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"runs: {self.runs}  kills: {self.kills}  integrity failures: {self.integrity_failures}  "
            f"row mismatches after re-index: {len(self.mismatches)}  ({self.seconds:.0f} s)"
        )


def build_store(root: Path, runs: int, points: int, seed: int) -> None:
    """Real sample runs of every tool, plus generic runs with params and `points`-line metric files."""
    rng = random.Random(seed)
    shutil.copytree(DATA, root / "samples")
    for i in range(runs):
        run = root / "generated" / f"run-{i:04d}"
        run.mkdir(parents=True)
        (run / "params.json").write_text(json.dumps({"lr": rng.random(), "seed": i, "opt": "adam"}))
        lines = [
            json.dumps({"step": s, "loss": rng.random(), "acc": s / points, "time": 1.7e9 + s})
            for s in range(points)
        ]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        (run / "model.bin").write_bytes(rng.randbytes(4096))
        (run / "DONE").touch()


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def _expdesk(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "expdesk", *map(str, args)]


def integrity(db: Path) -> str:
    """integrity_check through a normal connection, as the next expdesk start would open it (WAL replay)."""
    if not db.exists():
        return "ok"  # killed before the file was created: nothing to damage
    conn = sqlite3.connect(db, timeout=30)
    try:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        return f"cannot open: {exc}"
    finally:
        conn.close()


#: per table: the columns that identify and describe a row, without clocks and row ids
_COMPARE = {
    "runs": "SELECT key, format, path, root, store, native_id, name, experiment, status, native_status, deleted,"
    " gone, start_time, end_time, parent_native_id, parent_key, info, error, fingerprint, cursor FROM runs",
    "params": "SELECT run_key, key, value, num FROM params",
    "tags": "SELECT run_key, key, value FROM tags",
    "series": "SELECT run_key, key, count, first_step, last_step, last, min, max, argmin_step, argmax_step,"
    " nan_count, last_timestamp, exact FROM series",
    "chunks": "SELECT s.run_key, s.key, c.seq, c.n, c.steps, c.vals, c.ts FROM chunks c"
    " JOIN series s ON s.id = c.series_id",
    "artifacts": "SELECT run_key, path, size, mtime_ns FROM artifacts",
    "files": "SELECT run_key, direction, role, path, local, size, digests FROM files",
    "links": "SELECT run_key, rule, target_native_id, target_path, evidence, target_key FROM links",
}


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {table: sorted(conn.execute(sql).fetchall(), key=repr) for table, sql in _COMPARE.items()}
    finally:
        conn.close()


def compare(clean: Path, crashed: Path) -> list[str]:
    a, b = rows(clean), rows(crashed)
    out = []
    for table in _COMPARE:
        if a[table] != b[table]:
            missing = len(set(map(repr, a[table])) - set(map(repr, b[table])))
            extra = len(set(map(repr, b[table])) - set(map(repr, a[table])))
            out.append(f"{table}: {missing} rows missing, {extra} rows extra")
    return out


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def crash_loop(workdir: Path, kills: int, runs: int, points: int, seed: int, log: bool = True) -> Result:
    rng = random.Random(seed)
    result = Result()
    started = time.perf_counter()
    root = workdir / "store"
    if not root.exists():
        build_store(root, runs, points, seed)
    clean, db = workdir / "clean.sqlite", workdir / "crash" / "index.sqlite"
    db.parent.mkdir(exist_ok=True)
    index_seconds = _timed(_expdesk("index", root, "--db", clean, "-q"))
    conn = sqlite3.connect(clean)
    keys = [r[0] for r in conn.execute("SELECT key FROM runs WHERE path LIKE '%generated%' ORDER BY key")]
    conn.close()
    export_seconds = _timed(_expdesk("export", keys[0], "--db", clean, "--out", workdir / "probe.zip", "-q"))
    if log:
        print(f"store: {root} — clean index {index_seconds:.2f} s, export {export_seconds:.2f} s", flush=True)
    _timed(_expdesk("index", root, "--db", db, "-q"))
    while result.kills < kills:
        if rng.random() < 0.1:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        if rng.random() < 0.25:
            out = workdir / "exports" / f"{result.runs}.zip"
            out.parent.mkdir(exist_ok=True)
            command, budget = (
                _expdesk("export", rng.choice(keys), "--db", db, "--out", out, "-q"),
                export_seconds,
            )
        else:
            command, budget = _expdesk("index", root, "--db", db, "-q", "--force"), index_seconds
        proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result.runs += 1
        try:
            proc.wait(timeout=rng.uniform(0.05, budget * 1.05))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)  # only the child we started, by its pid
            proc.wait()
            result.kills += 1
        verdict = integrity(db)
        if verdict != "ok":
            result.integrity_failures += 1
            if log:
                print(f"  run {result.runs}: integrity_check: {verdict[:200]}", flush=True)
        if log and result.runs % 20 == 0:
            print(f"  {result.line()}", flush=True)
    # converge: one complete run after all the kills, then the same rows as the clean index
    subprocess.run(_expdesk("index", root, "--db", db, "-q"), env=_env(), check=True, capture_output=True)
    result.mismatches = compare(clean, db)
    result.seconds = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--runs", type=int, default=40, help="generated runs on top of the samples")
    parser.add_argument("--points", type=int, default=1000, help="metric lines per generated run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the store and DBs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="expdesk-crash-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = crash_loop(workdir, args.kills, args.runs, args.points, args.seed)
    print(result.line())
    for mismatch in result.mismatches:
        print(f"  mismatch: {mismatch}")
    return 0 if result.integrity_failures == 0 and not result.mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
