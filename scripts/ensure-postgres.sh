#!/usr/bin/env bash
# Make sure the test suite can get a PostgreSQL server.
# OK if KEEL_TEST_DATABASE_URL points at one, or if initdb/pg_ctl are found the way
# tests/_pg.py looks for them ($KEEL_PG_BIN, newest /usr/lib/postgresql/*/bin, PATH).
# Otherwise install the distribution package when we can (root + apt-get), else explain.
set -euo pipefail

find_pg_bin() {
    if [[ -n "${KEEL_PG_BIN:-}" ]]; then
        [[ -x "$KEEL_PG_BIN/initdb" && -x "$KEEL_PG_BIN/pg_ctl" ]] && echo "$KEEL_PG_BIN"
        return 0
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r c; do
        [[ -x "$c/initdb" && -x "$c/pg_ctl" ]] && echo "$c"; done | tail -n 1 || true)
    if [[ -n "$d" ]]; then echo "$d"; return 0; fi
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(command -v initdb)")
        [[ -x "$d/pg_ctl" ]] && echo "$d"
    fi
    return 0
}

if [[ -n "${KEEL_TEST_DATABASE_URL:-}" ]]; then
    echo "ensure-postgres: using KEEL_TEST_DATABASE_URL"
    exit 0
fi

bin=$(find_pg_bin)
if [[ -n "$bin" ]]; then
    echo "ensure-postgres: PostgreSQL binaries in $bin"
    exit 0
fi

if [[ -n "${KEEL_PG_BIN:-}" ]]; then
    echo "ensure-postgres: KEEL_PG_BIN=$KEEL_PG_BIN has no initdb/pg_ctl" >&2
    exit 1
fi

if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: installing PostgreSQL server binaries with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(find_pg_bin)
    if [[ -n "$bin" ]]; then
        echo "ensure-postgres: PostgreSQL binaries in $bin"
        exit 0
    fi
    echo "ensure-postgres: apt-get installed postgresql but initdb was not found" >&2
    exit 1
fi

cat >&2 <<'MSG'
ensure-postgres: PostgreSQL server binaries (initdb, pg_ctl) not found.
The tests start a private PostgreSQL server; they never mock or skip it. Either
  - install the server:  sudo apt-get install -y postgresql   (Debian/Ubuntu)
                         brew install postgresql@15            (macOS)
    or point KEEL_PG_BIN at the directory holding initdb and pg_ctl, or
  - set KEEL_TEST_DATABASE_URL=postgresql://user@host:port/postgres  (a user that may
    CREATE DATABASE).
MSG
exit 1
