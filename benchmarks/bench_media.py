"""Opening the Media tab on a run with 10,000 images (prints figures; not a test).

Builds TensorBoard runs of 10,000 PNG images each (64x48, every one different) in three shapes — 20 keys x
500 steps, 1 key x 10,000 steps, 10,000 keys x 1 step — indexes them, then opens a fresh `MediaView` on each
run, interleaved, and measures:
- overview: the worker's query of the run's 10,000 items (locations, not bytes);
- first paint: `set_run` -> the grid's first paint with its cells (placeholders "loading…" allowed);
- thumbnails: `set_run` -> a paint where every visible cell shows its thumbnail;
- decoded: how many thumbnails were decoded for that (only cells on screen should be);
- scrub: moving the slider to a random step -> every visible cell shows that step's thumbnail (medians).
Each figure is the median (and max) of `--repeat` openings; the machine's load average is printed.

    python benchmarks/bench_media.py [--repeat 7] [--images 10000]
    (QT_QPA_PLATFORM=offscreen by default; run under xvfb-run for a real X server)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QApplication

from expdesk.gui.media.view import MediaView
from expdesk.index.service import Index
from tests.media_events import event, image_value, tiny_png, write_events


def shapes(images: int) -> dict[str, tuple[int, int]]:
    """Run name -> (keys, steps) holding `images` images."""
    return {
        f"20-keys-x-{images // 20}-steps": (20, images // 20),
        f"1-key-x-{images}-steps": (1, images),
        f"{images}-keys-x-1-step": (images, 1),
    }


def build(root: Path, images: int) -> None:
    for name, (keys, steps) in shapes(images).items():
        run = root / name
        run.mkdir(parents=True)
        events = []
        seed = 0
        for step in range(steps):
            values = []
            for k in range(keys):
                values.append(image_value(f"img/{k:05d}", tiny_png(64, 48, seed), 64, 48))
                seed += 1
            # one event per step with all its keys (as a writer flushing a step would)
            for start in range(0, len(values), 50):
                events.append(event(step, 1.7e9 + step, *values[start : start + 50]))
        write_events(run / "events.out.tfevents.1.bench", events)


def wait_until(app: QApplication, predicate: object, timeout: float = 30.0) -> float:
    """Process events until `predicate()`; returns the seconds it took (raises on timeout)."""
    start = time.perf_counter()
    while not predicate():  # type: ignore[operator]
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the grid did not finish")
    return time.perf_counter() - start


def open_once(app: QApplication, index: Index, key: str, scrubs: int) -> dict[str, float]:
    view = MediaView(index.reader)
    view.resize(1400, 800)
    view.show()
    app.processEvents()
    marks: dict[str, float] = {}
    decoded = 0
    view.loader.relay.thumb.connect(lambda *_a: None)

    def on_paint(visible: int, ready: int) -> None:
        now = time.perf_counter()
        if visible and "first" not in marks:
            marks["first"] = now
        if visible and ready == visible and "thumbs" not in marks and view.overview.count():
            marks["thumbs"] = now

    def on_overview() -> None:
        marks["overview"] = time.perf_counter()

    view.images.painted.connect(on_paint)
    view.loaded.connect(on_overview)
    start = time.perf_counter()
    view.set_run(key)
    wait_until(app, lambda: "thumbs" in marks)
    decoded = len(view.loader.cache)
    out = {
        "overview": marks["overview"] - start,
        "first paint": marks["first"] - start,
        "thumbnails": marks["thumbs"] - start,
        "decoded": float(decoded),
    }
    scrub_times = []
    rng = random.Random(1)
    for _ in range(scrubs if len(view.steps) > 1 else 0):
        marks.pop("thumbs", None)
        target = int(view.steps[rng.randrange(len(view.steps))])
        t0 = time.perf_counter()
        view.step_to(target)
        wait_until(app, lambda: "thumbs" in marks)
        scrub_times.append(marks["thumbs"] - t0)
    if scrub_times:
        out["scrub"] = statistics.median(scrub_times)
    view.shutdown()
    view.close()
    view.deleteLater()
    app.processEvents()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--scrubs", type=int, default=9)
    args = parser.parse_args()
    app = QApplication(sys.argv)
    QCoreApplication.setApplicationName("expdesk-bench")
    home = Path(tempfile.mkdtemp(prefix="expdesk-bench-media-"))
    t0 = time.perf_counter()
    build(home / "runs", args.images)
    built = time.perf_counter() - t0
    with Index(home / "index.sqlite") as index:
        t0 = time.perf_counter()
        index.index([home / "runs"])
        indexed = time.perf_counter() - t0
        with index.reader() as reader:
            runs = {r["name"]: r["key"] for r in reader.runs_json(reader.run_keys())}
        print(
            f"built {len(runs)} runs of {args.images:,} images in {built:.1f} s, indexed in {indexed:.1f} s"
        )
        results: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, key in runs.items():  # interleaved: every shape once per round
                results[name].append(open_once(app, index, key, args.scrubs))
        load = os.getloadavg()
        print(
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores); medians (max) of {args.repeat} openings, ms"
        )
        for name, rows in results.items():
            parts = []
            for measure in ("overview", "first paint", "thumbnails", "scrub"):
                values = [r[measure] * 1000 for r in rows if measure in r]
                if values:
                    parts.append(f"{measure} {statistics.median(values):.0f} ({max(values):.0f})")
            decoded = statistics.median(r["decoded"] for r in rows)
            print(f"  {name:<26} " + ", ".join(parts) + f"; thumbnails decoded {decoded:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
