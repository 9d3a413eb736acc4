"""The filter language and sort keys, compiled to SQL over `runs r` with bound parameters.

    params.lr < 1e-3 and (metrics.val/loss.min < 0.2 or tags.stage = "prod") and name ~ "bert"

Grammar (keywords are case-insensitive; a value is a number, a quoted string or a bare word):

    filter    = or_expr
    or_expr   = and_expr { "or" and_expr }
    and_expr  = unary { "and" unary }
    unary     = "not" unary | "(" or_expr ")" | predicate
    predicate = operand ( cmp value | ["not"] "in" "(" value { "," value } ")" | "is" ["not"] "null" )
              | flag                                   (stale, deleted, starred, error = "has an error")
    cmp       = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
    operand   = attribute | "params." key | "tags." key | "metrics." key "." agg
              | "metrics." key ".at(" integer ")"
    sort      = item { "," item } ;  item = ["-" | "+"] operand ["asc" | "desc"]

Keys run up to the operator (`params.optimizer.lr` is the key `optimizer.lr`); for metrics the last `.agg`
is the aggregate; quoted pieces (`params."my key"`, `metrics."a b".max`) hold anything else. Strings take
`\\"`, `\\'` and `\\\\` escapes; any other backslash is kept, so regexes read naturally (`"\\d+"`).

Semantics are SQL's: a missing param/tag/metric (or a NaN summary, stored as NULL) matches no comparison,
not even under `not`, but matches `is null`. Params compare numerically against a number when they hold one
(`params.seed = 42` matches "42" and "42.0") and as text otherwise.

Safety: user text never reaches SQL text. Keys and values are bound parameters; the SQL text holds only
identifiers from the whitelists below. `compile_sort` has no parameters to bind (the caller's ORDER BY),
so there keys are spelled as hex blob literals we generate ourselves.
"""

from __future__ import annotations

import difflib
import math
import re
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from expdesk.core.entities import Status
from expdesk.core.errors import UsageError
from expdesk.index import store
from expdesk.index.reader import DEFAULT_STALE_AFTER

AGGREGATES = ("last", "min", "max", "count", "first_step", "last_step", "nan_count")
NAMESPACES = ("params", "tags", "metrics")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~")
KEYWORDS = ("and", "or", "not", "in", "is", "null")
STATUSES = tuple(s.value for s in Status)
_INT64 = (-(2**63), 2**63 - 1)
_F8 = struct.Struct("<d")

# attribute -> (kind, SQL over `runs r`). The only SQL text a filter can select.
_ANNOTATION = "(SELECT a.{} FROM annotations a WHERE a.run_key = r.key)"
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "name": ("text", "r.name"),
    "format": ("text", "r.format"),
    "status": ("text", "r.status"),
    "experiment": ("text", "r.experiment"),
    "path": ("text", "r.path"),
    "native_id": ("text", "r.native_id"),
    "key": ("text", "r.key"),
    "native_status": ("text", "r.native_status"),
    "parent": ("text", "r.parent_key"),
    "error": ("text", "r.error"),
    # an empty note is no note: `note is null` finds runs without one
    "note": ("text", f"NULLIF({_ANNOTATION.format('note')}, '')"),
    "start_time": ("time", "r.start_time"),
    "end_time": ("time", "r.end_time"),
    "duration": ("number", "(r.end_time - r.start_time)"),
    "deleted": ("bool", "r.deleted"),
    "starred": ("bool", f"COALESCE({_ANNOTATION.format('starred')}, 0)"),
    "stale": ("bool", ""),  # built per compile: depends on the clock
    "label": ("labels", "u.tag"),
}
FLAGS = ("stale", "deleted", "starred", "error")


class FilterError(UsageError):
    """A filter or sort spec that cannot be compiled; `position` is the 0-based column, `length` the span."""

    def __init__(self, message: str, position: int, length: int = 1) -> None:
        super().__init__(message)
        self.position = position
        self.length = length


# -- tokens ------------------------------------------------------------------------------------------
_PUNCT = "(),<>=~"
_QUOTES = "\"'"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?", re.I | re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op" | "(" | ")" | "," | "end"
    text: str  # as written
    pos: int
    # a word is glued pieces: (content, quoted, position), e.g. params."my key" -> ("params.", "my key")
    parts: tuple[tuple[str, bool, int], ...] = ()

    @property
    def keyword(self) -> str | None:
        if len(self.parts) == 1 and not self.parts[0][1] and self.text.lower() in KEYWORDS:
            return self.text.lower()
        return None

    def describe(self) -> str:
        return "the end" if self.kind == "end" else f"'{self.text}'"


def _breaks_word(expr: str, i: int) -> bool:
    c = expr[i]
    return c.isspace() or c in _PUNCT or (c == "!" and expr[i + 1 : i + 2] in ("=", "~"))


def _read_string(expr: str, start: int) -> tuple[str, int]:
    quote, i, out = expr[start], start + 1, []
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr) and expr[i + 1] in ("\\", '"', "'"):
            out.append(expr[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise FilterError(f"unterminated string starting at column {start + 1}", start, len(expr) - start)


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(expr)
    for j, c in enumerate(expr):
        # lone surrogates (undecodable argv bytes) cannot be bound as SQLite text
        if "\ud800" <= c <= "\udfff":
            raise FilterError(f"invalid character {c!r} at {_col(j)}", j)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(Token(c, c, i))
            i += 1
        elif expr[i : i + 2] in ("<=", ">=", "!=", "!~", "=="):
            tokens.append(Token("op", expr[i : i + 2], i))
            i += 2
        elif c in "<>=~":
            tokens.append(Token("op", c, i))
            i += 1
        elif c == "!":
            raise FilterError(f"unexpected '!' at column {i + 1} (use 'not', '!=' or '!~')", i)
        else:
            start, parts = i, []
            while i < n and not _breaks_word(expr, i):
                if expr[i] in _QUOTES:
                    text, end = _read_string(expr, i)
                    parts.append((text, True, i))
                else:
                    end = i
                    while end < n and not _breaks_word(expr, end) and expr[end] not in _QUOTES:
                        end += 1
                    parts.append((expr[i:end], False, i))
                i = end
            tokens.append(Token("word", expr[start:i], start, tuple(parts)))
    tokens.append(Token("end", "", n))
    return tokens


# -- AST ---------------------------------------------------------------------------------------------
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


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _col(pos: int) -> str:
    return f"column {pos + 1}"


class _Parser:
    def __init__(self, expr: str) -> None:
        self.tokens = tokenize(expr)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def fail(self, message: str, tok: Token, hint: str = "") -> FilterError:
        length = max(len(tok.text), 1 if tok.text else 0)
        return FilterError(f"{message} at {_col(tok.pos)}{hint}", tok.pos, length)

    def expect(self, kind: str, after: Token) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise self.fail(f"expected '{kind}' after '{after.text}', found {tok.describe()}", tok)
        return tok

    # filter = or_expr, left-associative, `not` binds tighter than `and`, `and` tighter than `or`
    def parse_filter(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            hint = "; a value with spaces needs quotes" if tok.kind == "word" and not tok.keyword else ""
            raise self.fail(f"expected 'and', 'or' or the end, found {tok.describe()}{hint}", tok)
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.peek().keyword == "or":
            self.next()
            node = BoolOp("OR", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while self.peek().keyword == "and":
            self.next()
            node = BoolOp("AND", node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.keyword == "not":
            self.next()
            return Not(self.unary())
        if tok.kind == "(":
            self.next()
            node = self.or_expr()
            close = self.next()
            if close.kind != ")":
                raise self.fail(
                    f"expected ')' to close the '(' at {_col(tok.pos)}, found {close.describe()}", close
                )
            return node
        return self.predicate()

    def predicate(self) -> Node:
        first = self.peek()
        operand = self.operand()
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            return Compare(operand, "=" if tok.text == "==" else tok.text, (self.value(tok),))
        if tok.keyword == "in" or (tok.keyword == "not" and self.peek(1).keyword == "in"):
            op = "in" if tok.keyword == "in" else "not in"
            if op == "not in":
                self.next()
            in_tok = self.next()
            self.expect("(", in_tok)
            values = [self.value(in_tok)]
            while self.peek().kind == ",":
                values.append(self.value(self.next()))
            self.expect(")", self.tokens[self.i - 1])
            return Compare(operand, op, tuple(values))
        if tok.keyword == "is":
            self.next()
            negated = self.peek().keyword == "not"
            if negated:
                self.next()
            null = self.next()
            if null.keyword != "null":
                raise self.fail(
                    f"expected 'null' after 'is{' not' if negated else ''}', found {null.describe()}", null
                )
            return Compare(operand, "is not null" if negated else "is null", ())
        if operand.kind == "attr" and operand.name in FLAGS:
            return Flag(operand)
        raise self.fail(
            f"expected an operator (= != < <= > >= ~ !~ in, is null) after '{first.text}', found {tok.describe()}",
            tok,
        )

    def operand(self) -> Operand:
        tok = self.next()
        what = "an attribute, params.<key>, tags.<key> or metrics.<key>.<aggregate>"
        if tok.kind != "word" or tok.keyword or tok.parts[0][1]:
            raise self.fail(f"expected {what}, found {tok.describe()}", tok)
        head_text, _, head_pos = tok.parts[0]
        if "." not in head_text:
            name = head_text.lower()
            if len(tok.parts) == 1 and name in ATTRIBUTES:
                return Operand("attr", name, pos=tok.pos, length=len(tok.text), text=tok.text)
            if name in NAMESPACES:
                raise self.fail(f"'{head_text}' needs a key: {name}.<key>", tok)
            if _NUMBER.fullmatch(tok.text):
                raise self.fail(f"expected {what}, found the value '{tok.text}'", tok)
            raise self.fail(f"unknown attribute '{tok.text}'", tok, _suggest(name, ATTRIBUTES))
        head, _, rest = head_text.partition(".")
        namespace = head.lower()
        if namespace not in NAMESPACES:
            close = difflib.get_close_matches(namespace, NAMESPACES, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}.{tok.text[len(head) + 1 :]}'?)" if close else ""
            raise FilterError(f"unknown attribute '{head}' at {_col(tok.pos)}{hint}", tok.pos, len(head) or 1)
        pieces = [(rest, False, head_pos + len(head) + 1), *tok.parts[1:]]
        if namespace != "metrics":
            key = "".join(p[0] for p in pieces)
            if not key:
                raise self.fail(f"expected a key after '{head}.'", tok)
            return Operand(namespace, key, pos=tok.pos, length=len(tok.text), text=tok.text)
        # metrics: the last unquoted ".agg" is the aggregate, so keys may contain dots
        last_text, last_quoted, last_pos = pieces[-1]
        dot = -1 if last_quoted else last_text.rfind(".")
        key = "".join(p[0] for p in pieces[:-1]) + (last_text[:dot] if dot >= 0 else last_text)
        if dot < 0 or not key:
            message = f"'{tok.text}' needs a key and an aggregate: metrics.<key>.<{'|'.join(AGGREGATES)}> or .at(<step>)"
            raise self.fail(message, tok)
        agg_text, agg_pos = last_text[dot + 1 :], last_pos + dot + 1
        agg = agg_text.lower()
        if agg == "at":
            return self.at_step(tok, key)
        if agg not in AGGREGATES:
            err_tok = Token("word", agg_text, agg_pos)
            raise self.fail(f"unknown aggregate '{agg_text}'", err_tok, _suggest(agg, (*AGGREGATES, "at")))
        return Operand("metrics", key, agg, pos=tok.pos, length=len(tok.text), text=tok.text)

    def at_step(self, tok: Token, key: str) -> Operand:
        self.expect("(", tok)
        step_tok = self.next()
        if step_tok.kind != "word" or not _INTEGER.fullmatch(step_tok.text):
            raise self.fail(
                f"expected an integer step in '{tok.text}(...)', found {step_tok.describe()}", step_tok
            )
        step = int(step_tok.text)
        if not _INT64[0] <= step <= _INT64[1]:
            raise self.fail("step out of range (64-bit integers)", step_tok)
        close = self.expect(")", step_tok)
        text = f"{tok.text}({step_tok.text})"
        return Operand("metrics", key, "at", step, tok.pos, close.pos + 1 - tok.pos, text)

    def value(self, after: Token) -> Value:
        tok = self.next()
        if tok.kind != "word" or (tok.keyword and tok.keyword != "null"):
            raise self.fail(f"expected a value after '{after.text}', found {tok.describe()}", tok)
        if len(tok.parts) != 1:
            raise self.fail(f"a value is one number, string or word; quote all of {tok.describe()}", tok)
        text, quoted, _ = tok.parts[0]
        length = len(tok.text)
        if quoted:
            return Value("string", text, text, tok.pos, length)
        low = text.lower()
        if low == "null":
            raise self.fail("compare with null using 'is null' or 'is not null'", tok)
        if low.lstrip("+-") == "nan":
            raise self.fail(
                "NaN equals nothing and orders nowhere; use metrics.<key>.nan_count > 0 or 'is null'", tok
            )
        if _NUMBER.fullmatch(text):
            number: float | int = float(text)
            # exact integers stay ints (counts, steps); beyond int64 SQLite cannot bind them
            if _INTEGER.fullmatch(text) and _INT64[0] <= int(text) <= _INT64[1]:
                number = int(text)
            return Value("number", number, text, tok.pos, length)
        if low in ("true", "false"):
            return Value("bool", low == "true", text, tok.pos, length)
        return Value("string", text, text, tok.pos, length)


def parse_filter(expr: str) -> Node:
    return _Parser(expr).parse_filter()


# -- SQL fragments -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frag:
    """SQL text with its bound parameters in text order (so fragments can be pasted together safely)."""

    sql: str
    params: tuple[Any, ...] = ()


def _cat(*parts: Frag | str) -> Frag:
    sql: list[str] = []
    params: list[Any] = []
    for p in parts:
        if isinstance(p, Frag):
            sql.append(p.sql)
            params.extend(p.params)
        else:
            sql.append(p)
    return Frag("".join(sql), tuple(params))


def _bound(value: Any) -> Frag:
    return Frag("?", (value,))


def _literal(value: Any) -> Frag:
    """For ORDER BY, which has no parameters: only what we generate ourselves reaches the SQL text."""
    if isinstance(value, str):
        return Frag(f"CAST(X'{value.encode('utf-8', 'surrogatepass').hex()}' AS TEXT)")
    if isinstance(value, int):
        return Frag(f"({int(value)})")
    raise TypeError(value)


@dataclass(frozen=True)
class _Source:
    """Where an operand's value comes from: expressions for its text and numeric forms, and for per-key
    rows (params, tags, series) the table the predicate is evaluated in, one row per run at most."""

    kind: str  # "text" | "number" | "time" | "bool" | "mixed" | "labels"
    text: Frag | None
    num: Frag | None
    table: str | None = None  # e.g. "params p"
    key: Frag | None = None


def _stale_sql(now: float, stale_after: float) -> str:
    if not (math.isfinite(now) and math.isfinite(stale_after)):
        return "0"  # stale_after = inf: nothing is ever stale (and 'inf' is no SQL number)
    # numbers we produce (never user text), so they may be spelled into the SQL
    return (
        f"(r.status = 'running' AND r.last_activity IS NOT NULL"
        f" AND {float(now)!r} - r.last_activity > {float(stale_after)!r})"
    )


def _at_sql(key: Frag, step: Frag) -> Frag:
    """Value of the last point written with `step`: chunks newest first, the first one holding the step.
    Two functions, because a NaN value is NULL to SQLite and must not be mistaken for 'not in this chunk'."""
    return _cat(
        "(SELECT chunk_value_at(c.steps, c.n, c.vals, ", step, ") FROM series s JOIN chunks c"
        " ON c.series_id = s.id WHERE s.run_key = r.key AND s.key = ", key, " AND ", step,
        " BETWEEN s.first_step AND s.last_step AND chunk_step_index(c.steps, c.n, ", step, ") IS NOT NULL"
        " ORDER BY c.seq DESC LIMIT 1)",
    )  # fmt: skip


def _source(operand: Operand, bind: Callable[[Any], Frag], stale: str) -> _Source:
    if operand.kind == "attr":
        kind, sql = ATTRIBUTES[operand.name]
        expr = Frag(stale if operand.name == "stale" else sql)
        if kind == "text" or kind == "labels":
            return _Source(kind, expr, None)
        return _Source(kind, None, expr)
    key = bind(operand.name)
    if operand.kind == "params":
        return _Source("mixed", Frag("p.value"), Frag("p.num"), "params p", key)
    if operand.kind == "tags":
        return _Source("mixed", Frag("t.value"), Frag("expdesk_num(t.value)"), "tags t", key)
    if operand.agg == "at":
        return _Source("number", None, _at_sql(key, bind(operand.step)))
    assert operand.agg in AGGREGATES  # whitelisted by the parser: the only way a name reaches SQL text
    return _Source("number", None, Frag(f"s.{operand.agg}"), "series s", key)


def _parse_time(value: Value) -> float:
    try:
        stamp = datetime.fromisoformat(str(value.value))
        # naive times are UTC, like the times the CLI prints
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise FilterError(
            f"'{value.text}' at {_col(value.pos)} is not a date: use ISO 8601, e.g. 2026-11-01 or"
            " 2026-11-01T12:00:00Z (naive times are UTC)",
            value.pos,
            value.length,
        ) from None


def _fail(value: Value | Operand, message: str, hint: str = "") -> FilterError:
    return FilterError(f"{message} at {_col(value.pos)}{hint}", value.pos, value.length)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _predicate(src: _Source, operand: Operand, op: str, value: Value) -> Frag:
    """One comparison over the source's columns (inside the per-key subquery when there is one)."""
    name = operand.text
    if op in ("~", "!~"):
        if src.text is None:
            raise _fail(operand, f"'{name}' is a number; '{op}' matches text")
        pattern = str(value.value) if value.kind == "string" else value.text
        try:
            _regex(pattern)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, re.error) else str(exc)
            raise _fail(value, f"bad regular expression {value.text!r}: {reason}") from None
        return _cat("NOT " if op == "!~" else "", "regexp(", _bound(pattern), ", ", src.text, ")")
    ordering = op in ("<", "<=", ">", ">=")
    if src.kind == "bool":
        if ordering or not (value.kind == "bool" or (value.kind == "number" and value.value in (0, 1))):
            raise _fail(value, f"'{name}' is true or false: write '{name}', 'not {name}' or '{name} = false'")
        assert src.num is not None
        return _cat(src.num, f" {op} ", _bound(int(bool(value.value))))
    if src.kind == "time":
        assert src.num is not None
        stamp = value.value if value.kind == "number" else _parse_time(value)
        return _cat(src.num, f" {op} ", _bound(stamp))
    if value.kind == "bool" and src.kind == "mixed" and not ordering:
        # Python writes True, YAML true, JSON true: a boolean word matches any case
        assert src.text is not None
        return _cat("lower(", src.text, f") {op} ", _bound(value.text.lower()))
    if value.kind == "number":
        if src.kind == "mixed" and not ordering:
            assert src.num is not None and src.text is not None
            return _cat(
                "CASE WHEN ", src.num, " IS NOT NULL THEN ", src.num, f" {op} ", _bound(value.value),
                " ELSE ", src.text, f" {op} ", _bound(value.text), " END",
            )  # fmt: skip
        if src.num is not None:
            return _cat(src.num, f" {op} ", _bound(value.value))
        if ordering:
            raise _fail(value, f"'{name}' is text: compare it with a quoted string")
        assert src.text is not None
        return _cat(src.text, f" {op} ", _bound(value.text))
    if src.text is None:
        raise _fail(value, f"'{name}' is a number and {value.text!r} is not (write numbers without quotes)")
    if operand.name == "status" and operand.kind == "attr" and not ordering and value.value not in STATUSES:
        raise _fail(value, f"unknown status '{value.text}'", _suggest(str(value.value), STATUSES))
    return _cat(src.text, f" {op} ", _bound(value.text if value.kind == "bool" else value.value))


def _compare(node: Compare, stale: str, negated: bool) -> Frag:
    """One comparison; `negated` when an odd number of `not`s sit above it (see `_compile`)."""
    operand = node.operand
    src = _source(operand, _bound, stale)
    if src.kind == "labels":
        # labels are a set: `label = x` means "has x", the negated operators mean "has no such label"
        if node.op in ("is null", "is not null"):
            has_any = node.op == "is not null"
            exists = "EXISTS (SELECT 1 FROM user_tags u WHERE u.run_key = r.key)"
            return Frag(exists if has_any != negated else f"NOT {exists}")
        positive = {"!=": "=", "!~": "~", "not in": "in"}.get(node.op, node.op)
        if positive not in ("=", "~", "in"):
            raise _fail(operand, f"'{operand.text}' is a set of labels; use =, !=, ~, !~, in or not in")
        inner = _cat(
            *_join([_predicate(src, operand, "=" if positive == "in" else positive, v) for v in node.values])
        )
        sql = _cat("EXISTS (SELECT 1 FROM user_tags u WHERE u.run_key = r.key AND (", inner, "))")
        return _cat("NOT ", sql) if (positive != node.op) != negated else sql
    if node.op in ("is null", "is not null"):
        # params/tags exist as text (their numeric shadow is NULL for "adam"); metrics exist as numbers
        column = src.text if src.text is not None else src.num
        assert column is not None
        wants_null = (node.op == "is null") != negated
        if src.table is None:
            return _cat("(", column, " IS NULL)" if wants_null else " IS NOT NULL)")
        has_row = _cat("EXISTS ", _key_row(src, Frag("1"), _cat(" AND ", column, " IS NOT NULL")))
        return _cat("NOT ", has_row) if wants_null else has_row
    op = "=" if node.op in ("in", "not in") else node.op
    pred = _cat(*_join([_predicate(src, operand, op, v) for v in node.values]))
    if (node.op == "not in") != negated:
        # NOT of a NULL comparison stays NULL: a missing or non-numeric value matches neither way
        pred = _cat("NOT (", pred, ")")
    if src.table is None:
        return _cat("(", pred, ")")
    # a scalar subquery: no row (missing key) gives NULL, so a missing key matches nothing
    return _key_row(src, pred)


def _key_row(src: _Source, select: Frag, extra: Frag | str = "") -> Frag:
    """`select` evaluated on this run's row for the key. Correlated on purpose: measured against
    `r.key IN (SELECT run_key ... WHERE key = ?)`, it loses 2x on a lone comparison but wins on the
    usual conjunctions, because AND stops early instead of materialising every key's rows."""
    assert src.table is not None and src.key is not None
    alias = src.table[-1]
    return _cat(
        "(SELECT ", select, f" FROM {src.table} WHERE {alias}.run_key = r.key AND {alias}.key = ", src.key,
        extra, ")",
    )  # fmt: skip


def _join(preds: list[Frag]) -> list[Frag | str]:
    if len(preds) == 1:
        return [preds[0]]
    out: list[Frag | str] = ["("]
    for i, p in enumerate(preds):
        out.extend([" OR " if i else "", "(", p, ")"])
    out.append(")")
    return out


def _flag(operand: Operand, stale: str) -> Frag:
    if operand.name == "error":
        return Frag("(r.error IS NOT NULL)")
    sql = stale if operand.name == "stale" else ATTRIBUTES[operand.name][1]
    return Frag(f"({sql} != 0)")


def _compile(node: Node, stale: str, negated: bool = False) -> Frag:
    """`not` is pushed down to the comparisons (De Morgan), which is exactly SQL's three-valued NOT; the
    comparisons then say what negation means for them (a set of labels, `is null`)."""
    if isinstance(node, BoolOp):
        op = {"AND": "OR", "OR": "AND"}[node.op] if negated else node.op
        left, right = _compile(node.left, stale, negated), _compile(node.right, stale, negated)
        return _cat("(", left, f" {op} ", right, ")")
    if isinstance(node, Not):
        return _compile(node.inner, stale, not negated)
    if isinstance(node, Flag):
        flag = _flag(node.operand, stale)  # never NULL, so a plain NOT is exact
        return _cat("(NOT ", flag, ")") if negated else flag
    return _compare(node, stale, negated)


def compile_filter(
    expr: str, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER
) -> tuple[str, list[Any]]:
    """A WHERE fragment over `runs r` and its parameters; ("", []) for a blank filter.
    The connection needs `install_functions` (regexp, chunk access, numeric shadow of tags)."""
    if not expr.strip():
        return "", []
    stale = _stale_sql(time.time() if now is None else now, stale_after)
    frag = _compile(parse_filter(expr), stale)
    return frag.sql, list(frag.params)


def compile_sort(spec: str, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER) -> str:
    """An ORDER BY clause: comma-separated operands, `-` = descending, NULLs last, ties by run key."""
    parser = _Parser(spec)
    stale = _stale_sql(time.time() if now is None else now, stale_after)
    terms: list[str] = []
    while True:
        tok = parser.peek()
        descending = False
        if tok.kind == "word" and not tok.parts[0][1] and tok.text[:1] in "+-":
            descending = tok.text[0] == "-"
            # the sign is glued to the operand's first piece; hand the parser the rest
            text, quoted, pos = tok.parts[0]
            parts = ((text[1:], quoted, pos + 1), *tok.parts[1:])
            parser.tokens[parser.i] = Token("word", tok.text[1:], tok.pos + 1, parts)
            if not tok.text[1:] or not text[1:]:
                raise parser.fail(f"expected a sort key after '{tok.text[0]}'", tok)
        operand = parser.operand()
        if parser.peek().keyword is None and parser.peek().text.lower() in ("asc", "desc"):
            descending = parser.next().text.lower() == "desc"
        src = _source(operand, _literal, stale)
        if src.kind == "labels":
            raise _fail(operand, "cannot sort by labels (a run has several)")
        if src.table is not None:
            # params/tags: numbers sort numerically before text (SQLite orders REAL before TEXT)
            column = _cat("COALESCE(", src.num, ", ", src.text, ")") if src.text and src.num else src.num
            assert column is not None
            value = _key_row(src, column)
        else:
            value = src.num if src.num is not None else src.text  # type: ignore[assignment]
            assert value is not None
        assert not value.params
        # NULLS LAST (SQLite >= 3.30) evaluates the key once per row; `x IS NULL, x` would do it twice
        terms.append(f"{value.sql} {'DESC' if descending else 'ASC'} NULLS LAST")
        sep = parser.next()
        if sep.kind == "end":
            break
        if sep.kind != ",":
            raise parser.fail(f"expected ',' or the end of the sort keys, found {sep.describe()}", sep)
    terms.append("r.key")
    return ", ".join(terms)


# -- SQLite functions --------------------------------------------------------------------------------
def _regexp(pattern: str | None, value: Any) -> int | None:
    if pattern is None or value is None:
        return None
    return int(_regex(pattern).search(value if isinstance(value, str) else str(value)) is not None)


def _finite_number(value: Any) -> float | None:
    """The numeric shadow of a text value, as the store computes it for params (finite numbers only)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _step_index(steps: bytes | None, n: int | None, step: int | None) -> int | None:
    """Index of the last occurrence of `step` in a chunk's steps (the last write wins): a packed <i8 array,
    or `<start, stride>` (see `store`), found by arithmetic."""
    if not isinstance(steps, bytes) or not isinstance(step, int) or not isinstance(n, int):
        return None
    if len(steps) != 8 * n:
        encoded = store.stride_of(steps, n)
        if encoded is None:
            return None
        start, stride = encoded
        if -(2**63) <= start + (n - 1) * stride < 2**63:  # no int64 wrap-around inside the chunk
            if stride == 0:
                return n - 1 if step == start else None
            offset, rest = divmod(step - start, stride)
            return offset if rest == 0 and 0 <= offset < n else None
        steps = store.decode_steps(steps, n).tobytes()
    if len(steps) > 1024:
        hits = np.flatnonzero(np.frombuffer(steps, dtype="<i8") == step)
        return int(hits[-1]) if len(hits) else None
    # small chunks (live runs, short series): a byte search beats numpy's per-call overhead 5x
    try:
        needle = step.to_bytes(8, "little", signed=True)
    except OverflowError:
        return None
    end = len(steps)
    while (found := steps.rfind(needle, 0, end)) >= 0:
        if found % 8 == 0:
            return found // 8
        end = found + 7  # a match straddling two elements: look further left
    return None


def _value_at(steps: bytes | None, n: int | None, vals: bytes | None, step: int | None) -> float | None:
    index = _step_index(steps, n, step)
    if index is None or not isinstance(vals, bytes) or len(vals) < 8 * (index + 1):
        return None
    (value,) = _F8.unpack_from(vals, 8 * index)
    return None if math.isnan(value) else value


def install_functions(conn: sqlite3.Connection) -> None:
    """Register what compiled filters and sorts call. Per connection; pure functions, so deterministic."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("expdesk_num", 1, _finite_number, deterministic=True)
    conn.create_function("chunk_step_index", 3, _step_index, deterministic=True)
    conn.create_function("chunk_value_at", 4, _value_at, deterministic=True)


# -- completion --------------------------------------------------------------------------------------
_BARE_KEY = re.compile(r"[^\s()<>=~,!\"']+")


def _quote_key(key: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def completions(
    prefix: str, param_keys: Iterable[str], metric_keys: Iterable[str], tag_keys: Iterable[str]
) -> list[str]:
    """Candidates for the word being typed at the end of `prefix` (the filter text up to the cursor).
    Each candidate replaces that word; the context (after an operand, after an operator...) picks the kind."""
    split = len(prefix)
    while split > 0 and not _breaks_word(prefix, split - 1) and prefix[split - 1] not in _QUOTES:
        split -= 1
    word, before = prefix[split:], prefix[:split]
    try:
        tokens = tokenize(before)[:-1]
    except FilterError:
        return []
    last = tokens[-1] if tokens else None
    prev = tokens[-2] if len(tokens) > 1 else None
    operands = [*ATTRIBUTES, "params.", "tags.", "metrics."]
    low = word.lower()
    if low.startswith("params.") or low.startswith("tags."):
        namespace = low.split(".", 1)[0]
        keys = param_keys if namespace == "params" else tag_keys
        pool = [f"{namespace}.{_quote_key(k)}" for k in keys]
    elif low.startswith("metrics."):
        pool = [f"metrics.{_quote_key(k)}.{agg}" for k in metric_keys for agg in (*AGGREGATES, "at(")]
    elif last is None or last.kind in ("(",) or last.keyword in ("and", "or", "not"):
        pool = [*operands, "not", "("]
    elif last.kind == "op" or last.kind == "," or last.keyword in ("in",):
        attr = prev.text.lower() if prev is not None and last.kind == "op" else ""
        pool = list(STATUSES) if attr == "status" else (["true", "false"] if attr in FLAGS else [])
    elif last.kind == "word" and last.keyword is None and (prev is None or prev.kind != "op"):
        pool = [*OPERATORS, "in", "not in", "is null", "is not null", "and", "or"]
    else:
        pool = ["and", "or"]
    seen: dict[str, None] = {}
    for candidate in pool:
        if candidate.lower().startswith(low) and candidate != word:
            seen.setdefault(candidate)
    return list(seen)
