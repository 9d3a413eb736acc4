"""Where the files the running app needs live: window icons (no Qt here, so the CLI and tests can use it).

The icons are package data under `expdesk/resources/`, copied from `resources/icons/` by
`packaging/render_icons.sh`. The same relative layout works from a source checkout, an installed wheel and
a PyInstaller build (the spec collects `expdesk/resources` into the bundle next to the package).
"""

from __future__ import annotations

from pathlib import Path

#: the desktop entry / AppStream ID (reverse DNS of the placeholder domain expdesk.example); Qt's
#: `setDesktopFileName(APP_ID)` lets Wayland shells match windows to `resources/APP_ID.desktop`
APP_ID = "example.expdesk.expdesk"
#: the freedesktop icon name the desktop entry uses
ICON_NAME = "expdesk"
#: PNG sizes shipped with the package (the SVG covers the rest)
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def resources_dir() -> Path:
    return Path(__file__).resolve().parent / "resources"


def icon_path() -> Path:
    """The scalable icon (needs Qt's SVG image plugin; `icon_pngs` are the fallback without it)."""
    return resources_dir() / "icons" / f"{ICON_NAME}.svg"


def icon_pngs() -> dict[int, Path]:
    """size → PNG file, for every shipped size that exists, smallest first.

    Adding each size to one QIcon lets Qt pick a hand-tuned small glyph for title bars and task bars
    instead of scaling the large one down.
    """
    folder = resources_dir() / "icons"
    found = {size: folder / f"{ICON_NAME}-{size}.png" for size in ICON_SIZES}
    return {size: path for size, path in found.items() if path.is_file()}
