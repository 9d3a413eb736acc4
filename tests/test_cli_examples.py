"""The examples the CLI's help and the README's CLI reference give work as typed (`--sort -start_time`
was refused by argparse: a word starting with "-" looked like an option)."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.cli.entry import build_parser
from expdesk.index.filter import compile_filter, compile_sort
from tests.groundtruth import RUNS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "index.sqlite"
    assert main(["index", str(RUNS / "mlflow"), str(RUNS / "plain"), "--db", str(path), "-q"]) == 0
    return path


def keys(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["runs", "--json", "--all", *args, "--db", str(db)]) == 0, capsys.readouterr().err
    return [r["key"] for r in json.loads(capsys.readouterr().out)]


def test_descending_sort_as_typed(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typed = keys(db, capsys, "--sort", "-start_time")
    assert typed == keys(db, capsys, "--sort=-start_time") == keys(db, capsys, "--sort", "start_time desc")
    capsys.readouterr()
    assert main(["runs", "--json", "--all", "--sort", "-start_time", "--db", str(db)]) == 0
    starts = [r["start_time"] for r in json.loads(capsys.readouterr().out)]
    known = [s for s in starts if s is not None]
    assert (
        known == sorted(known, reverse=True) and starts[: len(known)] == known
    )  # newest first, unknown last
    # several keys, the first descending; and a sort key after other options
    assert keys(db, capsys, "--sort", "-metrics.train_loss.min, name", "--where", "format = mlflow") == keys(
        db, capsys, "--where", "format = mlflow", "--sort=-metrics.train_loss.min, name"
    )
    # `--sort --json` is still a missing value, not a sort key
    assert main(["runs", "--sort", "--json", "--db", str(db)]) == 2


def _help_examples(option: argparse.Action) -> list[str]:
    """The examples in an option's help: after "e.g.", split on " or ", quotes removed as a shell would."""
    text = (option.help or "").split("e.g. ", 1)[1]
    return [" ".join(shlex.split(part)) for part in text.split(" or ")]


def test_every_runs_help_example_works_as_typed(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    runs = parser._subparsers._group_actions[0].choices["runs"]  # type: ignore[union-attr]
    examples = {a.option_strings[0]: _help_examples(a) for a in runs._actions if "e.g. " in (a.help or "")}
    assert set(examples) == {"--where", "--sort"} and len(examples["--sort"]) == 2
    for option, values in examples.items():
        for value in values:
            keys(db, capsys, option, value)  # exit code 0, JSON out


def test_the_readme_cli_reference_examples_work(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    reference = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```\n(params\..*?)\n```", reference, re.DOTALL)
    compile_filter(example)
    keys(db, capsys, "--where", example)
    # the operands it lists, each as a filter and (but labels) as a sort
    operands = re.search(r"and `(name format status .*?)`", reference, re.DOTALL)
    assert operands is not None
    for attribute in operands.group(1).split():
        keys(db, capsys, "--where", f"{attribute} is null")
        if attribute != "label":
            compile_sort(attribute)
    for template in re.findall(r"`(metrics\.<key>\.[^`]+|params\.<key>|tags\.<key>)`", reference):
        for aggregate in template.removeprefix("metrics.<key>.").split("|"):
            operand = template.replace("<key>", "train_loss")
            operand = (
                f"metrics.train_loss.{aggregate}".replace("STEP", "3") if "metrics" in template else operand
            )
            keys(db, capsys, "--where", f"{operand} is null")
    sorts = re.findall(r"`--sort=?\s?([^`]+)`", reference)
    assert "-metrics.acc.max" in sorts
    for value in sorts:
        assert keys(db, capsys, f"--sort={value}") == keys(db, capsys, "--sort", value)
    keys(db, capsys, "--where", 'params."my key" is null')
