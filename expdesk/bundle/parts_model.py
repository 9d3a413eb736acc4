"""Which model a joined run exports: the handoff's rules (`model.choose_model`) applied to the part of the
job that holds the model, then to the job folder as a whole.

A run of one part is `choose_model` unchanged. For a joined run (a Hydra job with a Trainer output dir, a
Lightning logger's version folder, an MLflow store inside it), the tools whose rules know their own model
are asked first, in this order: a Trainer's best/last checkpoint, a Lightning logger's checkpoints, an
MLflow logged model, a Keras model file; then the job folder's Lightning checkpoints (the
lightning-hydra-template saves them next to `.hydra/`, outside any logger folder: `last.ckpt`, as the
callback state of a job-level checkpoint is not read at index time); then the generic rules on the joined
run. The choice says which part it came from.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from expdesk.bundle.checkpoints import choose_lightning
from expdesk.bundle.model import ModelChoice, _from_path, choose_model
from expdesk.core.errors import UsageError
from expdesk.lineage.catalog import Catalog, RunRow

#: formats whose own rules name their model, in the order they are asked
MODEL_FORMATS = ("transformers", "lightning", "mlflow", "mlflow-sqlite", "keras")


def choose_run_model(
    catalog: Catalog, run: RunRow, artifact: str | None, with_training_state: bool = False
) -> ModelChoice:
    if artifact or not run.parts:
        return choose_model(catalog, run, artifact, with_training_state)
    tried: list[str] = []
    for fmt in MODEL_FORMATS:
        for key, part_fmt, path, _native_id, _rule in run.parts:
            if part_fmt != fmt:
                continue
            part = catalog.part(key)
            if part is None:
                continue
            try:
                choice = choose_model(catalog, part, None, with_training_state)
            except UsageError as exc:
                tried.append(f"{fmt} part {run.relative(path)}: {exc}")
                continue
            choice.notes = [*choice.notes, f"from the run's {fmt} part ({run.relative(path)})"]
            return choice
    checkpoints = [
        a.path for a in catalog.artifacts(run.key) if a.local and PurePosixPath(a.path).suffix == ".ckpt"
    ]
    if checkpoints:
        pick = choose_lightning(Path(run.path), {"checkpoints": checkpoints})
        choice = _from_path(run, Path(run.path) / pick.path, pick.why)
        choice.rule = pick.rule
        choice.notes = [*pick.notes, "checkpoints of the job folder (their callback state was not read)"]
        choice.left_out = [
            (c, Path(run.path) / c, "another checkpoint of this job") for c in checkpoints if c != pick.path
        ]
        return choice
    try:
        return choose_model(catalog, run, None, with_training_state)
    except UsageError as exc:
        if tried:
            raise UsageError(f"{exc} (parts tried: {'; '.join(tried)})") from None
        raise
