#!/usr/bin/env bash
# Smoke test of the frozen app (run after packaging/build.sh; CI or a release job can run both).
#
#   packaging/smoke_test.sh [EXECUTABLE]      # default dist/expdesk/expdesk
#
# 1. `--version`; 2. the CLI path: index the demo runs shipped inside the bundle, list them;
# 3. the desktop app: `--self-test` under QT_QPA_PLATFORM=offscreen opens the demo workspace, indexes it
#    and must exit 0. HOME and XDG_* point into a temp dir: the user's index, settings and demo copy are
#    never touched. Exits non-zero, naming the step, on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
exe=${1:-dist/expdesk/expdesk}
[[ -x "$exe" ]] || { echo "smoke test: no executable at $exe (run packaging/build.sh first)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_CACHE_HOME="$tmp/cache"
export QT_QPA_PLATFORM=offscreen
unset EXPDESK_DB
mkdir -p "$HOME"

step() { echo "--- smoke test: $*"; }
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }

step "version"
"$exe" --version | grep -q "^expdesk " || fail "--version"

# The demo runs as the bundle ships them (PyInstaller puts package data under _internal/ since 6.0).
demo=$(find "$(dirname "$exe")" -type d -path '*expdesk/demo/runs' -print -quit)
[[ -n "$demo" ]] || demo=tests/data/runs/plain   # before the demo package existed
step "index $demo"
"$exe" index "$demo" --db "$tmp/cli.sqlite" -q || fail "index"
runs=$("$exe" runs --db "$tmp/cli.sqlite" --json)
count=$(printf '%s' "$runs" | grep -o '"key"' | wc -l)
((count > 0)) || fail "expdesk runs listed no runs"
echo "    $count runs indexed and listed"

step "desktop app --self-test (offscreen)"
start=$(date +%s%N)
timeout 300 "$exe" --self-test --db "$tmp/gui.sqlite" || fail "--self-test exited $?"
echo "    self-test passed in $((($(date +%s%N) - start) / 1000000)) ms"
echo "smoke test passed: $exe"
