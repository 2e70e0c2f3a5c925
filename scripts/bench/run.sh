#!/usr/bin/env bash
# Reruns the figures of BENCHMARKS.md: codelab's agent-runtime (release build) under
# `codelab-bench`, on SQLite (synchronous=FULL, the default) and PostgreSQL — append with
# 1, 2, 4, 8, 16 and 32 clients (token counts sent by the client, as in the original's W1a;
# and 8 clients with the server counting them), deep pages, stats, the mixed workload,
# memory — auth-service's password grant (`codelab-bench login`), and optionally, in the same run,
# the original Python implementation's benchmark and the raw driver limits of this machine
# (--with-original).
#
#   bash scripts/bench/run.sh [--with-original] [--duration SECS] [--seed N] [--soak SECS]
#                         [--only tokens] [--rounds N]
#
# --only tokens runs just the token-counting comparison (below); --rounds N sets its rounds (5).
#
# The token-counting comparison, on SQLite with 8 clients, in alternating rounds: appends whose
# messages carry a token count (as the original's benchmark sends) against appends the server
# counts (what OpenAI-style clients send), with real assistant answers (MT-Bench GPT-4
# reference answers) and with 2 KiB messages; tokens.tsv gives each round's ratio
# server-counted / client-counted and the median. Then GetSession latency alone and while 4
# clients append 1 MiB messages the server counts, and the tokenizer's CPU time per MiB on
# adversarial input (examples/count_tokens.rs).
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
cd "$(dirname "$0")/../.."

with_original=0; duration=10; seed=200000; soak=0; only=; rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --with-original) with_original=1 ;;
    --duration) duration=$2; shift ;;
    --seed) seed=$2; shift ;;
    --soak) soak=$2; shift ;;
    --only) only=$2; shift; [ "$only" = tokens ] || { echo "--only takes: tokens" >&2; exit 2; } ;;
    --rounds) rounds=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BENCH=${PG_ADMIN%/*}/bench_codelab
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release -q -p codelab -p codelab-bench -p agent-runtime -p auth-service
cargo build --release -q -p agent-runtime --example count_tokens
bin=${CARGO_TARGET_DIR:-target}/release
. scripts/bench/lib.sh

start() { # $1 = label, $2 = db url
  local t0 t1
  t0=$(date +%s%N)
  # The deep-page session holds --seed messages, more than the default per-session limit.
  serve_agent_runtime "$bin/agent-runtime" "$2" "$out/$1.server.log" \
    AGENT_RUNTIME__LIMITS__MAX_SESSION_MESSAGES=$((seed + 100000))
  t1=$(date +%s%N)
  echo "start_to_serving_ms=$(( (t1 - t0) / 1000000 ))" | tee "$out/$1.start.txt"
  sleep 2
  echo "idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" | tee -a "$out/$1.start.txt"
}

run() { # $1 = label, rest = codelab-bench args
  local label=$1; shift
  # Stands in for autovacuum where the server has it off (see below): each append rewrites its
  # session's row, and without a vacuum the dead versions slow every later run.
  [ -n "$vacuum_url" ] && psql "$vacuum_url" -qc 'VACUUM (ANALYZE)'
  echo "== $label: codelab-bench $*"
  "$bin/codelab-bench" "$@" --addr "$addr" --duration "$duration" --json | tee "$out/$label.json"
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

tokens() { # $1 = SQLite url: server-counted against client-counted appends, alternating rounds
  local answers=testdata/conversations/mt_bench_gpt4_reference.jsonl r kind first second
  start sqlite-tokens "$1"
  for r in $(seq 1 "$rounds"); do
    for kind in answers 2k; do
      local texts=(--messages-from "$answers") count=255
      [ "$kind" = 2k ] && texts=(--message-size 2048) count=512
      # Alternate which path goes first, so drift within a round favours neither.
      if [ $((r % 2)) = 1 ]; then first=client; second=server; else first=server; second=client; fi
      for path in "$first" "$second"; do
        if [ "$path" = client ]; then
          run "tokens-r$r-$kind-client" append --clients 8 "${texts[@]}" --token-count "$count"
        else
          run "tokens-r$r-$kind-server" append --clients 8 "${texts[@]}"
        fi
      done
    done
  done
  # A one-row read alone, then while 4 clients append 1 MiB messages the server counts.
  run tokens-session-alone session --clients 1 --seed-messages 1
  "$bin/codelab-bench" append --clients 4 --message-size 1048576 --addr "$addr" \
    --duration "$((duration + 2))" --json >"$out/tokens-1mib-appends.json" &
  local load=$!
  run tokens-session-beside-1mib-appends session --clients 1 --seed-messages 1
  wait "$load"
  summarize tokens-1mib-appends "$out/tokens-1mib-appends.json"
  stop
  python3 - "$out/summary.tsv" <<'PY' | tee "$out/tokens.tsv"
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]).read().splitlines()[1:]:
    f = line.split("\t")
    rows[f[0]] = f
print("texts\tround\tclient_ops\tserver_ops\tserver/client\tclient_p99_ms\tserver_p99_ms")
for kind in ("answers", "2k"):
    ratios = []
    for label in sorted(l for l in rows if re.fullmatch(rf"tokens-r\d+-{kind}-client", l)):
        r = label.split("-")[1]
        c, s = rows[label], rows[f"tokens-{r}-{kind}-server"]
        ratios.append(float(s[3]) / float(c[3]))
        print(f"{kind}\t{r}\t{c[3]}\t{s[3]}\t{ratios[-1]:.2f}\t{c[5]}\t{s[5]}")
    print(f"{kind}\tmedian\t\t\t{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
for label in ("tokens-session-alone", "tokens-session-beside-1mib-appends"):
    f = rows[label]
    print(f"{label}: GetSession p50 {f[4]} ms, p99 {f[5]} ms")
PY
  "$bin/examples/count_tokens" | tee "$out/tokens-cpu.tsv"
}

soak() { # $1 = label (sqlite, postgres), $2 = url: 8-client appends for $soak seconds, RSS every 10 s
  start "$1-soak" "$2"
  "$bin/codelab-bench" append --clients 8 --addr "$addr" --duration "$soak" --json >"$out/$1-soak.json" &
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
    echo "== $label: codelab-bench login --clients $c"
    until CODELAB_PASSWORD=$password "$bin/codelab-bench" login --auth-addr "http://127.0.0.1:$auth_port" \
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
tokens "sqlite:///$work/tokens.db"
if [ "$only" = tokens ]; then rm -rf "$work"; echo "results in $out"; exit 0; fi
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
python3 scripts/bench/chart.py "$out"
echo "results in $out"
