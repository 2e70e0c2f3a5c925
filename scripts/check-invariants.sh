#!/usr/bin/env bash
# Checks the invariants ARCHITECTURE.md promises:
# 1. prost/tonic types stop at each service's edges: its `grpc` module, auth-service's HTTP edge
#    (`oauth_http`, which reads the peer address tonic records), and the server wiring;
# 2. only db-core names a backend (no diesel::pg / diesel::sqlite / AsyncPgConnection /
#    SqliteConnection in service code outside tests).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
for crate in crates/agent-runtime crates/auth-service; do
  hits=$(grep -rnE 'codelab_proto|tonic::|prost' "$crate/src" \
    | grep -vE "^$crate/src/(grpc/|oauth_http/|server\.rs|main\.rs|auth/(mod\.rs|sources/grpc\.rs))" | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
  if [ -n "$hits" ]; then echo "prost/tonic outside the grpc edge:"; echo "$hits"; fail=1; fi
  hits=$(grep -rnE 'diesel::pg|diesel::sqlite|AsyncPgConnection|SqliteConnection|SyncConnectionWrapper' "$crate/src" \
    | grep -vE 'check_for_backend' | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
  if [ -n "$hits" ]; then echo "backend named outside db-core:"; echo "$hits"; fail=1; fi
done
exit $fail
