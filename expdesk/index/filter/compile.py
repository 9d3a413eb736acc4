"""Compiling a parsed filter or sort to SQL over `run_rows r` (runs, whose parts are joined): the only SQL text the language can produce.

Safety: user text never reaches SQL text. Keys and values are bound parameters; the SQL text holds only
identifiers from the whitelists here and in `vocabulary`. `compile_sort` has no parameters to bind (the
caller's ORDER BY), so there keys are spelled as hex blob literals we generate ourselves. The connection
that runs the result needs `expdesk.index.sql_functions.install_functions` (every `IndexReader` has them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from expdesk.index.filter.errors import FilterError, col, suggest
from expdesk.index.filter.nodes import BoolOp, Compare, Flag, Node, Not, Operand, Value
from expdesk.index.filter.parser import Parser, parse_filter
from expdesk.index.filter.tokens import Token
from expdesk.index.filter.vocabulary import AGGREGATES, STATUSES
from expdesk.index.sql_functions import cached_regex
from expdesk.index.stale import DEFAULT_STALE_AFTER, stale_sql

# attribute -> (kind, SQL over `runs r`). The only SQL text a filter can select.
_ANNOTATION = "(SELECT a.{} FROM annotations a WHERE a.run_key = r.key)"
ATTRIBUTE_SQL: dict[str, tuple[str, str]] = {
    "name": ("text", "r.name"),
    "format": ("text", "r.format"),
    "status": ("text", "r.status"),
    "experiment": ("text", "r.experiment"),
    "path": ("text", "r.path"),
    "native_id": ("text", "r.native_id"),
    "key": ("text", "r.key"),
    "native_status": ("text", "r.native_status"),
    # a parent that is a part of a joined run is that run
    "parent": (
        "text",
        "COALESCE((SELECT m.run_key FROM parts m WHERE m.part_key = r.parent_key), r.parent_key)",
    ),
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
    table: str | None = None  # a part's own rows, e.g. "params p"
    key: Frag | None = None
    #: a joined run's merged rows, with the same column names (e.g. "joined_params p")
    joined_table: str | None = None


def _at_sql(key: Frag, step: Frag) -> Frag:
    """Value of the last point written with `step`: chunks newest first, the first one holding the step.
    Two functions, because a NaN value is NULL to SQLite and must not be mistaken for 'not in this chunk'.
    A joined run's series is the part's series its merged metric points to."""

    def one(table: str, series_id: str) -> Frag:
        return _cat(
            "(SELECT chunk_value_at(c.steps, c.n, c.vals, ", step, f") FROM {table} JOIN chunks c"
            f" ON c.series_id = {series_id} WHERE s.run_key = r.key AND s.key = ", key, " AND ", step,
            " BETWEEN s.first_step AND s.last_step AND chunk_step_index(c.steps, c.n, ", step, ") IS NOT NULL"
            " ORDER BY c.seq DESC LIMIT 1)",
        )  # fmt: skip

    return _cat("CASE WHEN r.joined THEN ", one("joined_metrics s", "s.series_id"), " ELSE ",
                one("series s", "s.id"), " END")  # fmt: skip


def _source(operand: Operand, bind: Callable[[Any], Frag], stale: str) -> _Source:
    if operand.kind == "attr":
        kind, sql = ATTRIBUTE_SQL[operand.name]
        expr = Frag(stale if operand.name == "stale" else sql)
        if kind == "text" or kind == "labels":
            return _Source(kind, expr, None)
        return _Source(kind, None, expr)
    key = bind(operand.name)
    if operand.kind == "params":
        return _Source("mixed", Frag("p.value"), Frag("p.num"), "params p", key, "joined_params p")
    if operand.kind == "tags":
        return _Source("mixed", Frag("t.value"), Frag("expdesk_num(t.value)"), "tags t", key, "joined_tags t")
    if operand.agg == "at":
        return _Source("number", None, _at_sql(key, bind(operand.step)))
    assert operand.agg in AGGREGATES  # whitelisted by the parser: the only way a name reaches SQL text
    if operand.agg == "final":
        # a part's reported results are their own table; SQLite flattens this into an indexed look-up
        part = "(SELECT run_key, key, value AS final FROM finals) s"
        return _Source("number", None, Frag("s.final"), part, key, "joined_metrics s")
    return _Source("number", None, Frag(f"s.{operand.agg}"), "series s", key, "joined_metrics s")


def _parse_time(value: Value) -> float:
    try:
        stamp = datetime.fromisoformat(str(value.value))
        # naive times are UTC, like the times the CLI prints
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise FilterError(
            f"'{value.text}' at {col(value.pos)} is not a date: use ISO 8601, e.g. 2026-11-01 or"
            " 2026-11-01T12:00:00Z (naive times are UTC)",
            value.pos,
            value.length,
        ) from None


def _fail(value: Value | Operand, message: str, hint: str = "") -> FilterError:
    return FilterError(f"{message} at {col(value.pos)}{hint}", value.pos, value.length)


def _predicate(src: _Source, operand: Operand, op: str, value: Value) -> Frag:
    """One comparison over the source's columns (inside the per-key subquery when there is one)."""
    name = operand.text
    if op in ("~", "!~"):
        if src.text is None:
            raise _fail(operand, f"'{name}' is a number; '{op}' matches text")
        pattern = str(value.value) if value.kind == "string" else value.text
        try:
            cached_regex(pattern)
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
        raise _fail(value, f"unknown status '{value.text}'", suggest(str(value.value), STATUSES))
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
        has_row = _key_row(src, Frag("1"), _cat(" AND ", column, " IS NOT NULL"), wrap="EXISTS ")
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


def _key_row(src: _Source, select: Frag, extra: Frag | str = "", wrap: str = "") -> Frag:
    """`select` evaluated on this run's row for the key (`wrap`: e.g. "EXISTS " before the subquery).
    Correlated on purpose: measured against `r.key IN (SELECT run_key ... WHERE key = ?)`, it loses 2x on
    a lone comparison but wins on the usual conjunctions, because AND stops early instead of materialising
    every key's rows. A joined run's row comes from the merged table: one of the two subqueries runs per
    run, picked by `r.joined` (measured: a view over both tables doubled the time at 100k runs)."""
    assert src.table is not None and src.key is not None and src.joined_table is not None
    alias, key = src.table[-1], src.key

    def one(table: str) -> Frag:
        return _cat(
            f"{wrap}(SELECT ", select, f" FROM {table} WHERE {alias}.run_key = r.key AND {alias}.key = ",
            key, extra, ")",
        )  # fmt: skip

    return _cat("(CASE WHEN r.joined THEN ", one(src.joined_table), " ELSE ", one(src.table), " END)")


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
    sql = stale if operand.name == "stale" else ATTRIBUTE_SQL[operand.name][1]
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
    stale = stale_sql(time.time() if now is None else now, stale_after)
    frag = _compile(parse_filter(expr), stale)
    return frag.sql, list(frag.params)


def compile_sort(spec: str, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER) -> str:
    """An ORDER BY clause: comma-separated operands, `-` = descending, NULLs last, ties by run key."""
    parser = Parser(spec)
    stale = stale_sql(time.time() if now is None else now, stale_after)
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
