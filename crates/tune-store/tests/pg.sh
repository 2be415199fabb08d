#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL server on 127.0.0.1 for the tune-store tests.
#
#   crates/tune-store/tests/pg.sh start   # idempotent; prints the URL
#   TUNE_TEST_POSTGRES_URL=$(crates/tune-store/tests/pg.sh start) cargo test -p tune-store
#   crates/tune-store/tests/pg.sh stop    # idempotent
#
# Settings (environment): PGBIN (server binaries; default: newest /usr/lib/postgresql/*/bin),
# TUNE_PG_DIR (data and socket directory; default /tmp/pgtest), TUNE_PG_PORT (default 55432).
# Run as root, the server runs as the `postgres` user; otherwise as the current user.
# Trust authentication, loopback only: for tests, never for real data.
set -euo pipefail

if [ -z "${PGBIN:-}" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$PGBIN" ] && command -v pg_config >/dev/null; then PGBIN=$(pg_config --bindir); fi
fi
if [ ! -x "$PGBIN/pg_ctl" ]; then
    echo "pg.sh: no PostgreSQL server binaries found (looked in '${PGBIN:-/usr/lib/postgresql/*/bin}'); install postgresql or set PGBIN" >&2
    exit 1
fi
DIR=${TUNE_PG_DIR:-/tmp/pgtest}
PORT=${TUNE_PG_PORT:-55432}
DATA="$DIR/data"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# Runs a command as the server's user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

running() {
    as_pg "'$PGBIN/pg_ctl' -D '$DATA' status" >/dev/null 2>&1
}

case "${1:-}" in
start)
    if ! running; then
        mkdir -p "$DIR"
        if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
        if [ ! -f "$DATA/PG_VERSION" ]; then
            as_pg "'$PGBIN/initdb' -D '$DATA' -A trust -U postgres" >"$DIR/initdb.log" 2>&1 || {
                cat "$DIR/initdb.log" >&2
                exit 1
            }
        fi
        as_pg "'$PGBIN/pg_ctl' -D '$DATA' -w -l '$DIR/log' \
            -o \"-p $PORT -k '$DIR' -c listen_addresses=127.0.0.1\" start" >/dev/null || {
            cat "$DIR/log" >&2
            exit 1
        }
    fi
    echo "$URL"
    ;;
stop)
    if running; then
        as_pg "'$PGBIN/pg_ctl' -D '$DATA' -w -m fast stop" >/dev/null
    fi
    ;;
url)
    echo "$URL"
    ;;
*)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
