# Sourced by the benchmark scripts (from the repository root): picks a free loopback port for
# the server under test ($port, $addr; scripts/ports.sh) and stops that server ($pid, set by
# the caller once it has started it) when the script ends.
. scripts/ports.sh
addr=http://127.0.0.1:$port
pid=

stop() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }
trap stop EXIT
