"""Media of an MLflow run, from its artifact listing: `log_image` series and plain image artifacts.

`mlflow.log_image(image, key=K, step=N)` writes `images/<K>+step+<N>+timestamp+<ms>+<uuid>.png` plus a
`...+compressed.webp` thumbnail (a thumbnail, never a separate item); slashes of the key are written as `~`
(MLflow 3; `#` before), and MLflow 2 separated the fields with `%` (its UI reads both). Any other image
file is a step-less item keyed by its artifact path (`log_image(image, artifact_file=...)`, figures); a
`.webp` next to a `.png` of the same name is that image's thumbnail (`log_table` images). A file in
`images/` that starts like a `log_image` series but whose name does not parse is a placeholder with the
reason, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from expdesk.core.entities import Artifact, MediaItem, MediaKind

IMAGE_EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                    ".bmp": "image/bmp", ".webp": "image/webp"}  # fmt: skip
#: `KEY+step+N+timestamp+T+UUID.ext` (or `%` separators): the file name of one `log_image` item
LOG_IMAGE = re.compile(
    r"^(?P<key>.+?)(?P<sep>[+%])step(?P=sep)(?P<step>[^+%]*)(?P=sep)timestamp(?P=sep)(?P<ts>[^+%]*)"
    r"(?P=sep)(?P<uuid>[^+%]+)(?P<thumb>(?P=sep)compressed)?\.(?P<ext>[A-Za-z]+)$"
)
_MARKER = re.compile(r"[+%]step[+%]")
_INT64 = (-(1 << 63), (1 << 63) - 1)


def media_items(artifact_dir: Path, artifacts: Iterable[Artifact]) -> list[MediaItem]:
    """The run's media, from the artifacts found in `artifact_dir` (paths relative to it)."""
    listed = list(artifacts)
    names = {a.path for a in listed}
    out: list[MediaItem] = []
    for art in listed:
        folder, _, name = art.path.rpartition("/")
        suffix = Path(name).suffix.lower()
        file = str(artifact_dir / art.path)
        if folder == "images" and _MARKER.search(name):
            item = _log_image(name, file)
            if item is not None:
                out.append(item)
            continue
        if suffix not in IMAGE_EXTENSIONS:
            continue
        if suffix == ".webp" and art.path[: -len(suffix)] + ".png" in names:
            continue  # the compressed thumbnail MLflow writes next to a table image
        out.append(MediaItem(art.path, MediaKind.IMAGE, None, file, mime=IMAGE_EXTENSIONS[suffix]))
    return out


def _log_image(name: str, file: str) -> MediaItem | None:
    """One `images/` file of a `log_image` series; None for its thumbnail."""
    match = LOG_IMAGE.match(name)
    if match is None:
        key = _MARKER.split(name, 1)[0]
        return MediaItem(
            _key(key), MediaKind.IMAGE, None, file,
            error=f"images/{name}: not an MLflow log_image file name (KEY+step+N+timestamp+T+UUID.png)",
        )  # fmt: skip
    if match["thumb"]:
        return None
    key = _key(match["key"])
    step = _int(match["step"])
    if step is None:
        return MediaItem(
            key, MediaKind.IMAGE, None, file, error=f"images/{name}: step {match['step']!r} is not an integer"
        )
    stamp = _int(match["ts"])
    mime = IMAGE_EXTENSIONS.get("." + match["ext"].lower())
    return MediaItem(
        key,
        MediaKind.IMAGE,
        step,
        file,
        wall_time=None if stamp is None else stamp / 1000.0,
        mime=mime,
        meta=(("uuid", match["uuid"]),),
        error=None if mime else f"images/{name}: .{match['ext']} is not an image type",
    )


def _key(text: str) -> str:
    # MLflow writes a key's slashes as `~` (3.x) or `#` (2.x): neither may appear in a key itself
    return text.replace("~", "/").replace("#", "/")


def _int(text: str) -> int | None:
    if not re.fullmatch(r"-?\d{1,19}", text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None
