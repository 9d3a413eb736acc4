"""A card with no holes: no `None` anywhere, an all-NaN metric said as such, two-line loading per flavour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expdesk.index.service import Index
from tests.bundle.conftest import DATA
from tests.bundle.handoff import HANDOFF, copy_fixture, key_where
from tests.bundle.helpers import export
from tests.sql import query


def _card(index: Index, key: str, out: Path) -> str:
    plan, _path = export(index, key, out)
    text = (plan.files["data/README.md"].data or b"").decode("utf-8")
    assert not re.search(r"\bNone\b|\bnull\b", text), "a hole in the card"
    return text


def _load_section(card: str) -> str:
    return card.split("## Load", 1)[1].split("## Lineage summary", 1)[0]


@pytest.mark.parametrize(
    ("name", "lines", "warned"),
    [
        ("tiny-cls", ["from transformers import BertForSequenceClassification",
                      'model = BertForSequenceClassification.from_pretrained("data/model")'], False),
        ("tiny-lora", ["from peft import AutoPeftModel", 'AutoPeftModel.from_pretrained("data/model")'], False),
    ],
)  # fmt: skip
def test_transformers_and_peft_load_in_two_lines(
    index: Index, tmp_path: Path, name: str, lines: list[str], warned: bool
) -> None:
    index.index([HANDOFF / "trainer"])
    load = _load_section(_card(index, key_where(index, "name = ?", name), tmp_path / "out"))
    assert all(line in load for line in lines)
    assert 'AutoTokenizer.from_pretrained("data/model")' in load
    assert ("executes code" in load) is warned


@pytest.mark.parametrize(
    ("run", "line", "warning"),
    [
        ("runs/run-001", 'torch.load("data/model/model.pt", weights_only=True)', "weights_only=True"),
        ("runs/run-002", 'joblib.load("data/model/model.pkl")', "executes code"),
    ],
)
def test_torch_state_dict_and_sklearn_pickle(
    index: Index, tmp_path: Path, run: str, line: str, warning: str
) -> None:
    index.index([DATA / "plain"])
    load = _load_section(_card(index, key_where(index, "name = ?", run), tmp_path / "out"))
    code = load.split("```python\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(code) == 2 and line in code[1]
    assert warning in load


def test_all_nan_metric_and_missing_values(index: Index, tmp_path: Path) -> None:
    run = tmp_path / "ws" / "nan-run"
    run.mkdir(parents=True)
    (run / "params.json").write_text('{"lr": 0.1}')
    (run / "metrics.jsonl").write_text(
        "".join(f'{{"step": {i}, "loss": NaN, "acc": {0.5 + i / 10}}}\n' for i in range(3))
    )
    (run / "model.onnx").write_bytes(b"onnx" * 300)
    index.index([tmp_path / "ws"])
    card = _card(index, key_where(index, "format = ?", "generic"), tmp_path / "out")
    row = next(line for line in card.splitlines() if line.startswith("| `loss`"))
    assert "NaN (2)" in row and "all 3 points NaN" in row
    front = card.split("---")[1]
    assert '"acc"' in front and '"loss"' not in front  # model-index holds numbers only


def test_every_handoff_card_is_whole(index: Index, tmp_path: Path) -> None:
    copy_fixture("mlflow/sweep", tmp_path / "ws")
    copy_fixture("lightning", tmp_path / "ws")
    copy_fixture("keras", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    with index.reader() as reader:
        keys = [r[0] for r in query(reader, "SELECT key FROM runs ORDER BY key")]
    exported = 0
    for i, key in enumerate(keys):
        try:
            _card(index, key, tmp_path / f"out{i}")
        except Exception as exc:  # runs without a model (the sweep's parent, the other trials)
            assert "no model files" in str(exc), exc
            continue
        exported += 1
    assert exported >= 3
