#!/usr/bin/env bash
# Build the frozen, self-contained expdesk app with PyInstaller (onedir): dist/expdesk/expdesk.
#
#   packaging/build.sh              # fresh build venv (build/freeze-venv) with only expdesk's dependencies
#   packaging/build.sh --no-venv    # use the current python (must have expdesk's deps + pyinstaller)
#
# A clean venv matters: PyInstaller bundles what is importable, and a developer environment with the full
# PySide6 (WebEngine, Qt Quick...) or pytest makes a bigger bundle. Then run packaging/smoke_test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [[ "${1:-}" != "--no-venv" ]]; then
    venv=${EXPDESK_BUILD_VENV:-build/freeze-venv}
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # non-editable install, so the bundle takes the package data exactly as a wheel ships it
    "$venv/bin/python" -m pip install --quiet --upgrade . "pyinstaller>=6.5"
    python="$venv/bin/python"
fi

start=$(date +%s)
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/expdesk.spec
echo "built dist/expdesk in $(($(date +%s) - start)) s: $(du -sh dist/expdesk | cut -f1)," \
    "$(find dist/expdesk -type f | wc -l) files"
