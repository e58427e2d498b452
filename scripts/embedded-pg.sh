#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, kept under the project folder.
#
#   scripts/embedded-pg.sh start   initialise (first time) and start it; print its URL
#   scripts/embedded-pg.sh stop    stop it (the data stays)
#   scripts/embedded-pg.sh url     print the URL without starting anything
#
# It uses the server binaries of the OS package (Debian: postgresql). PostgreSQL refuses
# to run as root, so under root the server runs as the `postgres` account that the package
# creates. Settings: EMBEDDED_PG_DIR (data folder, default .pgdata), EMBEDDED_PG_PORT
# (loopback port; by default the first free one from 54329, chosen when the cluster is
# created and kept in its postgresql.conf), PG_BINDIR (where initdb and pg_ctl live).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DBNAME="${EMBEDDED_PG_DB:-schema_joins}"
DATA="${EMBEDDED_PG_DIR:-$ROOT/.pgdata}"
# Where the cluster lives when the postgres account cannot reach the checkout (see below).
ALT_DATA="${TMPDIR:-/tmp}/schema-joins-pg-$(echo -n "$ROOT" | sha1sum | cut -c1-12)"
if [[ ! -s "$DATA/PG_VERSION" && -s "$ALT_DATA/PG_VERSION" ]]; then
    DATA="$ALT_DATA"
fi

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then echo "$newest"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    echo "embedded-pg: no PostgreSQL server binaries found; install the OS package" \
         "(Debian/Ubuntu: apt-get install postgresql) or set PG_BINDIR" >&2
    exit 1
}

# Run a command as the account that owns the cluster.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The cluster's port: the one written in its configuration, else the one to create it with.
port() {
    if [[ -r "$DATA/postgresql.conf" ]] && grep -qE '^port = [0-9]+' "$DATA/postgresql.conf"; then
        grep -E '^port = [0-9]+' "$DATA/postgresql.conf" | tail -n 1 | awk '{print $3}'
    elif [[ -n "${EMBEDDED_PG_PORT:-}" ]]; then
        echo "$EMBEDDED_PG_PORT"
    else
        local candidate
        for candidate in $(seq 54329 54428); do
            if ! port_in_use "$candidate"; then echo "$candidate"; return; fi
        done
        echo "embedded-pg: no free port in 54329-54428; set EMBEDDED_PG_PORT" >&2
        exit 1
    fi
}

url() {
    echo "postgresql://postgres@127.0.0.1:$(port)/${DBNAME}"
}

prepare_datadir() {
    if [[ "$(id -u)" != 0 ]]; then
        mkdir -p "$DATA"
        return
    fi
    if ! id postgres >/dev/null 2>&1; then
        echo "embedded-pg: running as root needs the 'postgres' account (created by the postgresql package)" >&2
        exit 1
    fi
    mkdir -p "$DATA"
    chown postgres: "$DATA"
    chmod 700 "$DATA"
    # The server account must be able to reach the folder; a checkout under a private home
    # directory is not reachable, so the cluster then lives in a per-checkout temp folder.
    if ! runuser -u postgres -- test -w "$DATA"; then
        rmdir "$DATA" 2>/dev/null || true
        DATA="$ALT_DATA"
        echo "embedded-pg: $ROOT is not reachable by the postgres account; using $DATA" >&2
        mkdir -p "$DATA"
        chown postgres: "$DATA"
        chmod 700 "$DATA"
    fi
}

start() {
    local bindir
    bindir="$(find_bindir)"
    prepare_datadir
    local port
    port="$(port)"
    if [[ ! -s "$DATA/PG_VERSION" ]]; then
        as_owner "$bindir/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
        cat >>"$DATA/postgresql.conf" <<EOF

# schema-joins embedded cluster
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
EOF
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        if port_in_use "$port"; then
            echo "embedded-pg: port $port is taken by another server; stop it, or remove $DATA" \
                 "and set EMBEDDED_PG_PORT to create the cluster on another port" >&2
            exit 1
        fi
        as_owner "$bindir/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null || {
            echo "embedded-pg: the server did not start; last lines of $DATA/server.log:" >&2
            tail -n 20 "$DATA/server.log" >&2 || true
            exit 1
        }
    fi
    local psql="$bindir/psql"
    [[ -x "$psql" ]] || psql="psql"
    if [[ "$("$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")" != 1 ]]; then
        "$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE \"$DBNAME\"" >/dev/null
    fi
    url
}

stop() {
    local bindir
    bindir="$(find_bindir)"
    if [[ -s "$DATA/PG_VERSION" ]]; then
        as_owner "$bindir/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
