"""A symbolic walk over a pickle's opcodes: containers of plain values rebuilt, nothing imported or run.

Unpickling runs whatever the file says (a `__reduce__` to `os.system` is one opcode away), so pickles are never
loaded: `pickletools.genops` only *parses* opcodes, and the small stack machine below rebuilds dicts, lists and
tuples of str/int/float/bool/None. Globals stay inert `Global` markers, calls become `Opaque`; the two calls
a torch checkpoint needs are recognised by name and still not run: an enum member `transformers.<...>(value)`
becomes `EnumValue(value)`, and `torch._utils._rebuild_tensor_v2(storage, offset, shape, ...)` becomes a
`Tensor` naming its storage record in the zip (whose raw bytes a caller may decode; see `scalar_of`).
Used by the Trainer reader (`training_args.bin`) and the Lightning reader (a `.ckpt`'s callback state).
"""

from __future__ import annotations

import pickletools
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from expdesk.core.errors import SourceError

MAX_PICKLE_BYTES = 4 << 20
MAX_OPS = 200_000
PRIMITIVE = (str, int, float, bool, type(None))
#: legacy storage class names in a torch zip's persistent ids -> struct format of one element
STORAGE_FORMATS = {"FloatStorage": "<f", "DoubleStorage": "<d", "HalfStorage": "<e", "LongStorage": "<q",
                   "IntStorage": "<i", "ShortStorage": "<h", "CharStorage": "<b", "ByteStorage": "<B",
                   "BoolStorage": "<?", "BFloat16Storage": "bf16"}  # fmt: skip


@dataclass(frozen=True)
class Global:
    module: str
    name: str


@dataclass
class Obj:
    cls: Any
    state: dict[str, Any] = field(default_factory=dict)


class Opaque:
    """A value we refuse to interpret (a call result, a persistent id, a set...)."""


@dataclass(frozen=True)
class EnumValue:
    value: Any


class _Mark:
    pass


_MARK = _Mark()
_CONST_OPS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_PUSH_ARG = {
    "INT",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG",
    "LONG1",
    "LONG4",
    "FLOAT",
    "BINFLOAT",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
    "BINBYTES",
    "SHORT_BINBYTES",
    "BINBYTES8",
    "BYTEARRAY8",
}


@dataclass(frozen=True)
class Storage:
    """A tensor storage record of a torch zip: `<prefix>/data/<key>`, elements of `type_name`."""

    type_name: str
    key: str


@dataclass(frozen=True)
class Tensor:
    storage: Storage
    offset: int
    shape: tuple[int, ...]


def simulate(data: bytes, source: Path | str = "<pickle>") -> Any:
    """The top object of the pickle `data`, rebuilt symbolically (see the module doc)."""
    return _simulate(data, source)


def _simulate(data: bytes, source: Path | str) -> Any:
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(data)):
            if count > MAX_OPS:
                raise SourceError(source, "pickle has too many opcodes")
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                return stack.pop() if stack else None
            if name in _CONST_OPS:
                stack.append(_CONST_OPS[name])
            elif name in _PUSH_ARG:
                stack.append(arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg)
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                del stack[marks.pop() :]
            elif name == "DUP":
                stack.append(stack[-1])
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg or 0)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(arg or 0), Opaque()))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("EMPTY_SET",):
                stack.append(Opaque())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                stack[-n:] = [tuple(stack[-n:])]
            elif name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
                if name == "TUPLE":
                    stack.append(tuple(items))
                elif name == "LIST":
                    stack.append(list(items))
                elif name == "DICT":
                    stack.append(_pairs(items))
                else:
                    stack.append(Opaque())
            elif name == "APPEND":
                item = stack.pop()
                if isinstance(stack[-1], list):
                    stack[-1].append(item)
            elif name == "APPENDS":
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
                if isinstance(stack[-1], list):
                    stack[-1].extend(items)
            elif name == "SETITEM":
                value = stack.pop()
                key = stack.pop()
                if isinstance(stack[-1], dict) and _hashable(key):
                    stack[-1][key] = value
            elif name == "SETITEMS":
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
                if isinstance(stack[-1], dict):
                    stack[-1].update(_pairs(items))
            elif name == "ADDITEMS":
                del stack[marks.pop() :]
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                glob = Global(module, qualname)
                if name == "INST":
                    del stack[marks.pop() :]
                    stack.append(Obj(glob))
                else:
                    stack.append(glob)
            elif name == "STACK_GLOBAL":
                qualname = stack.pop()
                module = stack.pop()
                stack.append(Global(str(module), str(qualname)))
            elif name == "REDUCE":
                args = stack.pop()
                func = stack.pop()
                stack.append(_reduce(func, args))
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                if name == "NEWOBJ_EX":
                    stack.pop()
                stack.pop()
                cls = stack.pop()
                stack.append(Obj(cls))
            elif name == "OBJ":
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
                stack.append(Obj(items[0] if items else None))
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if isinstance(target, Obj):
                    if isinstance(state, tuple) and len(state) == 2:
                        state = state[0]  # (dict state, slot state)
                    if isinstance(state, dict):
                        target.state.update(state)
            elif name in ("PERSID", "BINPERSID"):
                pid = stack.pop() if name == "BINPERSID" else arg
                stack.append(_storage(pid))
            elif name in ("EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"):
                stack.append(Opaque())
            else:
                raise SourceError(source, f"unsupported pickle opcode {name}")
    except SourceError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SourceError(source, f"malformed pickle: {exc}") from None
    raise SourceError(source, "pickle ends without STOP")


def _hashable(key: Any) -> bool:
    return isinstance(key, (str, int, float, bool, type(None), Global, EnumValue)) or (
        isinstance(key, tuple) and all(_hashable(k) for k in key)
    )


def _pairs(items: list[Any] | tuple[Any, ...]) -> dict[Any, Any]:
    out = {}
    for i in range(0, len(items) - 1, 2):
        if _hashable(items[i]):
            out[items[i]] = items[i + 1]
    return out


def _storage(pid: Any) -> Any:
    """torch's persistent id `('storage', <Global torch.FloatStorage>, key, location, numel)`."""
    if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], Global):
        return Storage(pid[1].name, str(pid[2]))
    return Opaque()


def _reduce(func: Any, args: Any) -> Any:
    """An enum member pickles as `Enum(value)`: keep the value when it is a transformers enum; a tensor as
    `_rebuild_tensor_v2(storage, offset, shape, ...)`: keep where its bytes are. Everything else is refused."""
    if (
        isinstance(func, Global)
        and func.module == "torch._utils"
        and func.name == "_rebuild_tensor_v2"
        and isinstance(args, tuple)
        and len(args) >= 3
        and isinstance(args[0], Storage)
        and isinstance(args[1], int)
        and isinstance(args[2], tuple)
        and all(isinstance(n, int) for n in args[2])
    ):
        return Tensor(args[0], args[1], args[2])
    if (
        isinstance(func, Global)
        and func.module.startswith("transformers.")
        and isinstance(args, tuple)
        and len(args) == 1
        and isinstance(args[0], PRIMITIVE)
    ):
        return EnumValue(args[0])
    return Opaque()


def torch_zip_pickle(handle: IO[bytes], source: Path | str) -> tuple[bytes, str]:
    """The `data.pkl` bytes of a torch zip (`torch.save` format) and the archive's record prefix."""
    try:
        with zipfile.ZipFile(handle) as archive:
            members = [
                i for i in archive.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"
            ]
            if not members:
                raise SourceError(source, "torch zip without data.pkl")
            info = members[0]
            if info.file_size > MAX_PICKLE_BYTES:
                raise SourceError(source, f"data.pkl is {info.file_size} bytes, over the limit")
            with archive.open(info) as member:
                data = member.read(MAX_PICKLE_BYTES + 1)[:MAX_PICKLE_BYTES]
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise SourceError(source, f"not a readable torch zip: {exc}") from None
    return data, info.filename[: -len("data.pkl")]


def scalar_of(handle: IO[bytes], prefix: str, tensor: Tensor, source: Path | str) -> float | None:
    """The value of a one-element tensor, decoded from its storage record's raw bytes (never unpickled)."""
    fmt = STORAGE_FORMATS.get(tensor.storage.type_name)
    if fmt is None or any(n != 1 for n in tensor.shape):
        return None
    size = 2 if fmt == "bf16" else struct.calcsize(fmt)
    try:
        with zipfile.ZipFile(handle) as archive, archive.open(f"{prefix}data/{tensor.storage.key}") as member:
            raw = member.read((tensor.offset + 1) * size)[tensor.offset * size :]
    except (KeyError, zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise SourceError(source, f"tensor record {tensor.storage.key} unreadable: {exc}") from None
    if len(raw) != size:
        return None
    if fmt == "bf16":  # bfloat16 is the top half of a float32
        return float(struct.unpack("<f", b"\0\0" + raw)[0])
    return float(struct.unpack(fmt, raw)[0])


__all__ = [
    "MAX_PICKLE_BYTES",
    "PRIMITIVE",
    "EnumValue",
    "Global",
    "Obj",
    "Opaque",
    "Storage",
    "Tensor",
    "scalar_of",
    "simulate",
    "torch_zip_pickle",
]  # fmt: skip
