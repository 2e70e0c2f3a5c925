#!/usr/bin/env bash
# Reruns the figures of BENCHMARKS.md: codelab's agent-runtime (release build) under
# `codelab bench`, on SQLite (synchronous=FULL, the default) and PostgreSQL — append with
# 1, 2, 4, 8, 16 and 32 clients (token counts sent by the client, as in the original's W1a;
# and 8 clients with the server counting them), deep pages, stats, the mixed workload,
# memory — auth-service's password grant (`bench login`), and optionally, in the same run,
# the original Python implementation's benchmark and the raw driver limits of this machine
# (--with-original).
#
#   bash scripts/bench.sh [--with-original] [--duration SECS] [--seed N] [--soak SECS]
#
# --soak SECS adds an 8-client append run of SECS seconds on each backend, sampling
# agent-runtime's RSS every 10 s (sqlite-soak-rss.tsv, postgres-soak-rss.tsv), to show memory
# does not grow.
#
# Needs PostgreSQL at BENCH_PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres);
# creates and drops the databases bench_codelab (and bench with --with-original). Where the
# server runs with autovacuum off, each PostgreSQL run of the suite (not the soak) is preceded
# by a VACUUM (ANALYZE) of bench_codelab, as autovacuum would have done between them
# (postgres-vacuum.txt says so).
# Results go to bench-results/<timestamp>/; summary.tsv has one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."

with_original=0; duration=10; seed=200000; soak=0
while [ $# -gt 0 ]; do
  case "$1" in
    --with-original) with_original=1 ;;
    --duration) duration=$2; shift ;;
    --seed) seed=$2; shift ;;
    --soak) soak=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BENCH=${PG_ADMIN%/*}/bench_codelab
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release -q -p codelab -p agent-runtime -p auth-service
bin=${CARGO_TARGET_DIR:-target}/release
. scripts/bench-lib.sh

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
  # Stands in for autovacuum where the server has it off (see below): each append rewrites its
  # session's row, and without a vacuum the dead versions slow every later run.
  [ -n "$vacuum_url" ] && psql "$vacuum_url" -qc 'VACUUM (ANALYZE)'
  echo "== $label: codelab bench $*"
  "$bin/codelab" bench "$@" --addr "$addr" --duration "$duration" --json | tee "$out/$label.json"
  echo "peak_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)" | tee -a "$out/$label.rss.txt"
  summarize "$label" "$out/$label.json"
}

summarize() { # $1 = label, $2 = report JSON: one line per result row into summary.tsv
  python3 - "$1" "$2" >>"$out/summary.tsv" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
for r in d["results"]:
    print("\t".join(str(x) for x in (label, r["name"], d["clients"], round(r["ops_per_sec"]),
          r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["error_count"])))
PY
}

suite() { # $1 = backend label, $2 = url
  start "$1" "$2"
  # Like the original's W1a, each message carries its token count (255: the mean of its
  # random 10-500); one more run leaves the counting to the server (cl100k_base).
  for c in 1 2 4 8 16 32; do
    run "$1-append-c$c" append --clients "$c" --token-count 255
  done
  run "$1-append-c8-server-tokens" append --clients 8
  run "$1-mixed-c8" mixed --clients 8
  run "$1-list" list --clients 1 --seed-messages "$seed" --pages 1,2000,4000
  run "$1-stats" stats --clients 1 --seed-messages "$seed"
  echo "loaded_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" | tee -a "$out/$1.start.txt"
  stop
  # Restart on the migrated database: start-up time with an up-to-date schema.
  start "$1-restart" "$2"
  stop
}

soak() { # $1 = label (sqlite, postgres), $2 = url: 8-client appends for $soak seconds, RSS every 10 s
  start "$1-soak" "$2"
  "$bin/codelab" bench append --clients 8 --addr "$addr" --duration "$soak" --json >"$out/$1-soak.json" &
  local load=$! t=0
  printf 'seconds\trss_kb\n' >"$out/$1-soak-rss.tsv"
  while kill -0 "$load" 2>/dev/null; do
    printf '%s\t%s\n' "$t" "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" >>"$out/$1-soak-rss.tsv"
    sleep 10; t=$((t + 10))
  done
  wait "$load"
  summarize "$1-soak" "$out/$1-soak.json"
  cat "$out/$1-soak-rss.tsv"
  stop
}

login() { # auth-service on a temporary SQLite file, rate limit off, password grant as admin
  local auth_port=$(( port + 1 )) password=bench-password-$RANDOM
  AUTH_SERVICE__DB_URL="sqlite:///$work/auth.db" AUTH_SERVICE__GRPC_ADDR=127.0.0.1:$auth_port \
    AUTH_SERVICE__ADMIN_PASSWORD=$password AUTH_SERVICE__RATE_LIMIT__REQUESTS_PER_SECOND=0 \
    AUTH_SERVICE__KEY_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
    RUST_LOG=warn "$bin/auth-service" >"$out/auth.server.log" 2>&1 &
  pid=$!
  for c in 1 4; do
    local label=auth-login-c$c
    echo "== $label: codelab bench login --clients $c"
    until CODELAB_PASSWORD=$password "$bin/codelab" bench login --auth-addr "http://127.0.0.1:$auth_port" \
        --clients "$c" --duration "$duration" --json >"$out/$label.json" 2>"$out/$label.err"; do
      kill -0 "$pid" 2>/dev/null || { cat "$out/auth.server.log"; exit 1; }
      sleep 0.2
    done
    cat "$out/$label.json"
    summarize "$label" "$out/$label.json"
  done
  stop
}

vacuum_url=
printf 'label\tworkload\tclients\tops_per_sec\tp50_ms\tp99_ms\terrors\n' >"$out/summary.tsv"
work=$(mktemp -d)
suite sqlite "sqlite:///$work/agent_runtime.db"
[ "$soak" -gt 0 ] && soak sqlite "sqlite:///$work/soak.db"
login
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)' -c 'CREATE DATABASE bench_codelab'
if [ "$(psql "$PG_ADMIN" -qAtc 'SHOW autovacuum')" = off ]; then
  echo "== autovacuum is off on this server: VACUUM (ANALYZE) before each PostgreSQL run" \
    | tee "$out/postgres-vacuum.txt"
  vacuum_url=$PG_BENCH
fi
suite postgres "$PG_BENCH"
vacuum_url=
if [ "$soak" -gt 0 ]; then
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)' -c 'CREATE DATABASE bench_codelab'
  soak postgres "$PG_BENCH"
fi
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)'

if [ "$with_original" = 1 ]; then
  orig=../shared/bench/original-python
  venv=${ORIGINAL_VENV:-$out/venv}
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$orig/requirements.txt"; }
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'
  export BENCH_PG_URL="postgresql+psycopg://postgres@127.0.0.1:5432/bench"
  export BENCH_PG_DSN="host=127.0.0.1 port=5432 dbname=bench user=postgres"
  py=$(cd "$venv/bin" && pwd)/python; results=$(realpath "$out")  # not realpath: it would leave the venv
  for b in sqlite-wal pg; do
    (cd "$orig" && "$py" bench_orm.py --backend "$b" --reps 1 --big "$seed" --out "$results/original-$b.json") \
      | tee "$out/original-$b.log"
  done
  (cd "$orig" && "$py" bench_raw.py --reps 1 --out "$results/raw.json") | tee "$out/raw.log"
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench WITH (FORCE)'
fi
rm -rf "$work"
column -t -s $'\t' "$out/summary.tsv"
echo "results in $out"
