# Sourced by the scripts that start servers (smoke.sh, bench-lib.sh): sets $port to a free
# loopback TCP port with $port + 1 free too (for a second service).
#
# The ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
# usually 32768–60999), which the kernel hands out as the local ports of outgoing connections
# (the test suite's, a database client's): a port chosen inside it can be taken by such a
# connection between the choice and the server's bind. A port is used only when no socket,
# listening or connected, has it as its local port (`ss`).
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
# A range that leaves too little room below it: choose from 10000–39999.
[ "$ephemeral_low" -gt 12000 ] 2>/dev/null || ephemeral_low=40001
in_use=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' || true)
for _ in $(seq 1 100); do
  port=$(( 10000 + RANDOM % (ephemeral_low - 10001) ))
  grep -qxE "$port|$(( port + 1 ))" <<<"$in_use" || break
done
unset _ ephemeral_low in_use
