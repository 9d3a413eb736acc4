"""How to load the exported model, in two lines, for the flavours expdesk recognises (the card's "Load").

Decided from what is in `model/` (sniffed formats and file names) and what the run recorded (the Trainer's
`config.json` architectures, MLflow flavours); never by loading anything. Each entry is (title, code, warning).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: loading these runs code from the file; the card says so next to the two lines
PICKLE_WARNING = (
    "Loading this file executes code stored in it (pickle). Only load it after checking the bundle's "
    "fingerprint with the sender, ideally in a sandbox."
)


def _architecture(config: Path | None) -> str | None:
    if config is None:
        return None
    try:
        doc = json.loads(config.read_bytes()[: 1 << 20])
    except (OSError, ValueError, RecursionError):
        return None
    names = doc.get("architectures") if isinstance(doc, dict) else None
    if isinstance(names, list) and names and isinstance(names[0], str) and names[0].isidentifier():
        return names[0]
    return None


def load_instructions(model_info: dict[str, Any], sources: dict[str, Path]) -> list[tuple[str, str, str]]:
    """(title, two lines of Python or shell, warning or "") for the model in `model/`.

    `sources`: bundle name under `model/` -> the file it was copied from (to read `config.json` once more).
    """
    files = {f["path"]: f for f in model_info.get("files", [])}
    formats = {f["format"] for f in files.values()}
    out: list[tuple[str, str, str]] = []
    if model_info.get("kind") == "mlflow-model":
        warning = PICKLE_WARNING if model_info.get("unsafe_deserialization") else ""
        out.append(("MLflow model (any flavour, as a pyfunc)",
                    "import mlflow\nmodel = mlflow.pyfunc.load_model(\"data/model\")", warning))  # fmt: skip
        return out
    if "adapter_config.json" in files:
        out.append(("PEFT adapter (the base model named in adapter_config.json is fetched by peft)",
                    "from peft import AutoPeftModel\nmodel = AutoPeftModel.from_pretrained(\"data/model\")", ""))  # fmt: skip
    elif "config.json" in files and any(
        n.endswith(".safetensors") or n.startswith("pytorch_model") for n in files
    ):
        arch = _architecture(sources.get("config.json")) or "AutoModel"
        unsafe = any(f["unsafe_deserialization"] for f in files.values())
        out.append((f"transformers ({arch})",
                    f"from transformers import {arch}\nmodel = {arch}.from_pretrained(\"data/model\")",
                    PICKLE_WARNING if unsafe else ""))  # fmt: skip
    if "tokenizer_config.json" in files or "tokenizer.json" in files:
        out.append(("tokenizer", "from transformers import AutoTokenizer\n"
                    "tokenizer = AutoTokenizer.from_pretrained(\"data/model\")", ""))  # fmt: skip
    if out:
        return out
    for name, f in sorted(files.items()):
        path = f"data/model/{name}"
        fmt = f["format"]
        if fmt == "safetensors":
            out.append((f"safetensors weights ({name})",
                        f"from safetensors.torch import load_file\nstate_dict = load_file(\"{path}\")", ""))  # fmt: skip
        elif fmt == "pytorch-zip (pickle inside)" and name.endswith(".ckpt"):
            out.append((f"Lightning checkpoint ({name}): the weights, without running its pickle",
                        f"import torch\nstate_dict = torch.load(\"{path}\", weights_only=True)[\"state_dict\"]",
                        "Use torch >= 2.6: weights_only=True reads tensors and plain containers and refuses "
                        "anything else. LightningModule.load_from_checkpoint unpickles the whole file, which "
                        "runs code stored in it: only after checking the bundle's fingerprint, ideally in a sandbox."))  # fmt: skip
        elif fmt in ("pytorch-zip (pickle inside)", "pytorch-legacy"):
            out.append((f"torch state dict ({name})",
                        f"import torch\nstate_dict = torch.load(\"{path}\", weights_only=True)",
                        "Use torch >= 2.6: weights_only=True reads tensors and plain containers and refuses "
                        "anything else; without it, loading runs code stored in the file (pickle)."))  # fmt: skip
        elif fmt in ("pickle", "joblib") and name.endswith((".pkl", ".pickle", ".joblib")):
            out.append((f"scikit-learn pickle ({name})",
                        f"import joblib\nmodel = joblib.load(\"{path}\")", PICKLE_WARNING))  # fmt: skip
        elif fmt == "skops":
            out.append((f"skops ({name}): review the untrusted types before trusting them",
                        f"import skops.io as sio\nmodel = sio.load(\"{path}\", trusted=sio.get_untrusted_types(file=\"{path}\"))",
                        ""))  # fmt: skip
        elif fmt == "keras" or name.endswith(".keras"):
            out.append((f"Keras model ({name})",
                        f"import keras\nmodel = keras.saving.load_model(\"{path}\")", ""))  # fmt: skip
        elif fmt.startswith("onnx"):
            out.append((f"ONNX ({name})",
                        f"import onnxruntime\nsession = onnxruntime.InferenceSession(\"{path}\")", ""))  # fmt: skip
    if not out and formats & {"pickle", "joblib"}:
        out.append(
            ("pickle", 'import pickle\nmodel = pickle.load(open("data/model/<file>", "rb"))', PICKLE_WARNING)
        )
    return out
