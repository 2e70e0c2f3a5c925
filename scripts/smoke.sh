#!/usr/bin/env bash
# Smoke test of the README's "run it" commands: `codelab up` on fresh SQLite files runs
# auth-service and agent-runtime with authentication on; `codelab login` gives a token with which
# a conversation is imported and listed; SIGTERM stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test run has built the binary (integration tests need it); build it only when missing.
target=${CARGO_TARGET_DIR:-target}
[ -x "$target/debug/codelab" ] || cargo build -q -p codelab
bin=$target/debug/codelab
work=$(mktemp -d)
. scripts/ports.sh
auth_port=$(( port + 1 ))
addr="http://127.0.0.1:$port"
auth_addr="http://127.0.0.1:$auth_port"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

export AUTH_SERVICE__ADMIN_PASSWORD="smoke-admin-$RANDOM$RANDOM"
AGENT_RUNTIME__GRPC_ADDR="127.0.0.1:$port" AUTH_SERVICE__GRPC_ADDR="127.0.0.1:$auth_port" \
  "$bin" up --data-dir "$work/data" >"$work/up.log" 2>&1 &
pid=$!

# Authentication is on: without a token agent-runtime answers UNAUTHENTICATED once it is up.
up=
for _ in $(seq 1 150); do
  out=$("$bin" sessions list --addr "$addr" 2>&1 || true)
  case "$out" in *UNAUTHENTICATED*) up=1; break ;; esac
  kill -0 "$pid" 2>/dev/null || { cat "$work/up.log"; echo "codelab up exited during start-up" >&2; exit 1; }
  sleep 0.2
done
[ -n "$up" ] || { cat "$work/up.log"; echo "agent-runtime did not answer UNAUTHENTICATED" >&2; exit 1; }

TOKEN=$(CODELAB_PASSWORD="$AUTH_SERVICE__ADMIN_PASSWORD" "$bin" login --auth-addr "$auth_addr" --username admin)
[ -n "$TOKEN" ] || { echo "codelab login printed no token" >&2; exit 1; }
export CODELAB_TOKEN=$TOKEN

data=testdata/conversations/mt_bench_question.jsonl
"$bin" sessions import "$data" --addr "$addr"
"$bin" sessions list --addr "$addr" | head -5
[ -f "$work/data/agent_runtime.db" ] || { echo "no agent-runtime SQLite file under --data-dir" >&2; exit 1; }
[ -f "$work/data/auth.db" ] || { echo "no auth-service SQLite file under --data-dir" >&2; exit 1; }
grep -q "codelab login" "$work/up.log" || { echo "codelab up must say how to log in" >&2; exit 1; }
if grep -qF "$TOKEN" "$work/up.log"; then echo "the token appeared in the log" >&2; exit 1; fi

kill -TERM "$pid"
wait "$pid"
pid=
echo "smoke: ok"
