"""The watcher on real files: live appends, rewrites, rotations, deletions, renames, root loss, bursts."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from expdesk.index.service import Index
from tests.sql import query
from tests.watch.conftest import CEILING, Live, append, plain_run, tree_state

LINE = '{{"step": {step}, "loss": {value}}}\n'


def test_live_writer_appending_jsonl_and_csv(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    root = tmp_path / "root"
    jsonl = plain_run(root, "run-jsonl")
    csv = plain_run(root, "run-csv", csv_only=True)
    live = live_factory(root)
    n_jsonl, n_csv = live.count(jsonl, "loss"), live.count(csv, "loss")
    assert n_jsonl > 0 and n_csv > 0

    def writer() -> None:  # a training loop: one line per step, flushed, in its own thread
        for step in range(100, 120):
            append(jsonl / "metrics.jsonl", LINE.format(step=step, value=1.0 / step))
            append(csv / "metrics.csv", f"{step},{1.0 / step}\n")

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    live.wait_until(lambda: live.count(jsonl, "loss") == n_jsonl + 20, "20 JSONL lines")
    live.wait_until(lambda: live.count(csv, "loss") == n_csv + 20, "20 CSV rows")

    # a torn last line is left for the next round, then read once it is complete
    append(jsonl / "metrics.jsonl", '{"step": 200, "lo')
    append(csv / "metrics.csv", "200,0.")
    live.wait_until(lambda: live.count(jsonl, "loss") == n_jsonl + 20, "torn line ignored")
    append(jsonl / "metrics.jsonl", 'ss": 0.5}\n')
    append(csv / "metrics.csv", "5\n")
    live.wait_until(lambda: live.count(jsonl, "loss") == n_jsonl + 21, "completed JSONL line")
    live.wait_until(lambda: live.count(csv, "loss") == n_csv + 21, "completed CSV row")
    run = live.run(jsonl)
    assert run is not None and run["metrics"]["loss"]["last"] == 0.5 and run["error"] is None


def test_truncate_rotate_and_rewrite_reread_from_start(
    tmp_path: Path, live_factory: Callable[..., Live]
) -> None:
    root = tmp_path / "root"
    run = plain_run(root)
    metrics = run / "metrics.jsonl"
    live = live_factory(root)
    assert live.count(run, "loss") > 3

    # truncate in place (same inode), then write fewer lines
    with open(metrics, "r+", encoding="utf-8") as f:
        f.truncate(0)
        f.write(LINE.format(step=0, value=9.0) + LINE.format(step=1, value=8.0))
    live.wait_until(lambda: live.count(run, "loss") == 2, "truncated file re-read")

    # rotation: the old file moves aside, a new one starts (new inode)
    os.rename(metrics, run / "metrics.jsonl.1")
    append(metrics, LINE.format(step=0, value=7.0))
    live.wait_until(lambda: live.count(run, "loss") == 1, "rotated file re-read")

    # rewrite in place with the same size but a different head (Lightning/Sacred style)
    size = metrics.stat().st_size
    with open(metrics, "r+", encoding="utf-8") as f:
        f.write(LINE.format(step=5, value=6.0)[:size].ljust(size - 1) + "\n")
    live.wait_until(
        lambda: (r := live.run(run)) is not None and r["metrics"]["loss"]["first_step"] == 5,
        "rewritten head re-read",
    )

    # atomic replace by an editor (write a temp file, rename over)
    tmp = run / ".metrics.jsonl.swp"
    tmp.write_text(LINE.format(step=0, value=1.0) * 3 + LINE.format(step=3, value=2.0), encoding="utf-8")
    os.replace(tmp, metrics)
    live.wait_until(lambda: live.count(run, "loss") == 4, "renamed-over file re-read")


def test_new_deleted_recreated_and_renamed_runs(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    root = tmp_path / "root"
    first = plain_run(root)
    live = live_factory(root)
    key = live.run(first)["key"]  # type: ignore[index]
    live.index.set_note(key, "keep me")

    second = plain_run(root, "run-002")
    live.wait_until(lambda: str(second) in live.live_paths(), "new run folder discovered")

    shutil.rmtree(first)
    live.wait_until(lambda: str(first) not in live.live_paths(), "deleted run marked gone")
    assert live.reader is not None
    gone = query(live.reader, "SELECT gone FROM runs WHERE key=?", (key,))
    assert gone[0]["gone"] == 1

    plain_run(root)  # recreated at the same path: the same key comes back, with its annotation
    live.wait_until(lambda: str(first) in live.live_paths(), "recreated run back")
    assert live.run(first)["note"] == "keep me"  # type: ignore[index]

    renamed = root / "run-renamed"
    os.rename(second, renamed)
    live.wait_until(
        lambda: str(renamed) in live.live_paths() and str(second) not in live.live_paths(),
        "renamed run folder followed",
    )
    n = live.count(renamed, "loss")
    append(renamed / "metrics.jsonl", LINE.format(step=99, value=0.25))
    live.wait_until(lambda: live.count(renamed, "loss") == n + 1, "append to renamed run")


def test_root_deleted_and_recreated_recovers(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    root = tmp_path / "root"
    run = plain_run(root)
    live = live_factory(root, root_check=0.2)
    assert live.watcher.status()[0].mode == "native"

    shutil.rmtree(root)
    live.wait_until(lambda: not live.live_paths(), "runs of the vanished root marked gone")
    assert live.watcher.status()[0].mode == "missing"

    plain_run(root)
    live.wait_until(lambda: str(run) in live.live_paths(), "root came back")
    assert live.watcher.status()[0].mode == "native"
    n = live.count(run, "loss")
    append(run / "metrics.jsonl", LINE.format(step=500, value=0.1))
    live.wait_until(lambda: live.count(run, "loss") == n + 1, "native watch re-added after recovery")


def test_burst_of_10000_events_reads_each_run_once(
    tmp_path: Path, index: Index, live_factory: Callable[..., Live], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    runs = [plain_run(root, f"run-{i:03}") for i in range(10)]
    # the cap on waiting (for writers that never pause) is lifted above a slow CI's dispatch time of a
    # 10,000-event burst: this test is about coalescing, not the cap
    live = live_factory(root, max_delay=5.0)
    before = {run: live.count(run, "loss") for run in runs}
    refreshed: list[str] = []
    original = index.refresh

    def counting(refs: list, force: bool = False):  # type: ignore[no-untyped-def, type-arg]
        refreshed.extend(ref.key for ref in refs)
        return original(refs, force)

    monkeypatch.setattr(index, "refresh", counting)
    fds = [os.open(run / "metrics.jsonl", os.O_WRONLY | os.O_APPEND) for run in runs]
    try:
        for i in range(10_000):  # one write per line, alternating files: inotify cannot merge them
            os.write(fds[i % 10], LINE.format(step=1000 + i // 10, value=0.5).encode())
    finally:
        for fd in fds:
            os.close(fd)
    for run in runs:
        live.wait_until(lambda run=run: live.count(run, "loss") == before[run] + 1000, f"burst in {run.name}")
    keys = {live.run(run)["key"] for run in runs}  # type: ignore[index]
    assert sorted(refreshed) == sorted(keys), "each run re-read exactly once"


def _returns(call: Callable[[], object], what: str) -> None:
    """Run `call` on a thread and wait for it with a generous ceiling: it must return, however loaded the
    machine (how fast is a benchmark's business: benchmarks/bench_watch.py)."""
    thread = threading.Thread(target=call, name=f"test-{what}")
    thread.start()
    thread.join(CEILING)
    assert not thread.is_alive(), f"{what} did not return within {CEILING} s"


def test_start_stop_return_and_no_thread_left(tmp_path: Path, index: Index, no_leaked_threads: None) -> None:
    from expdesk.watch import Watcher

    native, network = tmp_path / "native", tmp_path / "network"
    plain_run(native)
    plain_run(network)
    before = set(threading.enumerate())
    for _ in range(3):
        watcher = Watcher(index, poll_interval=0.1)
        watcher.add_root(native)
        watcher.add_root(network, network=True)
        _returns(watcher.start, "start")
        assert watcher.wait_ready(CEILING)
        assert {s.mode for s in watcher.status()} == {"native", "polling"}
        _returns(watcher.stop, "stop")
        assert set(threading.enumerate()) <= before


def test_stop_during_first_index_cancels_it(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() while the first pass is reading: the pass is cancelled (it does not read the other runs
    first), and stop returns. Reads are held at a gate until the stop request is seen, so the pass cannot
    outrun the request on any machine."""
    from expdesk.index import indexer
    from expdesk.watch import Watcher

    root = tmp_path / "root"
    for i in range(200):
        plain_run(root, f"run-{i:03}")
    entered, gate = threading.Event(), threading.Event()
    real_read = indexer.read_batch

    def gated_read(*args: object) -> object:
        entered.set()
        gate.wait(CEILING)
        return real_read(*args)  # type: ignore[arg-type]

    # runs are read in batches; small ones here, so the batches in flight when stop() lands are few of 200
    monkeypatch.setattr(indexer, "BATCH_RUNS", 8)
    monkeypatch.setattr(indexer, "read_batch", gated_read)
    watcher = Watcher(index)
    watcher.add_root(root)
    watcher.start()
    assert entered.wait(CEILING), "the first pass never started reading"
    stopper = threading.Thread(target=watcher.stop)
    stopper.start()
    while not watcher._stopping:  # the request is in: now let the held reads finish
        stopper.join(0.01)
    gate.set()
    stopper.join(CEILING)
    assert not stopper.is_alive(), "stop() did not return"
    with index.reader() as reader:
        read = len(reader.run_keys())
    assert read < 200, "the first pass went on after stop()"


def test_running_run_turns_stale_and_listeners_hear_it(
    tmp_path: Path, index: Index, live_factory: Callable[..., Live]
) -> None:
    root = tmp_path / "root"
    run = plain_run(root)
    live = live_factory(root, stale_after=0.5)
    key = live.run(run)["key"]  # type: ignore[index]
    # the generic reader never says running; a tool reader would (MLflow RUNNING, Sacred heartbeat)
    index.writer.call(
        lambda c: c.execute(
            "UPDATE runs SET status='running', last_activity=? WHERE key=?", (time.time(), key)
        ),
        {key},
    )
    live.keys_seen.clear()
    live.wait_until(lambda: any(key in keys for keys in live.keys_seen), "stale notification")
    assert live.run(run)["stale"] is True  # type: ignore[index]
    with index.reader() as default_reader:  # the default threshold (10 min) still says running
        assert default_reader.run_json(key)["stale"] is False


def test_watching_never_writes_into_the_watched_folder(
    tmp_path: Path, live_factory: Callable[..., Live]
) -> None:
    root = tmp_path / "root"
    plain_run(root)
    plain_run(root, "run-002", csv_only=True)
    before = tree_state(root)
    live = live_factory(root)
    live.watcher.add_root(root)  # re-adding is harmless
    live.stop()
    assert tree_state(root) == before
