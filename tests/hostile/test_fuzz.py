"""Guarantees 3 and 4 for parsers: arbitrary bytes in any file a reader looks at never raise anything but
`SourceError` (or come back as a `RunUpdate` with `error` set). One property per registered reader, so a
reader that lands later is fuzzed without editing this file."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.core.errors import SourceError
from expdesk.core.safefile import walk_stats
from expdesk.sources import registry
from tests.hostile.conftest import DATA

#: bounded so the whole hostile suite stays well under a minute and a half
FUZZ = settings(
    max_examples=int(os.environ.get("EXPDESK_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: files bigger than this are mutated in place rather than replaced (a 1 MB mlflow.db stays a database)
SMALL = 64 * 1024


def _sample(fmt: str, workdir: Path) -> tuple[RunRef, list[Path]]:
    """A private copy of the first sample run of `fmt`, and the files its reader may open."""
    for tool in sorted(DATA.iterdir()):
        if not tool.is_dir():
            continue
        for ref in registry.discover(tool):
            if ref.format != fmt:
                continue
            copy = workdir / tool.name
            if not copy.exists():
                shutil.copytree(tool, copy, symlinks=True)
            rel = ref.path.relative_to(tool)
            new = RunRef(
                ref.format,
                copy / rel,
                copy,
                ref.native_id,
                copy / ref.store.relative_to(tool) if ref.store else None,
                ref.hint,
            )
            path = new.path
            files = [path] if path.is_file() else [path / r for r, _ in walk_stats(path)]
            if fmt == "mlflow":
                files.append(path.parent / "meta.yaml")  # the experiment's meta.yaml is read too
            return new, sorted(f for f in files if f.is_file())
    pytest.skip(f"no sample run of format {fmt!r} under tests/data/runs")


def _formats() -> list[str]:
    return [r.format for r in registry.readers()]


@pytest.fixture(params=_formats())
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield _sample(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}"))


def _read_contained(ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate | None:
    reader = registry.reader_for(ref.format)
    try:
        update = reader.read(ref, cursor)
        reader.fingerprint(ref)
    except SourceError:
        return None
    assert update is None or isinstance(update, RunUpdate)
    return update


@given(data=st.data())
@FUZZ
def test_arbitrary_bytes_raise_only_source_error(
    sample: tuple[RunRef, list[Path]], data: st.DataObject
) -> None:
    ref, files = sample
    target = data.draw(st.sampled_from(files), label="file")
    original = target.read_bytes()
    stat = os.stat(target)
    clean = _read_contained(ref, None)  # the incremental path: a cursor from before the damage
    mode = data.draw(st.sampled_from(["replace", "truncate", "splice", "append"]), label="mode")
    payload = data.draw(st.binary(max_size=2048), label="payload")
    if mode == "replace" and len(original) > SMALL:
        mode = "splice"
    if mode == "replace":
        damaged = payload
    elif mode == "truncate":
        damaged = original[: data.draw(st.integers(0, len(original)), label="cut")]
    elif mode == "splice":
        at = data.draw(st.integers(0, len(original)), label="at")
        damaged = original[:at] + payload + original[at + len(payload) :]
    else:
        damaged = original + payload
    try:
        target.write_bytes(damaged)
        _read_contained(ref, None)
        if clean is not None:
            _read_contained(ref, clean.cursor)
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@given(text=st.text(max_size=400))
@settings(max_examples=80, deadline=None)
def test_arbitrary_text_into_the_shared_parsers(text: str) -> None:
    from expdesk.core.safefile import parse_json_text, safe_yaml

    for parse in (safe_yaml, parse_json_text):
        with contextlib.suppress(SourceError):
            parse(text, "<fuzz>")  # type: ignore[operator]
