#!/usr/bin/env bash
# bench/apply_bench.sh: how long `vpnpt apply` takes, and its peak RSS, for
# configs with N LAN subnets and N forwards (N = 1, 100, 1000 by default).
# Root only (a network namespace of its own); prints figures, asserts nothing
# about speed.
#
#   +----------------------------------------+
#   | netns bn-apply-<pid> (fresh)           |   eth0: veth (WAN), peer bn-eth0p
#   |   eth0 <-> bn-eth0p        br0         |   br0:  bridge (LAN)
#   |   vpnpt apply, RUNS times per N        |
#   +----------------------------------------+
#
#   bench/apply_bench.sh [BUILD_DIR]        default: build-bn, else build
#   RUNS=10 SIZES="1 100 1000" bench/apply_bench.sh build
#
# Each N: one warm-up apply (creates the table), then RUNS timed applies, each
# replacing the table in one transaction as a config change would; timed with
# hyperfine when installed, else date +%s%N around each run inside the
# namespace.  One more run under /usr/bin/time -v gives the peak RSS.  The
# config uses esp = "single" so that no run loads the vpnpt_esp module into
# this machine's kernel.  Exit 4 (skip) without root.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
if [[ -z $build ]]; then
  for d in "$here/build-bn" "$here/build"; do [[ -x $d/vpnpt ]] && { build=$d; break; }; done
fi
vpnpt=$(cd "${build:-.}" 2>/dev/null && pwd)/vpnpt
[[ -x $vpnpt ]] || { echo "apply_bench: no vpnpt binary in '${build:-}' (build first, or pass the build dir)" >&2; exit 2; }
if [[ $(id -u) != 0 ]]; then echo "SKIP: apply_bench needs root (network namespace)"; exit 4; fi
runs=${RUNS:-10}
sizes=${SIZES:-"1 100 1000"}

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

config() {  # N subnets 10.a.b.0/24, N udp forwards 20000+i -> 10.a.b.10
  local n=$1 i
  printf '[wan]\ninterface = "eth0"\n[lan]\ninterfaces = ["br0"]\nsubnets = [\n'
  for ((i = 0; i < n; i++)); do printf '  "10.%d.%d.0/24",\n' $((i >> 8)) $((i & 255)); done
  printf ']\n[ipsec]\nesp = "single"\n'
  for ((i = 0; i < n; i++)); do
    printf '[[forward]]\nprotocol = "udp"\nport = %d\nto = "10.%d.%d.10"\n' $((20000 + i)) $((i >> 8)) $((i & 255))
  done
}

in_ns() { ip netns exec "$ns" "$@"; }

have_hyperfine=0
command -v hyperfine >/dev/null && have_hyperfine=1
have_time=0
[[ -x /usr/bin/time ]] && have_time=1

echo "vpnpt apply in a fresh netns: $vpnpt"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); runs per N: $runs; timer: $( ((have_hyperfine)) && echo hyperfine || echo 'date +%s%N')"
printf '%-6s %10s %10s %10s %12s %10s %8s\n' N mean_ms min_ms max_ms peak_rss_kB text_kB rules
for n in $sizes; do
  cfg=$tmp/c$n.toml
  config "$n" >"$cfg"
  in_ns "$vpnpt" --run-dir "$run_dir" --config "$cfg" apply >/dev/null   # warm-up: creates the table
  # the work really happened: N elements in the map and in the set
  got_map=$(in_ns nft -j list map inet vpnpt fwd_ports 2>/dev/null | jq '[.nftables[] | select(.map) | .map.elem // [] | length] | add')
  got_set=$(in_ns nft -j list set inet vpnpt lan_nets 2>/dev/null | jq '[.nftables[] | select(.set) | .set.elem // [] | length] | add')
  if [[ $got_map != "$n" || $got_set != "$n" ]]; then
    echo "apply_bench: N=$n: table has $got_map forwards and $got_set subnets" >&2
    exit 1
  fi
  text_kb=$(( $(in_ns "$vpnpt" --run-dir "$run_dir" --config "$cfg" show | wc -c) / 1024 ))
  rules=$(in_ns nft -j list table inet vpnpt 2>/dev/null | jq '[.nftables[] | select(.rule)] | length')

  if ((have_hyperfine)); then
    in_ns hyperfine -N --warmup 0 --runs "$runs" --export-json "$tmp/h$n.json" \
      "$vpnpt --run-dir $run_dir --config $cfg apply" >/dev/null 2>&1
    read -r mean min max < <(jq -r '.results[0] | "\(.mean*1000) \(.min*1000) \(.max*1000)"' "$tmp/h$n.json")
  else
    times=$(in_ns bash -c '
      for ((r = 0; r < $2; r++)); do
        s=$(date +%s%N); "$0" --run-dir "$3" --config "$1" apply >/dev/null; e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
      done' "$vpnpt" "$cfg" "$runs" "$run_dir")
    read -r mean min max < <(awk '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
      END { printf "%.3f %.3f %.3f\n", s / NR / 1000, lo / 1000, hi / 1000 }' <<<"$times")
  fi
  rss=n/a
  if ((have_time)); then
    in_ns /usr/bin/time -v -o "$tmp/time$n" "$vpnpt" --run-dir "$run_dir" --config "$cfg" apply >/dev/null
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time$n")
  fi
  printf '%-6s %10.1f %10.1f %10.1f %12s %10s %8s\n' "$n" "$mean" "$min" "$max" "$rss" "$text_kb" "$rules"
done
((have_time)) || echo "(peak RSS needs /usr/bin/time: apt-get install time)"
in_ns "$vpnpt" --run-dir "$run_dir" remove >/dev/null
