#!/usr/bin/env bash
# Runs codelab's whole test suite on SQLite and PostgreSQL.
#
# PostgreSQL tests use TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# and create a fresh database per test. They are never skipped: if the server does not answer,
# this script tries to start the local cluster and fails when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_ready() { pg_isready -q -d "$TEST_POSTGRES_URL" 2>/dev/null; }

if ! pg_ready; then
  echo "PostgreSQL at ${TEST_POSTGRES_URL%%\?*} does not answer; trying to start the local cluster" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "PostgreSQL is required for the tests and is not reachable" >&2; exit 1; }
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
