"""Names and serialisation inside a bundle: safe file names, run folder names, canonical JSON.

A bundle name must survive BagIt manifests, `sha256sum -c`, zip readers on every OS and our own `open`
checks: NFC, no control characters, no `%` or `\\`, no `:`, no leading/trailing dot or space in a part,
no reserved Windows device names. Anything else is replaced by `_`; callers keep the original name in JSON.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

_BAD = re.compile(r"[\x00-\x1f\x7f%\\:*?\"<>|]")
_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
MAX_PART_BYTES = 200


def safe_part(part: str) -> str:
    text = unicodedata.normalize("NFC", part)
    text = "".join(
        "_" if _BAD.match(ch) or unicodedata.category(ch) in ("Cs", "Cf", "Co") else ch for ch in text
    )
    text = text.strip(" .") or "_"
    if text.split(".", 1)[0].lower() in _RESERVED:
        text = "_" + text
    while len(text.encode("utf-8")) > MAX_PART_BYTES:
        text = text[:-1]
    return text


def safe_relpath(path: str) -> str:
    """A POSIX relative path made of safe parts (`..` and empty parts dropped)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(safe_part(p) for p in parts) or "_"


def is_safe_relpath(path: str) -> bool:
    return bool(path) and safe_relpath(path) == path


def slug(text: str, limit: int = 48) -> str:
    """A short lowercase ASCII name for the bag folder and zip file."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return cleaned[:limit].strip("-") or "model"


def _clean(value: Any) -> Any:
    """NaN/inf are not JSON: they become the strings "nan", "inf", "-inf" (the metrics.csv literals)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, 1-space indent, UTF-8, trailing newline, no NaN."""
    text = json.dumps(
        _clean(value), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False, default=str
    )
    return (text + "\n").encode("utf-8")
