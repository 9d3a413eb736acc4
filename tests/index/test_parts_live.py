"""Parts arriving over time, and the user's split/join: a part that appears later joins its run with no
duplicate row in between (every commit is looked at), choices survive re-indexing, stars follow a run."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.watch import Watcher

JOB = Path(__file__).resolve().parents[1] / "data" / "jobs" / "lightning_hydra" / "logs" / "train" / "runs"
TIMEOUT = 10.0
#: the template job's two Lightning loggers' version folders, as their parts are labelled
CSV, TB = "lightning:csv/version_0", "lightning:tensorboard/version_0"


@pytest.fixture
def job(tmp_path: Path) -> tuple[Path, Path]:
    """(root, job folder): a copy of the template job holding only what Hydra wrote at its start."""
    (source,) = list(JOB.iterdir())
    root = tmp_path / "logs"
    folder = root / source.name
    shutil.copytree(source, folder, symlinks=True)
    for logger in ("csv", "tensorboard", "wandb", "checkpoints"):
        shutil.move(str(folder / logger), str(tmp_path / f"later-{logger}"))
    return root, folder


class Snapshots:
    """The runs listing right after every commit of the writer (read on its own read-only connection)."""

    def __init__(self, index: Index) -> None:
        self.db = index.db_path
        self.seen: list[list[str]] = []
        self.lock = threading.Lock()
        index.writer.add_listener(self._on_commit)

    def _on_commit(self, _keys: set[str]) -> None:
        with IndexReader(self.db) as reader, self.lock:
            self.seen.append(reader.run_keys())


def keys_of(db: Path) -> list[str]:
    with IndexReader(db) as reader:
        return reader.run_keys()


def parts_of(db: Path, key: str) -> list[str]:
    with IndexReader(db) as reader:
        return [p["label"] for p in reader.run_json(key)["parts"]]


def test_a_part_that_appears_later_joins_with_no_duplicate_row(
    job: tuple[Path, Path], tmp_path: Path
) -> None:
    root, folder = job
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        snapshots = Snapshots(index)
        index.index([root])
        (run,) = keys_of(db)
        for logger in ("csv", "tensorboard", "wandb"):
            shutil.move(str(tmp_path / f"later-{logger}"), str(folder / logger))
            index.index([root])
        assert keys_of(db) == [run]
        assert parts_of(db, run) == ["hydra", "wandb", CSV, TB]
    assert snapshots.seen and all(seen == [run] for seen in snapshots.seen), snapshots.seen


def test_a_job_folder_that_appears_around_a_logger_takes_it_in(
    job: tuple[Path, Path], tmp_path: Path
) -> None:
    # the logger's folder is indexed first (its run stands alone), then the job's `.hydra/` shows up
    root, folder = job
    shutil.move(str(folder / ".hydra"), str(tmp_path / "later-hydra"))
    shutil.move(str(tmp_path / "later-csv"), str(folder / "csv"))
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index.index([root])
        (alone,) = keys_of(db)
        index.set_star(alone, True)
        index.set_labels(alone, ["baseline"])
        snapshots = Snapshots(index)
        shutil.move(str(tmp_path / "later-hydra"), str(folder / ".hydra"))
        index.index([root])
        (run,) = keys_of(db)
        assert run != alone and parts_of(db, run) == ["hydra", "lightning"]
        with IndexReader(db) as reader:
            joined = reader.run_json(run)
        assert joined["starred"] and joined["labels"] == ["baseline"]  # the user's marks follow the run
    assert all(len(seen) == 1 for seen in snapshots.seen), snapshots.seen


def test_the_watcher_joins_a_logger_folder_started_in_a_job(job: tuple[Path, Path], tmp_path: Path) -> None:
    root, folder = job
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        changed = threading.Event()
        watcher = Watcher(index, lambda _keys: changed.set(), debounce=0.05, reconcile_native=3600)
        watcher.add_root(root)
        watcher.start()
        try:
            assert watcher.wait_ready(TIMEOUT)
            snapshots = Snapshots(index)
            (run,) = keys_of(db)
            shutil.copytree(tmp_path / "later-csv", folder / "csv")

            def joined() -> bool:
                return parts_of(db, run) == ["hydra", "lightning"]

            deadline = threading.Event()
            timer = threading.Timer(TIMEOUT, deadline.set)
            timer.start()
            try:
                while not joined():
                    assert not deadline.is_set(), "the watcher did not join the new logger folder"
                    changed.wait(0.5)
                    changed.clear()
            finally:
                timer.cancel()
        finally:
            watcher.stop()
    assert all(seen == [run] for seen in snapshots.seen), snapshots.seen


@pytest.fixture
def template_db(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "logs"
    shutil.copytree(JOB, root, symlinks=True)
    db = tmp_path / "index.sqlite"
    assert main(["index", str(root), "--db", str(db), "-q"]) == 0
    (run,) = keys_of(db)
    yield db, run


def test_split_and_join_are_kept_across_reindexing(template_db: tuple[Path, str]) -> None:
    db, run = template_db
    with IndexReader(db) as reader:
        parts = {p["label"]: p["key"] for p in reader.run_json(run)["parts"]}
    # one part out
    assert main(["split", parts["wandb"], "--db", str(db), "-q"]) == 0
    assert sorted(keys_of(db)) == sorted([run, parts["wandb"]])
    assert parts_of(db, run) == ["hydra", CSV, TB]
    # the whole run apart, and still apart after a forced re-read of every folder
    assert main(["split", run, "--db", str(db), "-q"]) == 0
    assert sorted(keys_of(db)) == sorted(parts.values())
    with IndexReader(db) as reader:
        root = reader.run_json(run)["path"].rsplit("/", 1)[0]
    assert main(["index", root, "--force", "--db", str(db), "-q"]) == 0
    assert sorted(keys_of(db)) == sorted(parts.values())
    # joined again by hand, keyed by the first named; kept across re-indexing too
    assert main(["join", parts[CSV], parts["hydra"], parts[TB], "--db", str(db), "-q"]) == 0
    assert parts_of(db, parts[CSV]) == [CSV, "hydra", TB]
    assert main(["index", root, "--db", str(db), "-q"]) == 0
    assert sorted(keys_of(db)) == sorted([parts[CSV], parts["wandb"]])
    with IndexReader(db) as reader:
        joined = reader.run_json(parts[CSV])
    assert {p["rule"] for p in joined["parts"][1:]} == {"user"}
    assert joined["params"]["paths.root_dir"] == "${oc.env:PROJECT_ROOT}"  # the Hydra part's values too


def test_show_of_a_part_key_shows_its_run_and_the_part_as_read(
    template_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db, run = template_db
    with IndexReader(db) as reader:
        csv_part = next(p["key"] for p in reader.run_json(run)["parts"] if p["label"] == CSV)
    capsys.readouterr()
    assert main(["show", csv_part, "--json", "--db", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["key"] == run and shown["parts"][0]["format"] == "hydra"
    assert main(["show", csv_part, "--part", "--json", "--db", str(db)]) == 0
    part = json.loads(capsys.readouterr().out)
    assert part["key"] == csv_part and part["run"] == run and part["format"] == "lightning"
    assert "paths.root_dir" not in part["params"]  # the part alone: Lightning's hparams only


def test_a_join_across_roots_outlives_removing_one_root(tmp_path: Path) -> None:
    runs = Path(__file__).resolve().parents[1] / "data" / "runs" / "plain"
    shutil.copytree(runs / "runs", tmp_path / "a")
    shutil.copytree(runs / "keras_runs", tmp_path / "b")
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index.index([tmp_path / "a", tmp_path / "b"])
        with IndexReader(db) as reader:
            by_root = {r["path"]: r["key"] for r in reader.runs_json(reader.run_keys())}
        first = next(k for p, k in by_root.items() if p.startswith(str(tmp_path / "a")))
        other = next(k for p, k in by_root.items() if p.startswith(str(tmp_path / "b")))
        index.join([first, other])
        assert parts_of(db, first) == ["generic", "keras"]
        index.remove_root(tmp_path / "b")
        assert parts_of(db, first) == ["generic"]
        with IndexReader(db) as reader:
            assert reader.conn.execute("SELECT COUNT(*) FROM parts").fetchone()[0] == 0
            assert reader.conn.execute("SELECT COUNT(*) FROM joined_runs").fetchone()[0] == 0
        index.index([tmp_path / "b"])  # the user's word is kept: back in, joined again
        assert parts_of(db, first) == ["generic", "keras"]
