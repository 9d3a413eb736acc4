"""The filter language: parsing, errors with positions, SQL semantics on a hand-built index, sort keys."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.core.errors import UsageError
from expdesk.index import store
from expdesk.index.filter import FilterError, compile_filter, compile_sort, completions, parse_filter
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.index.sql_functions import _step_index, install_functions

NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
NAN = math.nan


def _epoch(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def _ref(name: str) -> RunRef:
    return RunRef(
        "synthetic", Path(f"/synthetic/{name}"), Path("/synthetic"), native_id=name, store=Path("/s")
    )


# Hand-made runs: every expectation below can be checked against this table.
RUNS: dict[str, RunUpdate] = {
    "a": RunUpdate(
        name="bert-base",
        experiment="nlp",
        status=Status.FINISHED,
        start_time=_epoch("2026-10-01"),
        end_time=_epoch("2026-10-01") + 3600,
        params={
            "lr": "0.001",
            "opt": "adam",
            "seed": "42",
            "my key": "x",
            "学习率": "0.5",
            "optimizer.lr": "0.1",
            "use_amp": "True",
        },
        tags={"stage": "prod", "team/name": "nlp", "priority": "3"},
        metrics=[
            Series.from_lists("val/loss", [0, 1, 2, 3, 4], [1.0, 0.5, 0.3, 0.1, 0.15]),
            Series.from_lists("a b", [0], [7.0]),
            Series.from_lists("dup", [0, 1, 1, 2], [1.0, 2.0, 3.0, 4.0]),
        ],
    ),
    "b": RunUpdate(
        name="bert-large",
        experiment="nlp",
        status=Status.FAILED,
        start_time=_epoch("2026-11-02"),
        end_time=_epoch("2026-11-02") + 60,
        params={"lr": "1e-4", "opt": "sgd", "seed": "42.0", "use_amp": "false"},
        tags={"stage": "dev", "priority": "10"},
        metrics=[
            Series.from_lists("val/loss", [0, 1, 2], [NAN, 0.4, NAN]),
            Series.from_lists("acc", [0, 1], [0.5, math.inf]),
        ],
        error="metrics.csv:7: boom (timeout)",
        parent_native_id="a",
    ),
    "c": RunUpdate(
        name="resnet",
        experiment="vision",
        status=Status.RUNNING,
        start_time=_epoch("2026-11-20"),
        last_activity=1000.0,
        params={"lr": "auto", "opt": "adam"},
        metrics=[
            Series.from_lists("val/loss", [0, 1], [0.3, 0.2]),
            Series.from_lists("acc", [0], [-math.inf]),
            Series.from_lists("long", list(range(10_000)), [float(s) for s in range(10_000)]),
        ],
    ),
    "d": RunUpdate(name=None, status=Status.KILLED, deleted=True, params={"lr": "0.5"}),
    "e": RunUpdate(name="ünïcode run", experiment="exp-1", status=Status.FINISHED),
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("query") / "index.sqlite"
    with Index(path) as index:
        for name, update in RUNS.items():
            ref = _ref(name)
            index.writer.call(lambda c, ref=ref, update=update: store.apply_update(c, ref, update, None))
        # appended later to "long" (lands in its second chunk): step 5 rewritten, step 7 rewritten as NaN
        later = RunUpdate(
            **{**RUNS["c"].__dict__, "metrics": [Series.from_lists("long", [5, 7], [99.0, NAN])]}
        )
        index.writer.call(lambda c: store.apply_update(c, _ref("c"), later, None))
        index.writer.call(store.resolve_links)
        index.set_star(_ref("a").key, True)
        index.set_note(_ref("a").key, "the good one")
        index.set_note(_ref("b").key, "")
        index.set_labels(_ref("a").key, ["good", "paper"])
        index.set_labels(_ref("c").key, ["wip"])
    yield path


@pytest.fixture(scope="module")
def reader(db: Path) -> Iterator[IndexReader]:
    with IndexReader(db) as r:
        yield r


NAMES = {_ref(n).key: n for n in RUNS}


def match(reader: IndexReader, expr: str, include_deleted: bool = False) -> set[str]:
    where, params = compile_filter(expr, now=NOW)
    return {NAMES[k] for k in reader.run_keys(include_deleted, where, tuple(params))}


def order(reader: IndexReader, spec: str, where: str = "") -> list[str]:
    sql, params = compile_filter(where) if where else ("", [])
    keys = reader.run_keys(True, sql, tuple(params), order_sql=compile_sort(spec, now=NOW))
    return [NAMES[k] for k in keys]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # params: numeric against numbers, text against strings, text fallback for non-numbers
        ("params.lr < 1e-3", {"b"}),
        ("params.lr <= 1e-3", {"a", "b"}),
        ("params.lr > 0.0001", {"a"}),
        ("params.lr >= 1e-4", {"a", "b"}),
        ("params.lr = 0.001", {"a"}),
        ("params.lr != 0.001", {"b", "c"}),
        ("params.lr = auto", {"c"}),
        ('params.lr = "0.001"', {"a"}),
        ('params.lr = "1e-3"', set()),
        ("params.seed = 42", {"a", "b"}),
        ('params.seed = "42"', {"a"}),
        ("params.opt = adam", {"a", "c"}),
        ("params.opt != adam", {"b"}),
        ("params.opt in (adam, sgd)", {"a", "b", "c"}),
        ("params.opt not in (adam)", {"b"}),
        ("params.lr in (0.001, auto)", {"a", "c"}),
        ("params.opt ~ '^a'", {"a", "c"}),
        ("params.opt !~ '^a'", {"b"}),
        ("params.use_amp = true", {"a"}),
        ("params.use_amp = FALSE", {"b"}),
        ('params."my key" = x', {"a"}),
        ("params.学习率 > 0.4", {"a"}),
        ("params.optimizer.lr = 0.1", {"a"}),
        ("params.missing = 1", set()),
        ("params.missing is null", {"a", "b", "c", "e"}),
        ("params.seed is not null", {"a", "b"}),
        # missing never matches a comparison, not even negated (SQL NULL semantics)
        ("not params.seed = 42", set()),
        ("not params.lr < 1e-3", {"a"}),  # "auto" has no numeric value: neither < nor not <
        # tags: text, with a numeric shadow for number literals
        ('tags.stage = "prod"', {"a"}),
        ("tags.team/name = nlp", {"a"}),
        ("tags.priority < 5", {"a"}),
        ("tags.priority > 5", {"b"}),
        ('tags.priority < "5"', {"a", "b"}),
        ("tags.stage is null", {"c", "e"}),
        # metric summaries; NaN is NULL, infinities compare
        ("metrics.val/loss.min < 0.2", {"a"}),
        ("metrics.val/loss.last < 0.2", {"a"}),
        ("metrics.val/loss.last is null", {"b", "e"}),
        ("metrics.val/loss.nan_count > 0", {"b"}),
        ("metrics.val/loss.count = 5", {"a"}),
        ("metrics.val/loss.first_step = 0", {"a", "b", "c"}),
        ("metrics.val/loss.last_step >= 2", {"a", "b"}),
        ("metrics.acc.max = inf", {"b"}),
        ("metrics.acc.max > 1e308", {"b"}),
        ("metrics.acc.min = -inf", {"c"}),
        ("metrics.acc.min < -1e308", {"c"}),
        ('metrics."a b".max = 7', {"a"}),
        ("METRICS.VAL/LOSS.MIN < 0.2", set()),  # namespaces and aggregates are case-free, keys are not
        ("metrics.val/loss.MIN < 0.2", {"a"}),
        # value at a step: the last point written with that step, across chunks, NaN is no value
        ("metrics.dup.at(1) = 3", {"a"}),
        ("metrics.val/loss.at(1) = 0.4", {"b"}),
        ("metrics.val/loss.at(0) is null", {"b", "e"}),
        ("metrics.long.at(5) = 99", {"c"}),
        ("metrics.long.at(100) = 100", {"c"}),
        ("metrics.long.at(9999) = 9999", {"c"}),
        ("metrics.long.at(7) is null", {"a", "b", "c", "e"}),
        ("metrics.long.at(10000) is null", {"a", "b", "c", "e"}),
        ("metrics.long.at( -1 ) is null", {"a", "b", "c", "e"}),
        # attributes
        ('name ~ "bert"', {"a", "b"}),
        ("name !~ bert", {"c", "e"}),
        ("name ~ '^ü'", {"e"}),
        ("name is null", set()),
        ("status != failed", {"a", "c", "e"}),
        ("status in (failed, running)", {"b", "c"}),
        ("experiment = nlp", {"a", "b"}),
        ("format = synthetic", {"a", "b", "c", "e"}),
        ("native_id = c", {"c"}),
        (f"key = {_ref('a').key}", {"a"}),
        ("path ~ '/synthetic/[ab]$'", {"a", "b"}),
        ('start_time > "2026-11-01"', {"b", "c"}),
        ("start_time > 2026-11-01T00:00:00Z", {"b", "c"}),
        (f"start_time < {_epoch('2026-11-01')}", {"a"}),
        ("end_time is null", {"c", "e"}),
        ("duration > 600", {"a"}),
        ("duration <= 60", {"b"}),
        ("stale", {"c"}),
        ("not stale", {"a", "b", "e"}),
        ("stale = false", {"a", "b", "e"}),
        ("error", {"b"}),
        ("not error", {"a", "c", "e"}),
        ("error ~ 'timeout'", {"b"}),
        ("starred", {"a"}),
        ("starred = 0", {"b", "c", "e"}),
        ("note ~ good", {"a"}),
        ("note is null", {"b", "c", "e"}),
        ("label = good", {"a"}),
        ("label != good", {"b", "c", "e"}),
        ("label in (wip, paper)", {"a", "c"}),
        ("label ~ '^w'", {"c"}),
        ("label is null", {"b", "e"}),
        ("native_status is null", {"a", "b", "c", "e"}),
        (f"parent = {_ref('a').key}", {"b"}),
        ("parent is not null", {"b"}),
        # logic: not > and > or, parentheses, case-free keywords
        ("status = finished or status = failed and params.opt = adam", {"a", "e"}),
        ("(status = finished or status = failed) and params.opt = adam", {"a"}),
        ("not status = finished and not status = killed", {"b", "c"}),
        ("not (status = finished or status = failed)", {"c"}),
        ("NOT status = finished AnD params.opt = adam", {"c"}),
        ("status=finished OR status==failed", {"a", "b", "e"}),
        (
            'params.lr < 1e-3 and (metrics.val/loss.min < 0.2 or tags.stage = "prod") and name ~ "bert" '
            "and status != failed",
            set(),
        ),
        (
            "params.lr <= 1e-3 and (metrics.val/loss.min < 0.2 or tags.stage = 'dev') and name ~ 'bert'",
            {"a", "b"},
        ),
    ],
)
def test_filter_matches(reader: IndexReader, expr: str, expected: set[str]) -> None:
    assert match(reader, expr) == expected


def test_deleted_runs_only_with_include_deleted(reader: IndexReader) -> None:
    assert match(reader, "params.lr = 0.5") == set()
    assert match(reader, "params.lr = 0.5", include_deleted=True) == {"d"}
    assert match(reader, "deleted", include_deleted=True) == {"d"}
    assert match(reader, "name is null", include_deleted=True) == {"d"}


def test_blank_filter_is_no_filter() -> None:
    assert compile_filter("  ") == ("", [])


@pytest.mark.parametrize(
    ("expr", "position", "length", "message"),
    [
        ("params.lr <", 11, 0, "expected a value after '<', found the end at column 12"),
        ("params.lr < and x", 12, 3, "expected a value after '<'"),
        ("stauts = failed", 0, 6, "unknown attribute 'stauts' at column 1 (did you mean 'status'?)"),
        ("metrics.loss.mni < 1", 13, 3, "unknown aggregate 'mni' at column 14 (did you mean 'min'?)"),
        ("metrics.loss < 1", 0, 12, "needs a key and an aggregate"),
        ("metrics.loss.at(x) < 1", 16, 1, "expected an integer step"),
        ("metrics.loss.at(1.5) < 1", 16, 3, "expected an integer step"),
        ("param.lr < 1", 0, 5, "did you mean 'params.lr'?"),
        ("params. < 1", 0, 7, "expected a key after 'params.'"),
        ("params < 1", 0, 6, "'params' needs a key"),
        ("name", 4, 0, "expected an operator"),
        ("name ~ '('", 7, 3, "bad regular expression"),
        ("name ~ 'a{2,1}'", 7, 8, "bad regular expression"),
        ("metrics.x.min ~ a", 0, 13, "is a number"),
        ("metrics.x.min < 'a'", 16, 3, "is a number"),
        ("params.x = nan", 11, 3, "NaN"),
        ("params.x < -NaN", 11, 4, "NaN"),
        ("params.x = null", 11, 4, "is null"),
        ("params.x is nul", 12, 3, "expected 'null'"),
        ("(status = failed", 16, 0, "expected ')' to close the '(' at column 1"),
        ("status = failed)", 15, 1, "expected 'and', 'or' or the end"),
        ("status = faild", 9, 5, "unknown status 'faild' at column 10 (did you mean 'failed'?)"),
        ("name = 'abc", 7, 4, "unterminated string"),
        ("name ! 'x'", 5, 1, "unexpected '!'"),
        ("name = bert base", 12, 4, "needs quotes"),
        ("starred < 1", 10, 1, "true or false"),
        ("start_time > 'yesterday'", 13, 11, "not a date"),
        ("name < 3", 7, 1, "is text"),
        ("label < a", 0, 5, "set of labels"),
        ("status in ()", 11, 1, "expected a value after 'in'"),
        ("status in (a b)", 13, 1, "expected ')'"),
        ("and", 0, 3, "expected an attribute"),
        ("'name' = x", 0, 6, "expected an attribute"),
        ("42 = x", 0, 2, "found the value '42'"),
        ("metrics.a.at(99999999999999999999) > 1", 13, 20, "out of range"),
        ("name = a'b'", 7, 4, "quote all of"),
    ],
)
def test_errors_point_at_the_mistake(expr: str, position: int, length: int, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert message in str(info.value)
    assert (info.value.position, info.value.length) == (position, length)
    assert isinstance(info.value, UsageError)


def test_injection_in_keys_and_values_stays_data(db: Path, reader: IndexReader) -> None:
    attacks = [
        'params."x\'; DROP TABLE runs; --" = 1',
        'params.lr = "\'; DROP TABLE runs; --"',
        'tags."a\') OR 1=1 --" = x',
        'metrics."x\'); DELETE FROM series; --".min < 1',
        'metrics."x\')".at(1) < 1',
        'name = "\') OR 1=1 --"',
        'name ~ "\'; DROP TABLE runs; --"',
    ]
    for expr in attacks:
        sql, _ = compile_filter(expr)
        assert "DROP" not in sql and "DELETE" not in sql and "1=1" not in sql
        assert match(reader, expr) == set()
    for spec in ['params."x\'; DROP TABLE runs; --"', '-metrics."x\'); DELETE FROM series; --".min']:
        sql = compile_sort(spec)
        assert "DROP" not in sql and "DELETE" not in sql
        assert len(order(reader, spec)) == len(RUNS)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(RUNS)
        assert conn.execute("SELECT COUNT(*) FROM series").fetchone()[0] > 0


def test_keys_and_values_are_bound_parameters() -> None:
    sql, params = compile_filter('params.lr < 1e-3 and name ~ "bert" and metrics."a b".at(3) > 1')
    assert "lr" not in sql and "bert" not in sql and "a b" not in sql
    # (a key is bound once for a part's own rows and once for a joined run's merged rows)
    assert params.count("lr") == 2 and "bert" in params and "a b" in params and 0.001 in params


def test_keys_quoting_and_metric_suffix() -> None:
    assert parse_filter('params."my key" = 1').operand.name == "my key"  # type: ignore[union-attr]
    node = parse_filter("metrics.a.b.c.max > 1")
    assert (node.operand.name, node.operand.agg) == ("a.b.c", "max")  # type: ignore[union-attr]
    node = parse_filter('metrics."x.min".last > 1')
    assert (node.operand.name, node.operand.agg) == ("x.min", "last")  # type: ignore[union-attr]
    node = parse_filter(r'params."say \"hi\"" = 1')
    assert node.operand.name == 'say "hi"'  # type: ignore[union-attr]
    node = parse_filter(r'name ~ "\d+\.ckpt"')
    assert node.values[0].value == r"\d+\.ckpt"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # ", name" makes ties deterministic for the test (the built-in tie-break is the run key)
        ("params.lr, name", ["b", "a", "d", "c", "e"]),  # numbers numerically, then text, missing last
        ("-params.lr, name", ["c", "d", "a", "b", "e"]),
        ("metrics.val/loss.last, name", ["a", "c", "b", "e", "d"]),  # NaN last is NULL: last
        ("-metrics.val/loss.last, name", ["c", "a", "b", "e", "d"]),
        ("-metrics.acc.max, name", ["b", "c", "a", "e", "d"]),
        ("start_time desc, name", ["c", "b", "a", "e", "d"]),
        ("-duration, name", ["a", "b", "c", "e", "d"]),
        ("+duration, name", ["b", "a", "c", "e", "d"]),
        ("status, -starred, name", ["b", "a", "e", "d", "c"]),
        ("tags.priority, name", ["a", "b", "c", "e", "d"]),  # 3 < 10 numerically, not as text
        ("metrics.long.at(5), name", ["c", "a", "b", "e", "d"]),
        ('params."my key", -stale, name', ["a", "c", "b", "e", "d"]),
    ],
)
def test_sort_nulls_last_in_both_directions(reader: IndexReader, spec: str, expected: list[str]) -> None:
    assert order(reader, spec) == expected


def test_sort_ties_break_by_run_key(reader: IndexReader) -> None:
    assert order(reader, "format") == [NAMES[k] for k in sorted(NAMES)]
    assert compile_sort("-name").endswith(", r.key")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "expected an attribute"),
        ("name,", "expected an attribute"),
        ("-", "expected a sort key after '-'"),
        ("label", "cannot sort by labels"),
        ("name desc asc", "expected ','"),
        ("metrics.x", "needs a key and an aggregate"),
        ("stauts", "did you mean 'status'"),
    ],
)
def test_sort_errors(spec: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")):
        compile_sort(spec)


def test_install_functions_on_a_plain_connection() -> None:
    conn = sqlite3.connect(":memory:")
    install_functions(conn)
    steps = np.array([3, 5, 5, 9], dtype="<i8").tobytes()
    vals = np.array([1.0, 2.0, NAN, 4.0], dtype="<f8").tobytes()
    row = conn.execute(
        "SELECT regexp('b.r', 'bert'), regexp('^x', 'bert'), expdesk_num('1e3'), expdesk_num('inf'),"
        " chunk_step_index(?, 4, 5), chunk_value_at(?, 4, ?, 9), chunk_value_at(?, 4, ?, 5),"
        " chunk_step_index(?, 4, 4)",
        (steps, steps, vals, steps, vals, steps),
    ).fetchone()
    assert row == (1, 0, 1000.0, None, 2, 4.0, None, None)


def test_completions() -> None:
    params, metrics, tags = ["lr", "my key"], ["val/loss"], ["stage"]
    assert "status" in completions("sta", params, metrics, tags)
    assert "start_time" in completions("sta", params, metrics, tags)
    assert completions("params.", params, metrics, tags) == ["params.lr", 'params."my key"']
    assert "metrics.val/loss.min" in completions("metrics.val", params, metrics, tags)
    assert "metrics.val/loss.at(" in completions("x = 1 and metrics.v", params, metrics, tags)
    assert set(completions("status ", params, metrics, tags)) >= {"=", "!=", "in", "is null"}
    assert completions("status = f", params, metrics, tags) == ["finished", "failed"]
    assert completions("status = failed ", params, metrics, tags) == ["and", "or"]
    assert "not" in completions("(", params, metrics, tags)
    assert completions("name = 'unterminated", params, metrics, tags) == []


ATOMS = [
    "params.lr", "tags.stage", "metrics.val/loss.min", "metrics.long.at(5)", "name", "status", "stale",
    "label", "error", "start_time", "duration", "=", "!=", "<", ">=", "~", "!~", "in", "not", "is", "null",
    "and", "or", "(", ")", ",", "1e-3", "-2", "inf", "nan", "'x'", '"2026-11-01"', "adam", "'('", "true",
    'params."a b"', "metrics.x.at(", "\\", "'", "!", "é",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(ATOMS), max_size=12).map(" ".join)))
def test_random_input_compiles_or_raises_filter_error(reader: IndexReader, expr: str) -> None:
    try:
        sql, params = compile_filter(expr)
    except FilterError as exc:
        assert 0 <= exc.position <= len(expr) and exc.length >= 0
        return
    # whatever compiles also runs
    reader.run_keys(True, sql, tuple(params))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(ATOMS), max_size=6).map(",".join)))
def test_random_sort_specs_compile_or_raise_filter_error(reader: IndexReader, spec: str) -> None:
    try:
        sql = compile_sort(spec)
    except FilterError:
        return
    reader.run_keys(True, order_sql=sql)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-300, 300) | st.integers(-(2**63), 2**63 - 1), max_size=200),
    st.integers(-300, 300),
)
def test_step_index_agrees_with_numpy(steps: list[int], step: int) -> None:
    # small values are mostly zero bytes: the byte search must skip matches straddling two elements
    packed = np.array(steps, dtype="<i8").tobytes()
    hits = np.flatnonzero(np.array(steps, dtype=np.int64) == step)
    expected = int(hits[-1]) if len(hits) else None
    assert _step_index(packed, len(steps), step) == expected
    assert _step_index(packed * 8, 8 * len(steps), step) == (
        None if expected is None else expected + 7 * len(steps)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(2**63), 2**63 - 1) | st.integers(-50, 50),
    st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 5),
    st.integers(0, 300),
    st.integers(-300, 300) | st.integers(-(2**63), 2**63 - 1),
)
def test_step_index_of_stride_encoded_chunks(start: int, stride: int, n: int, step: int) -> None:
    # every arithmetic run of steps, including ones that wrap around int64 (kept exact by the encoder)
    steps = (start + stride * np.arange(n, dtype=object)).astype(object)
    wrapped = np.array([((int(v) + 2**63) % 2**64) - 2**63 for v in steps], dtype=np.int64)
    blob = store._encode_steps(wrapped)
    assert np.array_equal(store.decode_steps(blob, n), wrapped)
    for probe in (step, int(wrapped[-1]) if n else step, int(wrapped[n // 2]) if n else step):
        hits = np.flatnonzero(wrapped == probe)
        assert _step_index(blob, n, probe) == (int(hits[-1]) if len(hits) else None)


def test_every_attribute_of_the_language_has_its_sql() -> None:
    # the parser accepts the vocabulary's names; the compiler must know each one (and no other)
    from expdesk.index.filter.compile import ATTRIBUTE_SQL
    from expdesk.index.filter.vocabulary import ATTRIBUTES

    assert tuple(ATTRIBUTE_SQL) == ATTRIBUTES
