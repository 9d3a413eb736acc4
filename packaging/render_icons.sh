#!/usr/bin/env bash
# Render every icon file from the SVG sources in resources/icons/ and refresh the copies the app ships.
#   needs: rsvg-convert (librsvg2-bin), convert (imagemagick), png2icns (icnsutils)
#   apt-get install -y librsvg2-bin imagemagick icnsutils
# The outputs are committed, so only run this after editing an SVG.
set -euo pipefail
cd "$(dirname "$0")/.."
src=resources/icons
pkg=expdesk/resources/icons
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

render() { # size -> $src/hicolor/NxN/apps/expdesk.png (small sizes from the simplified glyph)
    local size=$1 svg=$src/expdesk.svg
    ((size <= 24)) && svg=$src/expdesk-small.svg
    mkdir -p "$src/hicolor/${size}x${size}/apps"
    rsvg-convert -w "$size" -h "$size" "$svg" -o "$src/hicolor/${size}x${size}/apps/expdesk.png"
}
for size in 16 24 32 48 64 128 256 512; do render "$size"; done
png() { echo "$src/hicolor/$1x$1/apps/expdesk.png"; }

# Windows: one .ico with the sizes Explorer asks for (256 is stored as PNG inside the .ico)
convert "$(png 16)" "$(png 24)" "$(png 32)" "$(png 48)" "$(png 64)" "$(png 128)" "$(png 256)" \
    -strip "$src/expdesk.ico"
# macOS: png2icns accepts 16, 32, 48, 128, 256, 512
png2icns "$src/expdesk.icns" "$(png 16)" "$(png 32)" "$(png 48)" "$(png 128)" "$(png 256)" "$(png 512)" >/dev/null

# What the running app needs (window icon), shipped as package data
mkdir -p "$pkg"
cp "$src/expdesk.svg" "$pkg/expdesk.svg"
for size in 16 24 32 48 64 128 256; do cp "$(png "$size")" "$pkg/expdesk-$size.png"; done
echo "icons rendered into $src and $pkg"
