#!/usr/bin/env bash
# bench/apply_bench.sh: `vpnpt apply` against `nft -f` of the very same
# transaction, for configs with N LAN subnets and N forwards (N = 1, 1000,
# 10000 by default). Prints medians and their ratio; asserts nothing about
# speed. Root only (a network namespace of its own).
#
#   +----------------------------------------+
#   | netns bn-apply-<pid> (fresh)           |   eth0: veth (WAN), peer bn-eth0p
#   |   eth0 <-> bn-eth0p        br0         |   br0:  bridge (LAN)
#   |   vpnpt apply / nft -f, RUNS pairs     |
#   +----------------------------------------+
#
#   bench/apply_bench.sh [BUILD_DIR]        default: build-bn, else build
#   RUNS=7 SIZES="1 1000 10000" bench/apply_bench.sh build
#
# Two cases per N, each RUNS paired runs (vpnpt, then nft, back to back):
#   same     re-apply of the config that is loaded (boot, reload): the
#            table is replaced by an identical one
#   changed  the config alternates between two that differ in one subnet,
#            so that every apply loads a new table (and lists it back for
#            its drift digest); nft -f alternates the same two transactions
# The nft side is what an admin would run instead: `nft -f` of
#   add table inet vpnpt; delete table inet vpnpt; <vpnpt show>
# Both are timed as whole processes inside the namespace (the same fork
# overhead on both sides), by bash's `time`: CPU time (user + system, the
# figure to compare on a loaded machine) and wall time. One more run of each under
# /usr/bin/time -v gives the peak RSS. Before timing, it checks that the
# loaded table holds N forwards and N subnets. The configs use esp =
# "single" so that no run loads vpnpt_esp into this machine's kernel.
# CT=N (default 0) first fills the namespace's conntrack with N UDP flows
# that no rule is about (raw packets to 198.51.x.y:9000, UDP timeout raised
# to an hour; the WAN gets an address and a default route), so that the
# "changed" rows pay apply's stale-session check against a real table.
# Exit 4 (skip) without root.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/find-vpnpt.sh"
find_vpnpt apply_bench "${1:-}"
command -v nft >/dev/null || { echo "SKIP: apply_bench needs nft (package nftables)"; exit 4; }
runs=${RUNS:-7}
sizes=${SIZES:-"1 1000 10000"}
ct=${CT:-0}

ns=bn-apply-$$
tmp=$(mktemp -d /tmp/bn-apply.XXXXXX)
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name bn-eth0p
ip -n "$ns" link add br0 type bridge
ip -n "$ns" link set eth0 up
ip -n "$ns" link set br0 up
run_dir=$tmp/run

config() {  # N subnets 10.a.b.0/24 (+ EXTRA), N udp forwards 20000+i -> 10.a.b.10
  local n=$1 extra=${2:-} i
  printf '[wan]\ninterface = "eth0"\n[lan]\ninterfaces = ["br0"]\nsubnets = [\n'
  for ((i = 0; i < n; i++)); do printf '  "10.%d.%d.0/24",\n' $((i >> 8)) $((i & 255)); done
  [[ -n $extra ]] && printf '  "%s",\n' "$extra"
  printf ']\n[ipsec]\nesp = "single"\n'
  for ((i = 0; i < n; i++)); do
    printf '[[forward]]\nprotocol = "udp"\nport = %d\nto = "10.%d.%d.10"\n' $((20000 + i)) $((i >> 8)) $((i & 255))
  done
}

in_ns() { ip netns exec "$ns" "$@"; }

# times A1 B1 A2 B2: RUNS pairs; prints "vpnpt_cpu nft_cpu vpnpt_wall
# nft_wall" (ms) per pair. Run i applies config/transaction A1/B1 when i is
# even, A2/B2 when odd.
times() {
  in_ns bash -c '
    vpnpt=$1 run_dir=$2 runs=$3; shift 3
    TIMEFORMAT="%3U %3S %3R"
    for ((r = 0; r < runs; r++)); do
      if ((r % 2)); then cfg=$3 txn=$4; else cfg=$1 txn=$2; fi
      v=$( { time "$vpnpt" --run-dir "$run_dir" --config "$cfg" apply >/dev/null; } 2>&1 )
      x=$( { time nft -f "$txn"; } 2>&1 )
      echo "$v $x" | awk "{ print (\$1 + \$2) * 1000, (\$4 + \$5) * 1000, \$3 * 1000, \$6 * 1000 }"
    done' _ "$vpnpt" "$run_dir" "$runs" "$@"
}

# fill N: N UDP flows from the namespace to 198.51.x.y:9000 (raw packets;
# each a conntrack entry that no stale rule is about).
fill() {
  in_ns sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600
  in_ns python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
for i in range(int(sys.argv[1])):
    s.sendto(struct.pack("!HHHH", 1024 + i % 60000, 9000, 8, 0), ("198.51.%d.%d" % (100 + i // 60000, 1 + (i // 256) % 250), 0))
' "$1"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rss_kb() { in_ns /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "vpnpt apply against nft -f of the same transaction, in a fresh netns: $vpnpt"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r), $(nft --version)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $runs paired runs per row; medians of whole-process CPU (user + sys) and wall time, ms"
printf '%-7s %-8s %9s %9s %7s %10s %10s %7s %11s %11s %8s\n' N case vpnpt_cpu nft_cpu ratio vpnpt_wall nft_wall ratio \
  vpnpt_RSS nft_RSS text_kB
filled=0
for n in $sizes; do
  a=$tmp/a$n.toml b=$tmp/b$n.toml
  config "$n" >"$a"
  config "$n" 172.31.255.0/24 >"$b"
  chmod 0644 "$a" "$b"
  for c in a b; do
    { echo "add table inet vpnpt"; echo "delete table inet vpnpt"; "$vpnpt" --config "$tmp/$c$n.toml" show; } >"$tmp/$c$n.nft"
  done
  in_ns "$vpnpt" --run-dir "$run_dir" --config "$a" apply >/dev/null   # warm-up: creates the table
  if ((ct > 0 && !filled)); then  # conntrack is on in the namespace from here
    in_ns ip addr add 203.0.113.1/24 dev eth0
    in_ns ip route add default via 203.0.113.2
    fill "$ct"
    filled=1
    echo "conntrack entries in the namespace: $(in_ns cat /proc/sys/net/netfilter/nf_conntrack_count)"
  fi
  got_map=$(in_ns nft -j list map inet vpnpt fwd_ports 2>/dev/null | jq '[.nftables[] | select(.map) | .map.elem // [] | length] | add')
  got_set=$(in_ns nft -j list set inet vpnpt lan_nets 2>/dev/null | jq '[.nftables[] | select(.set) | .set.elem // [] | length] | add')
  if [[ $got_map != "$n" || $got_set != "$n" ]]; then
    echo "apply_bench: N=$n: table has $got_map forwards and $got_set subnets" >&2
    exit 1
  fi
  text_kb=$(( $(wc -c <"$tmp/a$n.nft") / 1024 ))
  vrss=$(rss_kb "$vpnpt" --run-dir "$run_dir" --config "$a" apply)
  nrss=$(rss_kb nft -f "$tmp/a$n.nft")
  for case in same changed; do
    if [[ $case == same ]]; then t=$(times "$a" "$tmp/a$n.nft" "$a" "$tmp/a$n.nft")
    else t=$(times "$b" "$tmp/b$n.nft" "$a" "$tmp/a$n.nft"); fi
    v=$(awk '{ print $1 }' <<<"$t" | median)
    x=$(awk '{ print $2 }' <<<"$t" | median)
    vw=$(awk '{ print $3 }' <<<"$t" | median)
    xw=$(awk '{ print $4 }' <<<"$t" | median)
    printf '%-7s %-8s %9.1f %9.1f %6.2fx %10.1f %10.1f %6.2fx %7.1f MiB %7.1f MiB %8s\n' "$n" "$case" "$v" "$x" \
      "$(bc -l <<<"$v / $x")" "$vw" "$xw" "$(bc -l <<<"$vw / $xw")" "$(bc -l <<<"$vrss / 1024")" \
      "$(bc -l <<<"$nrss / 1024")" "$text_kb"
  done
  in_ns "$vpnpt" --run-dir "$run_dir" --config "$a" apply >/dev/null
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
in_ns "$vpnpt" --run-dir "$run_dir" remove >/dev/null
