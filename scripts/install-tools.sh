#!/usr/bin/env bash
# Install command-line tools that must NOT share .venv with Keel.
# semgrep pins opentelemetry-* ~= 1.37; in the same environment as langgraph-cli[inmem] pip
# backtracks for minutes and downgrades langgraph-api. So it gets its own venv.
set -euo pipefail

cd "$(dirname "$0")/.."
tools_dir="${KEEL_TOOLS_DIR:-.keel-tools}"
venv="$tools_dir/semgrep"
python="${PYTHON:-python3}"
# Without this `semgrep --version` phones home and waits ~100 s for a timeout offline.
export SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off

if [[ -x "$venv/bin/semgrep" ]] && version=$("$venv/bin/semgrep" --version 2>/dev/null); then
    echo "install-tools: semgrep $version in $venv"
    exit 0
fi

echo "install-tools: creating $venv"
mkdir -p "$tools_dir"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q semgrep
echo "install-tools: semgrep $("$venv/bin/semgrep" --version 2>/dev/null) in $venv"
