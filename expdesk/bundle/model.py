"""Which files are "the model", and what they are (sniffed by magic bytes, never loaded).

Choice order: `--artifact PATH` (file or folder, relative to the run's artifacts or folder); a Trainer run's
best checkpoint, else its last (`hf.py`: only the files that load the model, training state left out unless
asked for); a Lightning run's best checkpoint per ModelCheckpoint, else the last (`checkpoints.py`); an MLflow 3
logged model's folder (`info["logged_models"][].local_dir`); the run's output files with role "model"; an
MLflow 2 model folder (holding `MLmodel`) among the artifacts; a Keras model file; the single shallowest
model-like artifact. An MLflow model folder must hold every file its flavours name. Pickle-family files are
copied byte for byte and flagged, never opened beyond their first bytes and zip directory.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from expdesk.bundle.checkpoints import choose_keras, choose_lightning
from expdesk.bundle.hf import choose_checkpoint, pick_files, weights_in
from expdesk.core.errors import SourceError, UnsafePath, UsageError
from expdesk.core.safefile import open_regular, read_bytes_capped, safe_yaml, walk_stats
from expdesk.index.lineage_queries import RunRow
from expdesk.lineage.catalog import Catalog
from expdesk.lineage.files import contained

MODEL_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".keras",
                  ".h5", ".hdf5", ".skops", ".gguf", ".bin", ".npz", ".msgpack", ".tflite", ".pb")  # fmt: skip
HF_SIDECARS = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json")  # fmt: skip
UNSAFE_FORMATS = {
    "pickle",
    "pytorch-zip (pickle inside)",
    "joblib",
    "numpy (object arrays: pickle)",
    "pytorch-legacy",
}
MAX_MLMODEL_BYTES = 1 << 20


@dataclass
class ModelChoice:
    kind: str  # "mlflow-model" | "directory" | "file"
    name: str
    base: Path  # folder the relative names are taken from
    files: list[tuple[str, Path]]  # (path relative to `base`, absolute contained source)
    how: str  # why these files were chosen, in words
    mlflow: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)
    rule: str = "user"  # the rule id (e.g. "trainer.best_model_checkpoint")
    notes: list[str] = field(default_factory=list)  # fallbacks taken: written in the manifest and the card
    left_out: list[tuple[str, Path, str]] = field(default_factory=list)  # (name relative to base, path, why)


def _candidates(run: RunRow, rel: str) -> list[Path]:
    p = Path(rel)
    if p.is_absolute():
        return [p]
    return [base / rel for base in [*run.artifact_dirs(), Path(run.path)]]


def _folder_files(run: RunRow, folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    files, skipped = [], []
    for rel, st in walk_stats(folder):
        if stat.S_ISREG(st.st_mode):
            try:
                files.append((rel, contained(run.root, folder / rel)))
            except UnsafePath:
                skipped.append(f"{rel}: resolves outside the run's root")
        else:
            skipped.append(f"{rel}: not a regular file (symlink, FIFO or device), not copied")
    return sorted(files), skipped


def _hf_choice(
    run: RunRow, folder: Path, how: str, rule: str, notes: list[str], training_state: bool
) -> ModelChoice:
    pick = pick_files(run.root, folder, training_state)
    name = folder.name if folder != Path(run.path) else Path(run.path).name
    return ModelChoice("directory", name, folder, pick.files, how, None, [], rule, notes, pick.left_out)


def _from_path(
    run: RunRow, target: Path, how: str, mlflow: dict[str, Any] | None = None, training_state: bool = False
) -> ModelChoice:
    target = contained(run.root, target)
    if target.is_dir():
        if run.format == "transformers" and weights_in(target):
            return _hf_choice(run, target, how, "user", [], training_state)
        files, skipped = _folder_files(run, target)
        if not files:
            raise UsageError(f"{target} holds no regular files to export")
        kind = "mlflow-model" if any(r == "MLmodel" for r, _ in files) else "directory"
        name = (mlflow or {}).get("name") or target.name
        choice = ModelChoice(kind, str(name), target, files, how, mlflow, skipped)
        if kind == "mlflow-model":
            check_mlmodel(choice)
        return choice
    if not target.is_file():
        raise UsageError(f"{target} is not a regular file or folder")
    files = [(target.name, target)]
    if run.format == "transformers":  # an HF model is its weights plus the configs beside them
        files += [(n, target.parent / n) for n in HF_SIDECARS if (target.parent / n).is_file()]
    return ModelChoice("file", target.stem, target.parent, sorted(files), how, mlflow)


def choose_model(
    catalog: Catalog, run: RunRow, artifact: str | None, with_training_state: bool = False
) -> ModelChoice:
    """The files that load the run's model (see the module doc for the order of the rules)."""
    if artifact:
        for candidate in _candidates(run, artifact):
            try:
                if candidate.exists():
                    return _from_path(
                        run, candidate, f"chosen by the user: {artifact}", None, with_training_state
                    )
            except UnsafePath as exc:
                raise UsageError(f"--artifact {artifact}: {exc.reason}") from None
        raise UsageError(f"--artifact {artifact}: no such file or folder in run {run.key}")
    if run.format == "transformers":
        pick = choose_checkpoint(Path(run.path), run.info)
        return _hf_choice(run, pick.folder, pick.why, pick.rule, pick.notes, with_training_state)
    if run.format == "lightning":
        found = choose_lightning(Path(run.path), run.info)
        choice = _from_path(run, Path(run.path) / found.path, found.why)
        choice.rule, choice.notes = found.rule, found.notes
        others = [c for c in run.info.get("checkpoints") or [] if isinstance(c, str) and c != found.path]
        choice.left_out = [(c, Path(run.path) / c, "another checkpoint of this run") for c in others]
        return choice
    logged = [m for m in run.info.get("logged_models") or [] if isinstance(m, dict) and m.get("local_dir")]
    logged.sort(key=lambda m: (m.get("status") != "READY", str(m.get("name")), str(m.get("model_id"))))
    for model in logged:
        try:
            choice = _from_path(
                run, Path(model["local_dir"]), f"MLflow logged model {model.get('model_id')}", model
            )
        except (UnsafePath, UsageError):
            continue
        choice.rule = "mlflow.logged_model"
        if len(logged) > 1:
            choice.skipped.append(f"{len(logged) - 1} other logged model(s) not exported; use --artifact")
        return choice
    model_outputs = [
        u for u in catalog.outputs(run.key, with_artifacts=False) if u.role == "model" and u.local
    ]
    if model_outputs:
        parents = {Path(u.local).parent for u in model_outputs if u.local}
        for parent in sorted(parents):
            if (parent / "MLmodel").is_file():
                return _ruled(
                    _from_path(run, parent, "folder of the run's model outputs (MLmodel)"), "mlflow.model_dir"
                )
        if len(model_outputs) == 1 and model_outputs[0].local:
            return _ruled(
                _from_path(run, Path(model_outputs[0].local), "the run's model output"), "output.model"
            )
    arts = catalog.artifacts(run.key)
    mlmodels = sorted(
        (a for a in arts if PurePosixPath(a.path).name == "MLmodel" and a.local), key=lambda a: a.path
    )
    if mlmodels:
        choice = _from_path(run, Path(mlmodels[0].local or "").parent,
                            f"artifact folder holding MLmodel: {PurePosixPath(mlmodels[0].path).parent}")  # fmt: skip
        choice.rule = "mlflow.artifact_model"
        if len(mlmodels) > 1:
            choice.skipped.append(
                f"{len(mlmodels) - 1} other MLflow model folder(s) not exported; use --artifact"
            )
        return choice
    keras = choose_keras(Path(run.path), [a.path for a in arts if a.local])
    if keras is not None:
        choice = _from_path(run, Path(run.path) / keras.path, keras.why)
        choice.rule, choice.notes = keras.rule, keras.notes
        return choice
    models = [a for a in arts if a.local and a.path.lower().endswith(MODEL_SUFFIXES)]
    if models:
        shallowest = min(a.path.count("/") for a in models)
        top = [a for a in models if a.path.count("/") == shallowest]
        if len(top) == 1 and top[0].local:
            return _ruled(
                _from_path(
                    run, Path(top[0].local), f"the only model-like artifact at the top: {top[0].path}"
                ),
                "single_model_file",
            )
        names = ", ".join(a.path for a in models[:10])
        raise UsageError(f"run {run.key} has several model files ({names}); choose one with --artifact PATH")
    where = ""
    if "artifact_dir" in run.info and not run.info.get("artifact_dir"):
        where = f" (its artifact folder is not here: {run.info.get('artifact_dir_rule') or 'not resolved'})"
    unresolved = [
        m for m in run.info.get("logged_models") or [] if isinstance(m, dict) and not m.get("local_dir")
    ]
    if unresolved:
        where += f"; {len(unresolved)} logged model(s) whose folder is not in the store, e.g. " + str(
            unresolved[0].get("artifact_location") or unresolved[0].get("model_id")
        )
    raise UsageError(f"run {run.key} has no model files{where}; choose one with --artifact PATH")


def _ruled(choice: ModelChoice, rule: str) -> ModelChoice:
    choice.rule = rule
    return choice


#: MLmodel flavour keys naming a file or folder of the model directory that the loader opens
FLAVOR_FILE_KEYS = (
    "pickled_model",
    "data",
    "model_data",
    "saved_model_dir",
    "model_file",
    "code",
    "model_path",
)


def check_mlmodel(choice: ModelChoice) -> None:
    """Every file or folder a flavour names must be in the model folder: half a model is never packed."""
    meta = mlflow_model_meta(choice)
    flavors = (meta or {}).get("flavors")
    if not isinstance(flavors, dict):
        return
    names = [rel for rel, _ in choice.files]
    for flavor, spec in sorted(flavors.items(), key=lambda kv: str(kv[0])):
        for key in FLAVOR_FILE_KEYS:
            value = spec.get(key) if isinstance(spec, dict) else None
            if not isinstance(value, str) or not value or value.startswith(("/", "..")) or "://" in value:
                continue
            wanted = value.strip("/")
            if not any(n == wanted or n.startswith(wanted + "/") for n in names):
                raise UsageError(
                    f"{choice.base / 'MLmodel'}: flavour {flavor} needs {key}={value!r}, which is not in the model "
                    "folder; refusing to pack half a model"
                )


def sniff(path: Path) -> str:
    """The file format from its first bytes (and a zip's directory), never by loading it."""
    fd, _st = open_regular(path)
    try:
        import os

        head = os.read(fd, 64)
    finally:
        os.close(fd)
    name = path.name.lower()
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()[:5000]
        except (zipfile.BadZipFile, OSError, ValueError):
            return "zip (unreadable directory)"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch-zip (pickle inside)"
        if "schema.json" in names:
            return "skops"
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return (
            "joblib"
            if name.endswith(".joblib")
            else ("pytorch-legacy" if name.endswith((".pt", ".pth", ".bin", ".ckpt")) else "pickle")
        )
    if head.startswith(b"\x93NUMPY"):
        return "numpy (object arrays: pickle)" if b"'|O'" in head or b"'O'" in head else "numpy"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"GGUF"):
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (100 << 20):
        return "safetensors"
    if name.endswith(".onnx"):
        return "onnx (by extension)"
    if name.endswith((".json", ".yaml", ".yml", ".txt", ".md")) or name == "mlmodel":
        return "text"
    if name.endswith((".pkl", ".pickle", ".joblib")):
        return "pickle"  # by extension: unusual header, still treated as unsafe
    return "unknown"


def mlflow_model_meta(choice: ModelChoice) -> dict[str, Any] | None:
    """Flavors, signature and versions from MLmodel (safe YAML; the file is copied as is, never rewritten)."""
    source = dict(choice.files).get("MLmodel")
    if source is None:
        return None
    try:
        doc = safe_yaml(read_bytes_capped(source, MAX_MLMODEL_BYTES), source)
    except SourceError as exc:
        return {"error": str(exc)}
    if not isinstance(doc, dict):
        return {"error": "MLmodel is not a mapping"}
    keep = (
        "flavors",
        "signature",
        "mlflow_version",
        "model_id",
        "run_id",
        "saved_input_example_info",
        "utc_time_created",
        "model_size_bytes",
    )
    return {k: doc[k] for k in keep if k in doc}


def flavor_unsafe(meta: dict[str, Any] | None) -> list[str]:
    """MLflow flavors whose loader unpickles (loading executes code from the file)."""
    reasons: list[str] = []
    flavors = (meta or {}).get("flavors") or {}
    if not isinstance(flavors, dict):
        return reasons
    for name, spec in flavors.items():
        spec = spec if isinstance(spec, dict) else {}
        fmt = str(spec.get("serialization_format", "")).lower()
        if fmt in ("pickle", "cloudpickle"):
            reasons.append(f"flavor {name}: serialization_format {fmt}")
        elif name in ("pytorch", "langchain") or (name == "python_function" and "python_model" in spec):
            reasons.append(f"flavor {name}: loader unpickles")
    return reasons
