#!/usr/bin/env bash
# Reruns the auth figures of BENCHMARKS.md (release build): access-token verifications per
# second on one core in agent-runtime's verifier, refresh- and password-grant latency of
# auth-service on SQLite, and agent-runtime's latency while 8 clients log in at once.
#
#   bash scripts/bench/auth.sh
#
# Everything runs in one process on temporary SQLite files; results are printed and saved under
# bench-results/<timestamp>-auth.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench-results
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)-auth.txt
RUST_LOG=${RUST_LOG:-warn} cargo run --release -q -p auth-service --example auth_bench | tee "$out"
echo "saved to $out"
