#!/usr/bin/env bash
# Counts the CPU instructions agent-runtime spends per AppendMessages call on SQLite
# (synchronous=FULL), per thread, with valgrind's callgrind: unlike ops/s, the count is the
# same from run to run whatever else the machine is doing, so two builds can be compared on a
# noisy machine. Prints instructions per append for each thread of the server and the
# functions that cost the most on the busiest one (the append writer); the raw callgrind files
# stay in the output directory for `callgrind_annotate --inclusive=yes FILE`.
#
#   bash scripts/bench/profile-append.sh [--clients N] [--duration SECS]
#
# Defaults: 1 client for 20 s (about 3,500 appends under valgrind). Needs valgrind
# (Debian package `valgrind`, with `callgrind_annotate`); builds the release binaries with
# line tables (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only) so the report names source lines.
# Counts are user-space instructions only: time in the kernel (pwrite, fdatasync, the TCP
# stack) is not in them, and counting starts once the server answers, so start-up is not either
# (the load client's session set-up and clean-up are). Output goes to
# bench-results/profile-<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

clients=1; duration=20
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift ;;
    --duration) duration=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

out=bench-results/profile-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out/db"
# The same packages as bench.sh builds: cargo unifies features per set of packages, so another
# set would rebuild the dependencies in a shared CARGO_TARGET_DIR (as would another
# CARGO_PROFILE_RELEASE_DEBUG).
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -q -p codelab -p codelab-bench -p agent-runtime -p auth-service
bin=${CARGO_TARGET_DIR:-target}/release
. scripts/bench/lib.sh

AGENT_RUNTIME__DB_URL="sqlite:///$PWD/$out/db/agent_runtime.db" AGENT_RUNTIME__AUTH__DISABLED=true \
  AGENT_RUNTIME__GRPC_ADDR=127.0.0.1:$port RUST_LOG=warn \
  valgrind --tool=callgrind --separate-threads=yes --dump-instr=no --instr-atstart=no \
  --callgrind-out-file="$out/callgrind.out.%p" "$bin/agent-runtime" >"$out/server.log" 2>&1 &
pid=$!
until "$bin/codelab" sessions list --addr "$addr" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { cat "$out/server.log"; exit 1; }
  sleep 0.2
done
# Count from here on: start-up (migrations, key loading) is not part of an append.
callgrind_control --instr=on "$pid" >/dev/null 2>&1
"$bin/codelab-bench" append --clients "$clients" --duration "$duration" --warmup 0 \
  --token-count 255 --addr "$addr" --json >"$out/append.json"
stop
rm -rf "$out/db"

ops=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['ops'])" "$out/append.json")
echo "appends: $ops ($clients client(s), $duration s under callgrind)" | tee "$out/summary.txt"
busiest= most=0
for f in "$out"/callgrind.out.*-*; do
  n=$(sed -n 's/^totals: //p' "$f")
  echo "thread ${f##*-}: $(( n / ops )) instructions per append" | tee -a "$out/summary.txt"
  if [ "$n" -gt "$most" ]; then most=$n; busiest=$f; fi
done
echo "busiest thread ${busiest##*-}, most costly functions (self):" | tee -a "$out/summary.txt"
callgrind_annotate --inclusive=no "$busiest" 2>/dev/null \
  | grep -E '^ *[0-9,]+ \([ 0-9.]+%\) ' | head -15 \
  | sed -E 's#/[^ ]*/(registry/src/[^/]+|rustc/[0-9a-f]+)/##; s# \[[^]]*\]$##' | tee -a "$out/summary.txt"
echo "results in $out"
