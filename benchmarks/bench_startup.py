"""Start-up time: launch → an interactive main window showing the first page of a 1,000-run index.

    python benchmarks/bench_startup.py                      # this interpreter (an installed venv)
    python benchmarks/bench_startup.py --python VENV/bin/python --runs 1000 --repeat 7
    python benchmarks/bench_startup.py --frozen dist/expdesk/expdesk

Window (python mode): the child is `python -c PROBE --db DB`, where PROBE creates the QApplication, installs
an event filter and then calls `expdesk.cli.entry` exactly as the console script does (app.py reuses the
existing QApplication). The filter stops the clock at the first paint of the runs table's viewport with
rows in it, prints the time and which heavy modules were imported by then, and quits. The figure is wall
time from just before the process is spawned, so interpreter start and every import are included.
CLI: `expdesk runs --db DB` and `expdesk --version`, and whether the CLI path stays free of pandas,
matplotlib and Qt. `--self-test` (open, index the demo, exit) is timed in both modes; frozen mode skips
the window probe (a probe cannot be injected into a frozen executable). Figures are medians over --repeat launches after one warm-up launch. Output
goes under a temp dir; the user's config, data and index are never touched (XDG_* and HOME are redirected).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = r"""
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QAbstractItemView, QApplication

app = QApplication(sys.argv[:1])
state = {"done": False}

class Probe(QObject):
    # Stops the clock at the first paint of a runs view that has rows: the user can now click a run.
    def eventFilter(self, obj, event):
        if not state["done"] and event.type() == QEvent.Type.Paint:
            view = obj.parent()
            if isinstance(view, QAbstractItemView) and obj is view.viewport():
                model = view.model()
                if model is not None and "Run" in type(model).__name__ and model.rowCount() > 0:
                    state["done"] = True
                    heavy = [m for m in ("pandas", "matplotlib", "matplotlib.pyplot") if m in sys.modules]
                    print("PAINTED", time.time(), model.rowCount(), ",".join(heavy) or "-", flush=True)
                    QTimer.singleShot(0, app.quit)
        return False

probe = Probe()
app.installEventFilter(probe)
QTimer.singleShot(60_000, app.quit)
from expdesk.cli import main
sys.exit(main(sys.argv[1:]))
"""

CLI_IMPORTS = (
    "import sys; from expdesk.cli import main; main(['runs', '--db', sys.argv[1]]); "
    "print('HEAVY', ','.join(m for m in ('pandas', 'matplotlib', 'PySide6', 'numpy') if m in sys.modules) or '-')"
)


def make_runs(root: Path, count: int, steps: int = 50) -> None:
    """`count` plain run folders (params.json + metrics.jsonl), the generic format's simplest layout."""
    for i in range(count):
        run = root / f"sweep-{i // 100:02d}" / f"run-{i:04d}"
        run.mkdir(parents=True)
        lr = 10 ** (-1 - (i % 4))
        params = {"lr": lr, "batch_size": 16 << (i % 3), "seed": i, "optimizer": ("adam", "sgd")[i % 2]}
        (run / "params.json").write_text(json.dumps(params), encoding="utf-8")
        lines = [
            json.dumps({"step": s, "loss": 2.0 / (1 + s * lr * 10) + (i % 7) * 0.01, "acc": s / steps})
            for s in range(steps)
        ]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(cmd: list[str], env: dict[str, str], timeout: float = 120) -> tuple[float, str]:
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]}… exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def median_of(repeat: int, run: callable) -> tuple[float, list[float]]:  # type: ignore[valid-type]
    run()  # warm-up: the first launch after a build pays for cold disk caches and .pyc writing
    samples = [run() for _ in range(repeat)]
    return statistics.median(samples), samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter of the venv expdesk is installed in"
    )
    parser.add_argument("--frozen", type=Path, help="a frozen expdesk executable to time instead")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-window", action="store_true", help="only the CLI figures")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="expdesk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "HOME": str(tmp / "home"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        }
        env.pop("EXPDESK_DB", None)
        db = tmp / "index.sqlite"
        make_runs(tmp / "runs", opts.runs)
        expdesk = [str(opts.frozen)] if opts.frozen else [opts.python, "-m", "expdesk"]
        seconds, out = timed([*expdesk, "index", str(tmp / "runs"), "--db", str(db), "-q"], env, timeout=600)
        print(f"indexed {opts.runs} runs in {seconds:.2f} s ({'frozen' if opts.frozen else opts.python})")

        for label, cmd in (
            ("expdesk --version", [*expdesk, "--version"]),
            (f"expdesk runs ({opts.runs} runs)", [*expdesk, "runs", "--db", str(db)]),
        ):
            med, samples = median_of(opts.repeat, lambda cmd=cmd: timed(cmd, env)[0])
            print(f"{label:<34} median {med:.3f} s   ({', '.join(f'{s:.2f}' for s in samples)})")

        if not opts.no_window:
            # the same job for the frozen app and a venv: open, index the 23-run demo, paint, exit
            cmd = [*expdesk, "--self-test", "--db", str(tmp / "selftest.sqlite")]
            # its own settings and data: the demo workspace it adds must not become a root of the window below
            selftest_env = {
                **env,
                "XDG_CONFIG_HOME": str(tmp / "st-config"),
                "XDG_DATA_HOME": str(tmp / "st-data"),
            }
            med, samples = median_of(opts.repeat, lambda: timed(cmd, selftest_env, timeout=300)[0])
            print(
                f"{'expdesk --self-test (demo)':<34} median {med:.3f} s   ({', '.join(f'{s:.2f}' for s in samples)})"
            )
        if opts.frozen:
            return 0

        _, out = timed([opts.python, "-c", CLI_IMPORTS, str(db)], env)
        heavy = out.split("HEAVY", 1)[1].strip()
        print(f"{'imported by `expdesk runs`':<34} {heavy}   (pandas/matplotlib/PySide6 should not be)")
        if opts.no_window:
            return 0

        painted_rows = {"rows": "", "heavy": ""}

        def window() -> float:
            start = time.time()
            _, out = timed([opts.python, "-c", PROBE, "--db", str(db)], env)
            line = next((ln for ln in out.splitlines() if ln.startswith("PAINTED")), None)
            if line is None:
                raise RuntimeError("the runs table was never painted with rows:\n" + out[-2000:])
            _, stamp, rows, heavy = line.split()
            painted_rows.update(rows=rows, heavy=heavy)
            return float(stamp) - start

        med, samples = median_of(opts.repeat, window)
        print(
            f"{'launch → runs table painted':<34} median {med:.3f} s   ({', '.join(f'{s:.2f}' for s in samples)})"
            f"   first page: {painted_rows['rows']} rows; imported by then: {painted_rows['heavy']}"
        )
        print(f"target < 1.5 s: {'met' if med < 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
