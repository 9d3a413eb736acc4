"""How long the window's workspace answer takes (key spread for default columns + counts + sources), the job
that runs after every indexing pass and every burst of live changes, and the key prints of a live sweep's
runs (`--sweep` newest runs), read at every burst to tell whether the spread must be measured again. Prints
medians of interleaved repeats.

    .venv/bin/python benchmarks/bench_key_stats.py [--runs 1000 10000 50000] [--keys 300] [--per-run 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_gui import build_index
from expdesk.gui.runs.default_columns import Workspace, default_columns
from expdesk.gui.runs.query import vocabulary
from expdesk.gui.window.sources_panel import load_sources
from expdesk.index.service import Index
from expdesk.index.table import key_prints, key_stats, ordered_keys, run_counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--per-run", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sweep", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-key-stats-"))
    indexes = {}
    for n in args.runs:
        index = Index(home / f"{n}.sqlite")
        build_index(index, n, args.keys, args.per_run)
        indexes[n] = index
    names = ("key_stats", "whole answer", f"key_prints of {args.sweep} runs")
    times: dict[int, dict[str, list[float]]] = {n: {name: [] for name in names} for n in args.runs}
    sweep = {}
    for n, index in indexes.items():
        with index.reader() as reader:
            sweep[n] = ordered_keys(reader, "", (), None)[: args.sweep]
    for _ in range(args.repeat):
        for n, index in indexes.items():  # interleaved: load drifts hit every size alike
            with index.reader() as reader:
                t0 = time.perf_counter()
                total, stats = key_stats(reader)
                t1 = time.perf_counter()
                load_sources(reader), vocabulary(reader), run_counts(reader)
                default_columns(Workspace(total, stats))
                t2 = time.perf_counter()
                key_prints(reader, sweep[n])
                t3 = time.perf_counter()
            times[n]["key_stats"].append(t1 - t0)
            times[n]["whole answer"].append(t2 - t0)
            times[n][names[2]].append(t3 - t2)
    for n in args.runs:
        cells = ", ".join(f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in times[n].items())
        print(f"{n:>7,} runs x {args.per_run} params + {args.per_run} metrics ({args.keys} keys): {cells}")
    for index in indexes.values():
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
