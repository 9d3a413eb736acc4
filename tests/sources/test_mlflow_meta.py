"""The fast meta.yaml path gives what `yaml.safe_load` gives, or steps aside (None) for the safe loader."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.sources.mlflow._meta import parse_flat_meta

KEYS = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,12}", fullmatch=True),
    st.sampled_from(["yes", "No", "on", "y", "null", "Null", "true", "e1", "_1", "inf", "nan", "a.b"]),
)
WORDS = st.sampled_from(
    ["yes", "no", "on", "off", "true", "False", "null", "~", "Null", "1e3", "1.5", ".inf", "-.inf", ".nan",
     "0x1f", "0o17", "017", "1_000", "1:30", "190:20:30", "2024-01-01", "2024-01-01 10:00:00", "=", "<<",
     "-", "12", "-12", "+12", "0", "00", "a b", "a: b", "a #b", "a#b", "x:y", "file:///tmp/a b/c", "'q'",
     "'it''s'", "''", "[]", "{}", "[1]", "&a x", "*a", "!!str x", "|", ">", "%x", "@x", "`x", '"x"', "é",
     "run-0", "1700000000000", "s3://bucket/x", "a  b", "a ", " a"]
)  # fmt: skip
VALUES = st.one_of(WORDS, st.text(max_size=12))


def _doc(pairs: list[tuple[str, str | None]]) -> bytes:
    return "".join(f"{k}:\n" if v is None else f"{k}: {v}\n" for k, v in pairs).encode(
        "utf-8", "surrogatepass"
    )


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), min_size=1, max_size=6))
def test_fast_meta_matches_the_safe_loader(pairs: list[tuple[str, str | None]]) -> None:
    data = _doc(pairs)
    fast = parse_flat_meta(data)
    if fast is None:
        return  # stepped aside: the safe loader reads it (or refuses it)
    assert fast == yaml.safe_load(data)
    assert [type(v) for v in fast.values()] == [type(v) for v in yaml.safe_load(data).values()]


def test_what_mlflow_writes_takes_the_fast_path() -> None:
    meta = {
        "artifact_uri": "file:///tmp/mlruns/1/abc/artifacts",
        "end_time": 1700000100000,
        "entry_point_name": "",
        "experiment_id": "1",
        "lifecycle_stage": "active",
        "run_id": "0123456789abcdef0123456789abcdef",
        "run_name": "bright-fox-42",
        "source_type": 4,
        "status": 3,
        "tags": [],
        "user_id": "me",
    }
    data = yaml.safe_dump(meta, default_flow_style=False, allow_unicode=True).encode()
    assert parse_flat_meta(data) == meta
