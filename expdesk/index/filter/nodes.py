"""The syntax tree a parsed filter is made of (what the compiler turns into SQL)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operand:
    kind: str  # "attr" | "params" | "tags" | "metrics"
    name: str  # attribute name or key
    agg: str | None = None  # metrics only: an AGGREGATE or "at"
    step: int | None = None
    pos: int = 0
    length: int = 0
    text: str = ""


@dataclass(frozen=True)
class Value:
    kind: str  # "number" | "string" | "bool"
    value: float | int | str | bool
    text: str  # the literal as written (text comparisons of numbers use it)
    pos: int
    length: int


@dataclass(frozen=True)
class Compare:
    operand: Operand
    op: str  # OPERATORS, "in", "not in", "is null", "is not null"
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Flag:
    operand: Operand


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    left: Node
    right: Node


Node = Compare | Flag | Not | BoolOp
