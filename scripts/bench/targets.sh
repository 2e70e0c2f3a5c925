#!/usr/bin/env bash
# The append targets of BENCHMARKS.md (8 clients >= 10x the original and, on SQLite, >= 2x the
# raw commit-each limit; 1 client >= 50 % of it) as ratios measured side by side: each of
# --rounds rounds runs, back to back, the raw driver loop and the original's W1a
# (../shared/bench/original-python) and codelab's 1- and 8-client appends, on SQLite and
# PostgreSQL, and takes each ratio within the round (scripts/bench/targets.py says how).
#
#   bash scripts/bench/targets.sh [--rounds R] [--seconds S] [--backends sqlite,pg]
#
# Needs PostgreSQL at BENCH_PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres);
# creates and drops the databases bench and bench_codelab. The original's virtualenv is made
# once in bench-results/original-venv (ORIGINAL_VENV to use another). Results go to
# bench-results/<timestamp>-targets/ (targets.txt, targets.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds|--seconds|--backends) args+=("$1" "$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)-targets
mkdir -p "$out"
cargo build --release -q -p codelab -p codelab-bench -p agent-runtime
orig=../shared/bench/original-python
venv=${ORIGINAL_VENV:-bench-results/original-venv}
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$orig/requirements.txt"; }
. scripts/ports.sh
"$venv/bin/python" scripts/bench/targets.py --bin "${CARGO_TARGET_DIR:-target}/release" \
  --original "$orig" --port "$port" --pg-admin "${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}" \
  --out "$out" "${args[@]}" | tee "$out/log.txt"
echo "results in $out"
