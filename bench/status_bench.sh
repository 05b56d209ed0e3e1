#!/usr/bin/env bash
# bench/status_bench.sh: `vpnpt status --json` (and the text view) against
# `conntrack -L` with N conntrack entries in the router, half of them
# NAT-T sessions vpnpt reports and half plain NATed UDP it does not.
# Prints medians, their ratio and peak RSS; asserts nothing about speed.
# Root only (network namespaces of its own).
#
#   +-------------------+    +---------------------------+    +-----------------+
#   | bs-lan-<pid>      |    | bs-router-<pid>           |    | bs-wan-<pid>    |
#   |  eth0 192.168.1.2 |----| eth1 192.168.1.1          |    |                 |
#   |  sends N/2 UDP to |    |  vpnpt apply (masquerade) |    |                 |
#   |  :4500, N/2 :9000 |    | eth0 203.0.113.1          |----| 203.0.113.2     |
#   +-------------------+    +---------------------------+    |  drops input    |
#                                                             +-----------------+
#
#   bench/status_bench.sh [BUILD_DIR]       default: build-bn, else build
#   RUNS=7 SIZES="100000" bench/status_bench.sh build
#
# Each packet has its own source port, so each makes one SNAT conntrack
# entry in the router (UDP timeout raised to an hour there so none expires
# while timing). Timed as whole processes with date +%s%N inside the router
# namespace, vpnpt and conntrack back to back in each of RUNS pairs.
# Exit 4 (skip) without root, conntrack or python3.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/find-vpnpt.sh"
find_vpnpt status_bench "${1:-}"
for tool in conntrack python3; do
  command -v $tool >/dev/null || { echo "SKIP: status_bench needs $tool"; exit 4; }
done
runs=${RUNS:-7}
sizes=${SIZES:-"100000"}

lan=bs-lan-$$ router=bs-router-$$ wan=bs-wan-$$
tmp=$(mktemp -d /tmp/bs-status.XXXXXX)
cleanup() {
  for n in "$lan" "$router" "$wan"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

in_r() { ip netns exec "$router" "$@"; }
for n in "$lan" "$router" "$wan"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$router" link add eth1 type veth peer name eth0 netns "$lan"
ip -n "$router" link add eth0 type veth peer name eth0 netns "$wan"
ip -n "$lan" addr add 192.168.1.2/24 dev eth0
ip -n "$router" addr add 192.168.1.1/24 dev eth1
ip -n "$router" addr add 203.0.113.1/24 dev eth0
ip -n "$wan" addr add 203.0.113.2/24 dev eth0
for n in "$lan" "$router" "$wan"; do ip -n "$n" link set eth0 up; done
ip -n "$router" link set eth1 up
ip -n "$lan" route add default via 192.168.1.1
in_r sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_udp_timeout=3600
ip netns exec "$wan" nft 'table inet sink { chain input { type filter hook input priority 0; policy drop; }; }'

cfg=$tmp/vpnpt.toml
printf '[wan]\ninterface = "eth0"\n[lan]\ninterfaces = ["eth1"]\nsubnets = ["192.168.1.0/24"]\n[ipsec]\nesp = "single"\n' >"$cfg"
chmod 0644 "$cfg"
in_r "$vpnpt" --run-dir "$tmp/run" --config "$cfg" apply >/dev/null

# fill N: N/2 flows to :4500 (NAT-T, reported) and N/2 to :9000 (not), each
# from its own source port (and a second source address past 60,000).
fill() {
  ip netns exec "$lan" python3 - "$1" <<'EOF'
import socket, struct, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
for i in range(n):
    dport = 4500 if i % 2 == 0 else 9000
    sport = 1024 + (i // 2) % 60000
    dst = "203.0.113.2" if (i // 2) < 60000 else "203.0.113.3"
    s.sendto(struct.pack("!HHHH", sport, dport, 8, 0), (dst, 0))
EOF
}
ip -n "$router" route add 203.0.113.3/32 dev eth0 2>/dev/null || true
ip -n "$wan" addr add 203.0.113.3/24 dev eth0 2>/dev/null || true

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rss_kb() { in_r /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "vpnpt status against conntrack -L in the router namespace: $vpnpt"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r), $(conntrack --version)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $runs paired runs per row; medians of whole-process wall time"
printf '%-8s %-14s %10s %12s %7s %11s %11s\n' entries what vpnpt_ms conntrack_ms ratio vpnpt_RSS ct_RSS
for n in $sizes; do
  in_r conntrack -F 2>/dev/null
  fill "$n"
  have=$(in_r conntrack -C)
  if ((have < n * 95 / 100)); then echo "status_bench: only $have of $n entries in the router" >&2; exit 1; fi
  reported=$(in_r "$vpnpt" --run-dir "$tmp/run" --config "$cfg" status --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(h["sessions"]) for h in d["hosts"]))')
  crss=$(rss_kb conntrack -L)
  for what in "status --json" "status"; do
    t=$(in_r bash -c '
      for ((r = 0; r < $3; r++)); do
        s=$(date +%s%N); "$1" --run-dir "$2/run" --config "$2/vpnpt.toml" '"$what"' >/dev/null; m=$(date +%s%N)
        conntrack -L >/dev/null 2>&1; e=$(date +%s%N)
        echo $(( (m - s) / 1000 )) $(( (e - m) / 1000 ))
      done' _ "$vpnpt" "$tmp" "$runs")
    v=$(awk '{ print $1 }' <<<"$t" | median)
    x=$(awk '{ print $2 }' <<<"$t" | median)
    vrss=$(rss_kb "$vpnpt" --run-dir "$tmp/run" --config "$cfg" $what)
    printf '%-8s %-14s %10.1f %12.1f %6.2fx %7.1f MiB %7.1f MiB\n' "$have" "$what" "$(bc -l <<<"$v / 1000")" \
      "$(bc -l <<<"$x / 1000")" "$(bc -l <<<"$v / $x")" "$(bc -l <<<"$vrss / 1024")" "$(bc -l <<<"$crss / 1024")"
  done
  echo "(vpnpt reports $reported sessions of the $have entries)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
