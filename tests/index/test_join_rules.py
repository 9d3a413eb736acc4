"""The join rules, one test per row of docs/joins.md, and their bounded outcomes on bad input (pure: no DB).

Paths are absolute POSIX paths as the index stores them; every test builds the facts a reader would give.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expdesk.index.parts.rules import MAX_PARTS, Choice, Named, PartFact, plan

ROOT = "/w"
DOC = Path(__file__).resolve().parents[2] / "docs" / "joins.md"


def part(key: str, fmt: str, path: str, **kw: object) -> PartFact:
    return PartFact(key, fmt, f"{ROOT}/{path}", ROOT, **kw)  # type: ignore[arg-type]


def runs_of(facts: list[PartFact], **kw: object) -> dict[str, list[str]]:
    """run key -> its part keys (rank order) for every joined run."""
    out: dict[str, list[tuple[int, str]]] = {}
    for key, m in plan(facts, **kw).members.items():  # type: ignore[arg-type]
        out.setdefault(m.run_key, []).append((m.rank, key))
    return {run: [k for _, k in sorted(parts)] for run, parts in out.items()}


def test_every_rule_has_a_row_in_the_doc_and_a_test_here() -> None:
    rules_in_doc = re.findall(r"^\| `([a-z-]+)` \|", DOC.read_text(encoding="utf-8"), re.M)
    assert rules_in_doc == [
        "same-folder",
        "job-folder",
        "dvc-declared",
        "logger-versions",
        "names-run",
        "user",
    ]
    tests = {name for name in globals() if name.startswith("test_rule_")}
    for rule in rules_in_doc:
        assert f"test_rule_{rule.replace('-', '_')}" in tests, rule


def test_rule_same_folder() -> None:
    # `hydra.run.dir: .` under `dvc repro`: the project root is a Hydra job and a DVC project
    facts = [part("h", "hydra", "proj"), part("d", "dvc", "proj"), part("x", "hydra", "other")]
    result = plan(facts)
    assert runs_of(facts) == {"h": ["h", "d"]}
    assert result.members["d"].rule == "same-folder"
    assert result.run_paths["h"] == f"{ROOT}/proj"


def test_rule_job_folder() -> None:
    # lightning-hydra-template: logs/train/runs/<date>_<time>/{.hydra,csv/version_0,tensorboard/version_0,wandb}
    job = "logs/train/runs/2026-12-06_08-24-43"
    facts = [
        part("h", "hydra", job),
        part("c", "lightning", f"{job}/csv/version_0"),
        part("t", "tensorboard", f"{job}/tensorboard/version_0"),
        part("w", "wandb", f"{job}/wandb/offline-run-20261206_082446-e73mbk96", native_id="e73mbk96"),
        part("o", "lightning", "logs/train/runs/2026-12-06_09-00-00/csv/version_0"),  # another job's
    ]
    result = plan(facts)
    assert runs_of(facts) == {"h": ["h", "w", "c", "t"]}
    assert {result.members[k].rule for k in "ctw"} == {"job-folder"}
    assert [result.members[k].label for k in "hcwt"] == ["hydra", "lightning", "wandb", "tensorboard"]
    # a Trainer output dir is a job folder too, and nests in a Hydra job
    trainer = [
        part("h", "hydra", "job"),
        part("tr", "transformers", "job/out"),
        part("g", "generic", "job/out/x"),
    ]
    assert runs_of(trainer) == {"h": ["h", "tr", "g"]}


def test_rule_dvc_declared() -> None:
    facts = [
        part(
            "d",
            "dvc",
            "proj",
            declares=(f"{ROOT}/proj/dvclive/metrics.json", f"{ROOT}/proj/dvclive/plots/metrics"),
        ),
        part("l", "dvclive", "proj/dvclive"),
        part("u", "dvclive", "proj/notebooks/dvclive"),  # in the project, not declared by it
    ]
    result = plan(facts)
    assert runs_of(facts) == {"d": ["d", "l"]}
    assert result.members["l"].evidence == (("declared", "dvclive/metrics.json"),)


def test_rule_logger_versions() -> None:
    # one script, CSVLogger("out", name="csv") + TensorBoardLogger("out", name="tb"), two fits
    facts = [
        part("c0", "lightning", "out/csv/version_0"),
        part("c1", "lightning", "out/csv/version_1"),
        part("t0", "tensorboard", "out/tb/version_0"),
        part("t1", "tensorboard", "out/tb/version_1"),
        part("x", "tensorboard", "elsewhere/tb/version_0"),
    ]
    assert runs_of(facts) == {"c0": ["c0", "t0"], "c1": ["c1", "t1"]}
    assert plan(facts).run_paths["c0"] == f"{ROOT}/out"
    # TensorBoard runs that merely share a folder name are not versions of one fit
    alike = [part("a", "tensorboard", "runs/a/exp1"), part("b", "tensorboard", "runs/b/exp1")]
    assert runs_of(alike) == {}
    # two experiments' loggers at the same version number: different hyperparameters, not one fit
    two = [
        part("x", "lightning", "logs/expA/version_0", params_digest="aaa"),
        part("y", "lightning", "logs/expB/version_0", params_digest="bbb"),
    ]
    assert runs_of(two) == {}
    same = [
        part("x", "lightning", "logs/csv/version_0", params_digest="aaa"),
        part("y", "lightning", "logs/tb/version_0", params_digest="aaa"),
    ]
    assert runs_of(same) == {"x": ["x", "y"]}


def test_rule_names_run() -> None:
    # the job's config names the W&B run it resumed (`logger.wandb.id`), which lives outside the job folder
    named = Named("names.wandb", "wandb", "abc123", said="hydra config logger.wandb.id")
    facts = [
        part("h", "hydra", "outputs/job", names=(named,)),
        part("w", "wandb", "wandb/offline-run-1-abc123", native_id="abc123"),
        part("v", "wandb", "wandb/offline-run-2-zzz", native_id="zzz"),
    ]
    result = plan(facts)
    assert runs_of(facts) == {"h": ["h", "w"]}
    assert result.members["w"].rule == "names-run"
    # by path: a Trainer's logging_dir
    by_path = [
        part(
            "t",
            "transformers",
            "out",
            names=(Named("names.tensorboard", "tensorboard", path=f"{ROOT}/tb/run1"),),
        ),
        part("b", "tensorboard", "tb/run1"),
    ]
    assert runs_of(by_path) == {"t": ["t", "b"]}
    # never across watched roots
    other_root = PartFact("w2", "wandb", "/other/wandb/offline-run-1-abc123", "/other", native_id="abc123")
    assert runs_of([facts[0], other_root]) == {}


def test_rule_user() -> None:
    facts = [part("a", "generic", "x/a"), part("b", "generic", "y/b"), part("c", "generic", "z/c")]
    choices = {"b": Choice("with", "a"), "c": Choice("with", "a")}
    result = plan(facts, choices)
    assert runs_of(facts, choices=choices) == {"a": ["a", "b", "c"]}
    assert result.members["b"].rule == "user"
    # a split part stays alone, whatever the rules say
    job = [part("h", "hydra", "job"), part("c", "lightning", "job/csv/version_0")]
    assert runs_of(job, choices={"c": Choice("alone")}) == {}


def test_user_join_names_the_head() -> None:
    facts = [part("h", "hydra", "job"), part("w", "wandb", "elsewhere/run", native_id="q")]
    assert runs_of(facts, choices={"h": Choice("with", "w")}) == {"w": ["w", "h"]}


# -- bounded outcomes ------------------------------------------------------------------------------------------
def test_two_parts_of_one_kind_in_one_place_join_neither() -> None:
    facts = [
        part("h", "hydra", "job"),
        part("a", "lightning", "job/lightning_logs/version_0"),
        part("b", "lightning", "job/lightning_logs/version_1"),
        part("w", "wandb", "job/wandb/offline-run-1-x", native_id="x"),
    ]
    result = plan(facts)
    assert runs_of(facts) == {"h": ["h", "w"]}
    (note,) = result.notes["h"]
    assert "2 lightning parts in lightning_logs: none joined" in note


def test_a_job_folder_with_1000_logger_subfolders_is_bounded() -> None:
    facts = [part("h", "hydra", "job")] + [
        part(f"t{i}", "tensorboard", f"job/run{i}/tb") for i in range(1000)
    ]
    result = plan(facts)
    assert result.members == {}
    assert result.notes["h"] == [f"more than {MAX_PARTS} parts below this job folder: none joined"]
    # the builder's look-up says so without listing them all
    assert plan(facts[:1], crowded={"h"}).notes["h"] == result.notes["h"]


def test_a_job_inside_a_job_of_its_own_tool_is_its_own_run() -> None:
    # `hydra.run.dir: .` at the project root, and the timestamped jobs of other runs below it
    facts = [
        part("root", "hydra", "proj"),
        part("j1", "hydra", "proj/outputs/2026-01-01/10-00-00"),
        part("l1", "lightning", "proj/outputs/2026-01-01/10-00-00/lightning_logs/version_0"),
    ]
    assert runs_of(facts) == {"j1": ["j1", "l1"]}


def test_records_that_disagree_with_the_job_are_not_followed() -> None:
    # the config names W&B run A, but the job folder holds W&B run B: B (physical) joins, A does not
    named = Named("names.wandb", "wandb", "aaa", said="hydra config logger.wandb.id")
    facts = [
        part("h", "hydra", "job", names=(named,)),
        part("b", "wandb", "job/wandb/offline-run-1-bbb", native_id="bbb"),
        part("a", "wandb", "wandb/offline-run-1-aaa", native_id="aaa"),
    ]
    result = plan(facts)
    assert runs_of(facts) == {"h": ["h", "b"]}
    assert "names wandb run aaa, but the job holds wandb run bbb: not joined" in result.notes["h"][0]


def test_a_record_naming_another_jobs_part_does_not_merge_two_jobs() -> None:
    named = Named("names.wandb", "wandb", "x", said="hydra config logger.wandb.id")
    facts = [
        part("h1", "hydra", "jobs/1", names=(named,)),
        part("h2", "hydra", "jobs/2"),
        part("w", "wandb", "jobs/2/wandb/offline-run-1-x", native_id="x"),
    ]
    result = plan(facts)
    assert runs_of(facts) == {"h2": ["h2", "w"]}
    assert "belongs to another job" in result.notes["h1"][0]


def test_runs_that_name_each_other_in_a_cycle_are_one_run() -> None:
    a = part(
        "a",
        "mlflow",
        "mlruns/1/a",
        native_id="a",
        store=f"{ROOT}/mlruns",
        names=(Named("names.wandb", "wandb", "w"),),
    )
    w = part(
        "w", "wandb", "wandb/offline-run-1-w", native_id="w", names=(Named("names.mlflow", "mlflow", "a"),)
    )
    assert runs_of([a, w]) == {"a": ["a", "w"]}


def test_gone_parts_sweeps_and_remote_runs_never_join() -> None:
    facts = [
        part("h", "hydra", "job"),
        part("g", "lightning", "job/csv/version_0", gone=True),
        part("s", "hydra", "multirun/x", native_id="multirun"),
        part("j", "hydra", "multirun/x/0"),
        part("m", "mlflow-remote", "x", native_id="r"),
    ]
    assert runs_of(facts) == {}


@pytest.mark.parametrize("formats", [("hydra", "dvc"), ("dvc", "hydra")])
def test_the_head_is_the_jobs_config_whatever_the_order(formats: tuple[str, str]) -> None:
    facts = [part(formats[0], formats[0], "p"), part(formats[1], formats[1], "p")]
    assert list(runs_of(facts)) == ["hydra"]
