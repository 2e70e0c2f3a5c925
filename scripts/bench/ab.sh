#!/usr/bin/env bash
# Two agent-runtime builds side by side: each round runs the same codelab-bench workload against
# build A and build B on fresh databases, the order swapped every round, and prints each build's
# median and range and the per-round ratio B / A (BENCHMARKS.md, "Side by side").
#
#   bash scripts/bench/ab.sh A_BIN B_BIN [--rounds 5] [--seconds 10] [--backends "sqlite postgres"]
#                            [--workload "append --clients 8 --token-count 255"]
#
# Build the two commits' `agent-runtime` in release first (e.g. in two git worktrees). The client
# is this checkout's release `codelab-bench`. Needs PostgreSQL at BENCH_PG_ADMIN (default
# postgres://postgres@127.0.0.1:5432/postgres); creates and drops the database bench_ab.
# Results go to bench-results/ab-<timestamp>/ (ab.tsv: backend, round, build, ops/s).
set -euo pipefail
cd "$(dirname "$0")/../.."
a_bin=$(realpath "$1"); b_bin=$(realpath "$2"); shift 2
rounds=5; seconds=10; backends="sqlite postgres"; workload="append --clients 8 --token-count 255"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --backends) backends=$2; shift ;;
    --workload) workload=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -q -p codelab-bench -p codelab
bin=${CARGO_TARGET_DIR:-target}/release
out=bench-results/ab-$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d)
mkdir -p "$out"
. scripts/bench/lib.sh

one() { # $1 = build label (A|B), $2 = binary, $3 = backend, $4 = round
  local url
  if [ "$3" = sqlite ]; then
    rm -f "$work"/ab.db*; url="sqlite://$work/ab.db"
  else
    psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_ab WITH (FORCE)' -c 'CREATE DATABASE bench_ab'
    url="${PG_ADMIN%/*}/bench_ab?sslmode=disable"
  fi
  serve_agent_runtime "$2" "$url" "$out/$1-$3-$4.log"
  # shellcheck disable=SC2086 # the workload is a list of arguments
  "$bin/codelab-bench" $workload --addr "$addr" --duration "$seconds" --json >"$out/$1-$3-$4.json"
  stop
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["results"][0]["ops_per_sec"]))' \
    "$out/$1-$3-$4.json" | sed "s/^/$3\t$4\t$1\t/" | tee -a "$out/ab.tsv"
}

for r in $(seq 1 "$rounds"); do
  for backend in $backends; do
    if [ $((r % 2)) = 1 ]; then one A "$a_bin" "$backend" "$r"; one B "$b_bin" "$backend" "$r"
    else one B "$b_bin" "$backend" "$r"; one A "$a_bin" "$backend" "$r"; fi
  done
done
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS bench_ab WITH (FORCE)'
rm -rf "$work"
python3 - "$out/ab.tsv" <<'PY' | tee "$out/summary.txt"
import statistics as st, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
for backend in dict.fromkeys(r[0] for r in rows):
    runs = {b: {r[1]: int(r[3]) for r in rows if r[0] == backend and r[2] == b} for b in "AB"}
    ratios = sorted(runs["B"][k] / runs["A"][k] for k in runs["A"] if k in runs["B"])
    line = [backend]
    for b in "AB":
        v = list(runs[b].values())
        line.append(f"{b} median {st.median(v):,.0f}/s ({min(v):,}-{max(v):,})")
    line.append(f"B/A per round median {st.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})")
    print("; ".join(line))
PY
echo "results in $out"
