"""How a joined run's values are made from its parts' (pure: `expdesk.index.parts.merge`)."""

from __future__ import annotations

import struct

from expdesk.core.codec import pack_exact
from expdesk.index.parts.merge import MetricRow, PartValues, merge, same_series


def series(
    count: int, last: float, vmin: float, vmax: float, first: int = 0, last_step: int = 9
) -> MetricRow:
    return MetricRow(series_id=1, count=count, first_step=first, last_step=last_step, last=last, min=vmin,
                     max=vmax, exact=pack_exact(last, vmin, vmax))  # fmt: skip


def final(value: float, source: str) -> MetricRow:
    return MetricRow(final=value, final_exact=struct.pack("<d", value), final_source=source)


def test_params_take_the_jobs_config_and_keep_differences_labelled() -> None:
    hydra = PartValues("h", "hydra", "hydra", params={"lr": ("0.001", 0.001), "tags": ('["dev"]', None)})
    tb = PartValues(
        "t", "tensorboard", "tensorboard", params={"lr": ("0.001", 0.001), "tags": ("['dev']", None)}
    )
    lightning = PartValues(
        "l", "lightning", "lightning", params={"lr": ("1e-2", 0.01), "opt": ("adam", None)}
    )
    merged = merge([hydra, tb, lightning])
    assert merged.params == {
        "lr": ("0.001", 0.001, "h"),
        "tags": ('["dev"]', None, "h"),  # TensorBoard's str(['dev']) is the same list
        "lr@hydra": ("0.001", 0.001, "h"),  # both values of a key the parts disagree on, each labelled
        "lr@lightning": ("1e-2", 0.01, "l"),
        "opt": ("adam", None, "l"),
    }
    words = merge(
        [
            PartValues("a", "hydra", "hydra", params={"x": ("true", None), "y": ("null", None)}),
            PartValues("b", "wandb", "wandb", params={"x": ("True", None), "y": ("None", None)}),
        ]
    )
    assert set(words.params) == {"x", "y"}


def test_one_series_logged_by_two_loggers_is_one_metric() -> None:
    csv = PartValues(
        "c", "lightning", "lightning", metrics={"acc": series(3, 0.65625, 0.609375, 0.65625, 1, 5)}
    )
    # TensorBoard's float32 of the same values; W&B numbered the rows itself (steps differ)
    tb = PartValues(
        "t", "tensorboard", "tensorboard", metrics={"acc": series(3, 0.65625, 0.609375, 0.65625, 1, 5)}
    )
    wandb = PartValues("w", "wandb", "wandb", metrics={"acc": series(3, 0.65625, 0.609375, 0.65625, 0, 2)})
    other = PartValues("o", "generic", "generic", metrics={"acc": series(4, 0.1, 0.1, 0.9)})
    merged = merge([PartValues("h", "hydra", "hydra"), wandb, tb, csv, other])
    assert set(merged.metrics) == {"acc", "acc@generic"}
    assert merged.metrics["acc"].part_key == "c"  # Lightning's CSV first: full precision, the job's steps
    assert same_series(series(2, 0.1 + 1e-9, 0.1, 0.2), series(2, float(0.1 + 1e-9), 0.1, 0.2))
    assert not same_series(series(2, 0.1, 0.1, 0.2), series(3, 0.1, 0.1, 0.2))


def test_finals_join_their_series_and_differing_results_are_kept() -> None:
    dvc = PartValues("d", "dvc", "dvc", metrics={"acc": final(0.7, "dvclive/metrics.json")})
    live = PartValues(
        "l",
        "dvclive",
        "dvclive",
        metrics={"acc": series(4, 0.7, 0.5, 0.7), "step": final(3.0, "metrics.json")},
    )
    wandb = PartValues("w", "wandb", "wandb", metrics={"acc": final(0.71, "summary record")})
    merged = merge([dvc, live, wandb])
    acc = merged.metrics["acc"]
    assert (acc.count, acc.part_key, acc.final, acc.final_source) == (4, "l", 0.7, "dvclive/metrics.json")
    assert merged.metrics["step"].count == 0 and merged.metrics["step"].final == 3.0
    assert merged.metrics["acc@wandb"].final == 0.71 and merged.metrics["acc@wandb"].count == 0


def test_times_take_recorded_starts_first() -> None:
    a = PartValues(
        "a", "hydra", "hydra", start_time=100.0, start_from="log", end_time=None, last_activity=150.0
    )
    b = PartValues("b", "lightning", "lightning", start_time=50.0, start_from_mtime=True, last_activity=160.0)
    c = PartValues(
        "c", "wandb", "wandb", start_time=110.0, end_time=200.0, status="finished", last_activity=200.0
    )
    merged = merge([a, b, c])
    assert merged.start_time == 100.0 and merged.start_from == "hydra: log"  # an mtime only if none recorded
    assert merged.end_time == 200.0 and merged.last_activity == 200.0
    assert merge([b]).start_time == 50.0


def test_status_comes_from_the_part_that_records_it() -> None:
    guess = PartValues("h", "hydra", "hydra", status="failed", native_status="empty log, no metrics")
    trainer = PartValues("t", "transformers", "transformers", status="finished", end_time=100.0)
    assert merge([guess, trainer]).status == "finished"  # a finished trainer state outweighs an empty log
    stale_log = PartValues("w", "wandb", "wandb", status="running", last_activity=90.0)
    assert merge([trainer, stale_log]).status == "finished"
    alive = PartValues("w", "wandb", "wandb", status="running", last_activity=150.0)
    assert merge([trainer, alive]).status == "running"
    crashed = PartValues("w", "wandb", "wandb", status="failed", native_status="exit_code=1")
    assert merge([trainer, crashed]).status == "failed"
    assert merge([guess, PartValues("l", "lightning", "lightning")]).status == "failed"  # nobody else knows
