#!/usr/bin/env bash
# Make sure the browser tests can drive a real headless Chromium (tests/e2e/test_inbox_*.py).
# OK if KEEL_CHROMIUM points at an executable, or if Debian's chromium is on PATH (the tests
# launch it through Playwright with executable_path: Playwright never downloads a browser).
# Otherwise install the distribution package when we can (root + apt-get), else explain.
set -euo pipefail

find_chromium() {
    if [[ -n "${KEEL_CHROMIUM:-}" ]]; then
        [[ -x "$KEEL_CHROMIUM" ]] && echo "$KEEL_CHROMIUM"
        return 0
    fi
    local c
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 0
}

found=$(find_chromium)
if [[ -n "$found" ]]; then
    echo "ensure-chromium: $found"
    exit 0
fi

if [[ -n "${KEEL_CHROMIUM:-}" ]]; then
    echo "ensure-chromium: KEEL_CHROMIUM=$KEEL_CHROMIUM is not an executable" >&2
    exit 1
fi

if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: installing Debian's chromium with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    found=$(find_chromium)
    if [[ -n "$found" ]]; then
        echo "ensure-chromium: $found"
        exit 0
    fi
    echo "ensure-chromium: apt-get installed chromium but it is not on PATH" >&2
    exit 1
fi

cat >&2 <<'MSG'
ensure-chromium: no chromium executable found.
The inbox's browser tests drive a real headless Chromium; they never skip. Either
  - install it:  sudo apt-get install -y chromium   (Debian/Ubuntu)
                 brew install --cask chromium        (macOS)
  - or point KEEL_CHROMIUM at a Chromium or Chrome executable.
MSG
exit 1
