#!/usr/bin/env bash
# A private PostgreSQL server for halld's hall-store tests: no root-owned cluster,
# everything under DIR, trust authentication on loopback only.
#
#   postgres_peer.sh start DIR   initdb (as the postgres user when run as root: the
#                                server refuses to run as root), start on a free
#                                loopback port, create database "hall"; prints the
#                                store URL postgresql://halld@127.0.0.1:PORT/hall
#   postgres_peer.sh stop DIR    stop it (fast shutdown) and remove DIR
#   postgres_peer.sh halt DIR    stop it (fast shutdown), keeping its data: the
#                                database going away under halld
#   postgres_peer.sh resume DIR  start it again on the same port
#
# `make test` starts one for the whole run, passes its URL to the tests in
# HALLD_TEST_POSTGRES and stops it afterwards; each test uses a hall id of its own.
set -euo pipefail
cmd=$1
dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$bin/initdb" ]] || { echo "postgres_peer.sh: no PostgreSQL server (apt install postgresql)" >&2; exit 1; }
# Durable as production runs it; 300 clients: the suites run in parallel, each with
# stores and hallds of its own (up to PostgresHallStore.maximumConnections each), and
# the default of 100 once failed a run ("too many clients already").
server_options="-c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=300"
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U halld -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 30 -l "$dir/server.log" \
        -o "-p $port -k $dir $server_options" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U halld hall
    echo "$port" >"$dir/port"
    echo "postgresql://halld@127.0.0.1:$port/hall"
    ;;
halt)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    ;;
resume)
    port=$(cat "$dir/port")
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 30 -l "$dir/server.log" \
        -o "-p $port -k $dir $server_options" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    if [[ -d "$dir/data" ]]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres_peer.sh start|stop|halt|resume DIR" >&2
    exit 2
    ;;
esac
