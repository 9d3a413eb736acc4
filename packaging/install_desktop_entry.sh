#!/usr/bin/env bash
# Add expdesk to the desktop's application menu and "Open with" for folders (Linux, per user).
# For pip/pipx installs and the frozen build alike: the entry runs `expdesk` from PATH.
#   packaging/install_desktop_entry.sh            # into ~/.local/share
#   PREFIX=/usr/local/share packaging/install_desktop_entry.sh   # system-wide (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-${XDG_DATA_HOME:-$HOME/.local/share}}
id=example.expdesk.expdesk

command -v expdesk >/dev/null || echo "note: expdesk is not on PATH yet; the menu entry will not start until it is" >&2
install -Dm644 "resources/$id.desktop" "$prefix/applications/$id.desktop"
install -Dm644 "resources/$id.metainfo.xml" "$prefix/metainfo/$id.metainfo.xml"
for png in resources/icons/hicolor/*/apps/expdesk.png; do
    install -Dm644 "$png" "$prefix/icons/${png#resources/icons/}"
done
install -Dm644 resources/icons/expdesk.svg "$prefix/icons/hicolor/scalable/apps/expdesk.svg"
# refresh the caches where the tools exist; shells also pick the files up on next login
command -v update-desktop-database >/dev/null && update-desktop-database -q "$prefix/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$prefix/icons/hicolor" || true
echo "installed $id into $prefix"
