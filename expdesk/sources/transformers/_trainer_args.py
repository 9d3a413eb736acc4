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
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.core.errors import SourceError
from expdesk.core.safefile import read_bytes_capped

MAX_FILE_BYTES = 16 << 20
MAX_PICKLE_BYTES = 4 << 20
MAX_OPS = 200_000
_PRIMITIVE = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass
class _Obj:
    cls: Any
    state: dict[str, Any] = field(default_factory=dict)


class _Opaque:
    """A value we refuse to interpret (a call result, a persistent id, a set...)."""


@dataclass(frozen=True)
class _EnumValue:
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


def read_training_args(path: Path) -> dict[str, Any]:
    """The plain fields of `training_args.bin` as a dict (values are primitives or lists of primitives)."""
    raw = read_bytes_capped(path, MAX_FILE_BYTES)
    pickle_bytes = _pickle_from_torch_zip(raw, path) if raw[:4] == b"PK\x03\x04" else raw
    return plain_fields(pickle_bytes, path)


def _pickle_from_torch_zip(raw: bytes, path: Path) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [
                i for i in archive.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"
            ]
            if not members:
                raise SourceError(path, "torch zip without data.pkl")
            info = members[0]
            if info.file_size > MAX_PICKLE_BYTES:
                raise SourceError(path, f"data.pkl is {info.file_size} bytes, over the limit")
            with archive.open(info) as member:
                return member.read(MAX_PICKLE_BYTES + 1)[:MAX_PICKLE_BYTES]
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise SourceError(path, f"not a readable torch zip: {exc}") from None


def plain_fields(data: bytes, source: Path | str = "<pickle>") -> dict[str, Any]:
    """Walk the opcode stream symbolically; return the accepted fields of the top-level object's state."""
    top = _simulate(data, source)
    state = top.state if isinstance(top, _Obj) else top if isinstance(top, dict) else None
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
    if isinstance(value, _EnumValue):
        return value.value
    if isinstance(value, _PRIMITIVE):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, _PRIMITIVE) for v in value):
        return list(value)
    return _REFUSED


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
                stack.append(memo.get(int(arg or 0), _Opaque()))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("EMPTY_SET",):
                stack.append(_Opaque())
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
                    stack.append(_Opaque())
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
                glob = _Global(module, qualname)
                if name == "INST":
                    del stack[marks.pop() :]
                    stack.append(_Obj(glob))
                else:
                    stack.append(glob)
            elif name == "STACK_GLOBAL":
                qualname = stack.pop()
                module = stack.pop()
                stack.append(_Global(str(module), str(qualname)))
            elif name == "REDUCE":
                args = stack.pop()
                func = stack.pop()
                stack.append(_reduce(func, args))
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                if name == "NEWOBJ_EX":
                    stack.pop()
                stack.pop()
                cls = stack.pop()
                stack.append(_Obj(cls))
            elif name == "OBJ":
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
                stack.append(_Obj(items[0] if items else None))
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if isinstance(target, _Obj):
                    if isinstance(state, tuple) and len(state) == 2:
                        state = state[0]  # (dict state, slot state)
                    if isinstance(state, dict):
                        target.state.update(state)
            elif name in ("PERSID", "BINPERSID"):
                if name == "BINPERSID":
                    stack.pop()
                stack.append(_Opaque())
            elif name in ("EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"):
                stack.append(_Opaque())
            else:
                raise SourceError(source, f"unsupported pickle opcode {name}")
    except SourceError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SourceError(source, f"malformed pickle: {exc}") from None
    raise SourceError(source, "pickle ends without STOP")


def _hashable(key: Any) -> bool:
    return isinstance(key, (str, int, float, bool, type(None), _Global, _EnumValue)) or (
        isinstance(key, tuple) and all(_hashable(k) for k in key)
    )


def _pairs(items: list[Any] | tuple[Any, ...]) -> dict[Any, Any]:
    out = {}
    for i in range(0, len(items) - 1, 2):
        if _hashable(items[i]):
            out[items[i]] = items[i + 1]
    return out


def _reduce(func: Any, args: Any) -> Any:
    """An enum member pickles as `Enum(value)`: keep the value when it is a transformers enum, else refuse."""
    if (
        isinstance(func, _Global)
        and func.module.startswith("transformers.")
        and isinstance(args, tuple)
        and len(args) == 1
        and isinstance(args[0], _PRIMITIVE)
    ):
        return _EnumValue(args[0])
    return _Opaque()
