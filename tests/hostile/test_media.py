"""Bad media: a 200 MB image, a file swapped for a link out of the root, a W&B row naming `../../etc/passwd`,
malformed MLflow names. Each is a placeholder with its reason, memory stays bounded, the rest is shown."""

from __future__ import annotations

import io
import os
import shutil
import tracemalloc
from pathlib import Path

from expdesk.core.entities import MediaItem
from expdesk.index.media import item_payload, media_series, series_items, write_item
from expdesk.index.service import Index
from expdesk.sources import media as source_media
from expdesk.sources.wandb import _media as wandb_media
from tests.media_events import field_bytes

MEDIA = Path(__file__).resolve().parent.parent / "data" / "media"


def _mlflow_copy(tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "store"
    shutil.copytree(MEDIA / "mlflow" / "filestore", store)
    images = next(store.glob("mlruns/*/*/artifacts/images"))
    return store, images


def test_a_200_mb_image_is_a_placeholder_and_streams_to_a_file(tmp_path: Path) -> None:
    store, images = _mlflow_copy(tmp_path)
    big = images / "huge+step+3+timestamp+1796000000000+aaaa.png"
    with open(big, "wb") as f:  # sparse: 200 MB to read, nothing to write
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(200 * 1024 * 1024)
    with Index(tmp_path / "i.db") as index:
        index.index([store])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            tracemalloc.start()
            payload = item_payload(reader, key, "huge", 3)
            out = tmp_path / "huge.png"
            with open(out, "wb") as handle:
                write_item(reader, key, "huge", 3, handle)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert payload.data is None and "over the 64 MB limit" in (payload.error or "")
            assert out.stat().st_size == 200 * 1024 * 1024
            assert peak < 16 * 1024 * 1024
            # everything else of the run is still there
            assert item_payload(reader, key, "confusion", 10).data is not None


def test_a_media_file_swapped_for_a_link_out_of_the_root(tmp_path: Path) -> None:
    store, images = _mlflow_copy(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    with Index(tmp_path / "i.db") as index:
        index.index([store])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            (series,) = [s for s in media_series(reader, [key]) if s.key == "confusion"]
            (row,) = series_items(reader, series.id)
            os.unlink(row.file)
            os.symlink(secret, row.file)
            payload = item_payload(reader, key, "confusion", 10)
            assert payload.data is None and "leaves its watched root" in (payload.error or "")
            os.unlink(row.file)
            os.symlink(images / ".." / "..", row.file)  # inside the root, but a link: refused, not followed
            payload = item_payload(reader, key, "confusion", 10)
            assert payload.data is None and payload.error


def _history(*items: tuple[tuple[str, ...], bytes]) -> bytes:
    """A W&B `Record {history 2 {item 1 {nested_key 2..., value_json 16}}}`."""
    body = b""
    for nested, value in items:
        item = b"".join(field_bytes(2, part.encode()) for part in nested) + field_bytes(16, value)
        body += field_bytes(1, item)
    return field_bytes(2, body)


def test_wandb_row_naming_a_path_out_of_the_run(tmp_path: Path) -> None:
    run = tmp_path / "offline-run-20260101_000000-abc"
    (run / "files").mkdir(parents=True)
    payload = _history(
        (("bad", "_type"), b'"image-file"'),
        (("bad", "path"), b'"../../../../etc/passwd"'),
        (("gone", "_type"), b'"image-file"'),
        (("gone", "path"), b'"media/images/gone.png"'),
        (("odd", "_type"), b'"object3D-file-unknown"'),
    )
    out: list[MediaItem] = []
    wandb_media.collect(payload, 3, 7, 100, run / "run-abc.wandb", run, out)
    by_key = {m.key: m for m in out}
    assert "leaves its root" in (by_key["bad"].error or "") and by_key["bad"].step == 3
    assert "is missing" in (by_key["gone"].error or "")
    assert by_key["odd"].kind == "other" and by_key["odd"].error


def test_malformed_mlflow_names_are_listed_with_the_reason(tmp_path: Path) -> None:
    store, images = _mlflow_copy(tmp_path)
    for name in (
        "x+step++timestamp+1+u.png",
        "y+step+1+timestamp+1.png",
        "z%step%99999999999999999999%timestamp%1%u.png",
    ):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    with Index(tmp_path / "i.db") as index:
        index.index([store])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            (run,) = reader.runs_json([key])
            keys = {m["key"]: m["steps"] for m in run["media"]}
            assert keys["x"] == [] and keys["y"] == [] and keys["z"] == []
            for bad in ("x", "y", "z"):
                assert item_payload(reader, key, bad, None).error
            assert keys["samples/pred"] == [0, 1, 2]


def test_span_past_the_end_of_a_truncated_file(tmp_path: Path) -> None:
    data = tmp_path / "f.bin"
    data.write_bytes(b"0123456789")
    loc = source_media.Location(str(data), 4, 100, "raw", str(tmp_path))
    payload = source_media.load(loc, "image")
    assert payload.data is None and "past the end" in (payload.error or "")
    with io.BytesIO() as buf:
        loc_ok = source_media.Location(str(data), 4, 3, "raw", str(tmp_path))
        assert source_media.copy_raw(loc_ok, buf) == 3 and buf.getvalue() == b"456"
