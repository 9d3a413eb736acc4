"""Plain fields of a pickled `TrainingArguments` (`training_args.bin`), read WITHOUT unpickling.

`training_args.bin` is `torch.save(args)`: a zip whose `<name>/data.pkl` is a pickle. Unpickling runs
whatever the file says (a `__reduce__` to `os.system` is one opcode away), so we never call `pickle.load`:
`pickletools.genops` only *parses* opcodes, and a tiny symbolic stack machine below rebuilds containers of
plain values. Globals stay inert `_Global` markers, calls become `_Opaque`, nothing is imported or run.
Accepted as params: str/int/float/bool/None, lists/tuples of those, and enum members recorded as
`transformers.<module>.<Enum>(value)` (taken as their value). Everything else is refused.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from expdesk.core.errors import SourceError
from expdesk.core.safefile import read_bytes_capped
from expdesk.sources.common.pickle_ops import PRIMITIVE, EnumValue, Obj, simulate, torch_zip_pickle

MAX_FILE_BYTES = 16 << 20


def read_training_args(path: Path) -> dict[str, Any]:
    """The plain fields of `training_args.bin` as a dict (values are primitives or lists of primitives)."""
    raw = read_bytes_capped(path, MAX_FILE_BYTES)
    pickle_bytes = torch_zip_pickle(io.BytesIO(raw), path)[0] if raw[:4] == b"PK\x03\x04" else raw
    return plain_fields(pickle_bytes, path)


def plain_fields(data: bytes, source: Path | str = "<pickle>") -> dict[str, Any]:
    """Walk the opcode stream symbolically; return the accepted fields of the top-level object's state."""
    top = simulate(data, source)
    state = top.state if isinstance(top, Obj) else top if isinstance(top, dict) else None
    if not isinstance(state, dict):
        raise SourceError(source, "pickle does not hold an object with a field dict")
    out: dict[str, Any] = {}
    for key, value in state.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        accepted = _accept(value)
        if accepted is not _REFUSED:
            out[key] = accepted
    return out


_REFUSED = object()


def _accept(value: Any) -> Any:
    if isinstance(value, EnumValue):
        return value.value
    if isinstance(value, PRIMITIVE):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, PRIMITIVE) for v in value):
        return list(value)
    return _REFUSED
