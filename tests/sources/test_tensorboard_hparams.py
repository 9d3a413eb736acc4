"""Integral hparams stay integers: `add_hparams` stores every number as a double (tests/data/fidelity/
tensorboard/make_tb.py, torch SummaryWriter). GROUND_TRUTH.json: TensorBoard's own plugin_data protos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expdesk.sources import registry

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "tensorboard"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())


def _expected(run: dict) -> dict[str, str]:
    """TensorBoard's value, shown without a `.0` when the session's domain (or, without a domain, the value
    itself) says integer - as TensorBoard's own HParams dashboard shows it."""
    out = {}
    for key, hp in run["hparams"].items():
        value = hp["value"]
        if hp["kind"] != "number_value":
            out[key] = str(value)
            continue
        domain = run["domains"].get(key)
        integral = all(float(v).is_integer() for v in (domain if domain else [value]))
        out[key] = str(int(value)) if integral else repr(float(value))
    return out


@pytest.mark.parametrize("run", GT["runs"], ids=lambda r: r["path"])
def test_integral_doubles_are_shown_as_integers(run: dict) -> None:
    (ref,) = [r for r in registry.discover(DATA) if r.path == DATA / run["path"]]
    update = registry.reader_for(ref.format).read(ref, None)
    assert update.params == _expected(run)


def test_the_expectation_distinguishes_the_cases() -> None:
    plain, domain = (_expected(r) for r in GT["runs"])
    assert plain["batch_size"] == "8" and plain["lr"] == "0.001" and plain["opt"] == "adam"
    assert domain["batch_size"] == "16" and domain["scale"] == "2.0"  # the domain holds 0.5: a float
