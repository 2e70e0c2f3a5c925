#!/usr/bin/env bash
# Reruns the figures of BENCHMARKS.md: codelab's agent-runtime (release build) under
# `codelab bench`, on SQLite (synchronous=FULL, the default) and PostgreSQL, and optionally the
# original Python implementation's benchmark in the same run (--with-original).
#
#   bash scripts/bench.sh [--with-original] [--duration SECS] [--seed N]
#
# Needs PostgreSQL at BENCH_PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres);
# creates and drops the database bench_codelab. Results go to bench-results/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."

with_original=0; duration=10; seed=200000
while [ $# -gt 0 ]; do
  case "$1" in
    --with-original) with_original=1 ;;
    --duration) duration=$2; shift ;;
    --seed) seed=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BENCH=${PG_ADMIN%/*}/bench_codelab
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release -q -p codelab -p agent-runtime
bin=target/release
port=$(( 20000 + RANDOM % 20000 ))
addr=http://127.0.0.1:$port
pid=

stop() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }
trap stop EXIT

start() { # $1 = label, $2 = db url
  local t0 t1
  t0=$(date +%s%N)
  AGENT_RUNTIME__DB_URL="$2" AGENT_RUNTIME__AUTH__DISABLED=true AGENT_RUNTIME__GRPC_ADDR=127.0.0.1:$port \
    RUST_LOG=warn "$bin/agent-runtime" >"$out/$1.server.log" 2>&1 &
  pid=$!
  until "$bin/codelab" sessions list --addr "$addr" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$out/$1.server.log"; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  echo "start_to_serving_ms=$(( (t1 - t0) / 1000000 ))" | tee "$out/$1.start.txt"
  sleep 2
  echo "idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" | tee -a "$out/$1.start.txt"
}

run() { # $1 = label, rest = codelab bench args
  local label=$1; shift
  echo "== $label: codelab bench $*"
  "$bin/codelab" bench "$@" --addr "$addr" --duration "$duration" --json | tee "$out/$label.json"
  echo "peak_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)" | tee -a "$out/$label.rss.txt"
}

suite() { # $1 = backend label, $2 = url
  start "$1" "$2"
  run "$1-append-c8" append --clients 8
  run "$1-append-c1" append --clients 1
  run "$1-list" list --clients 1 --seed-messages "$seed" --pages 1,2000,4000
  run "$1-stats" stats --clients 1 --seed-messages "$seed"
  stop
  # Restart on the migrated database: start-up time with an up-to-date schema.
  start "$1-restart" "$2"
  stop
}

work=$(mktemp -d)
suite sqlite "sqlite:///$work/agent_runtime.db"
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)' -c 'CREATE DATABASE bench_codelab'
suite postgres "$PG_BENCH"
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)'
rm -rf "$work"

if [ "$with_original" = 1 ]; then
  orig=../shared/bench/original-python
  venv=${ORIGINAL_VENV:-$out/venv}
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$orig/requirements.txt"; }
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'
  export BENCH_PG_URL="postgresql+psycopg://postgres@127.0.0.1:5432/bench"
  export BENCH_PG_DSN="host=127.0.0.1 port=5432 dbname=bench user=postgres"
  py=$(realpath "$venv/bin/python"); results=$(realpath "$out")
  for b in sqlite-wal pg; do
    (cd "$orig" && "$py" bench_orm.py --backend "$b" --reps 1 --big "$seed" --out "$results/original-$b.json") \
      | tee "$out/original-$b.log"
  done
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench WITH (FORCE)'
fi
echo "results in $out"
