# Sourced by the benchmark scripts (from the repository root): picks a free loopback port for
# the server under test ($port, $addr; scripts/ports.sh) and stops that server ($pid, set by
# the caller once it has started it) when the script ends.
. scripts/ports.sh
addr=http://127.0.0.1:$port
pid=

stop() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }
trap stop EXIT

# Starts an agent-runtime binary on database URL $2 with auth off, its log in file $3, and
# returns once it answers ($pid is set). $1 = the binary; more VAR=value arguments are added to
# its environment. Needs $bin (the release folder holding `codelab`).
serve_agent_runtime() {
  local server=$1 url=$2 log=$3; shift 3
  env AGENT_RUNTIME__DB_URL="$url" AGENT_RUNTIME__AUTH__DISABLED=true \
    AGENT_RUNTIME__GRPC_ADDR=127.0.0.1:$port RUST_LOG=warn "$@" "$server" >"$log" 2>&1 &
  pid=$!
  until "$bin/codelab" sessions list --addr "$addr" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.005
  done
}
