#!/bin/bash
# vm-timeout: 600
# bench/vm-pps-guest.sh: the in-kernel packet rate of the router, inside the
# test VM. Not a test: bench/vm_pps.sh boots the VM with it through
# tests/vm/run and prints its figures; see bench/README.md.
#
# The lab of tests/vm (lib.sh): LAN hosts vm-h1, vm-h2 behind the router
# vm-r (vpnpt applied, esp = "mux"), peers 198.18.0.1 and up routed to the
# server vm-s, which drops every IPv4 packet at its eth0's ingress hook.
# RPS sends what the router receives on its ports to CPU 1; the sender
# (vm_pps_send, AF_PACKET, pinned to CPU 0) offers frames from both hosts.
# Forwarded = frames the router sent out of its eth0 per second; CPU 1's
# backlog drops show that the sender offered more than that.
#
# In one boot, mappings bound one after the other by the no-IKE rule
# (vm_pps_send fill; checked with the module's bind_fallback counter):
#   1 mapping        ESP of that mapping
#   1,000 mappings   ESP of all 1,000 (2 hosts x 500 peers) against UDP of
#                    1,000 flows between the same hosts and peers
#                    (conntrack + masquerade alone), run by run in turn
#   BIG mappings     ESP of all BIG (4,000 pairs, BIG / 4,000 SAs each; a
#                    pair's older SAs are draining, classified the same),
#                    and of the first 1,000 of them
# Each figure RUNS times, SECS seconds each, IP packets of LEN bytes; the
# script prints every run, then the medians and the ratios with their
# spread (min..max over the runs, paired by run number).
. "$VPNPT_VM_TESTS/lib.sh"

RUNS=5 SECS=3 LEN=64 BIG=100000 P=4000
[ -f "$VPNPT_VM_TESTS/vm-pps.conf" ] && . "$VPNPT_VM_TESTS/vm-pps.conf"
send=$VPNPT_VM_TESTS/vm_pps_send
need_vpnpt
[ -x "$send" ] || skip "no $send (bench/vm_pps.sh builds it)"
lab_up 2 || fail "lab"
lab_many_peers || fail "routes to 198.18.0.0/15"
esp_ready || fail "esp4"   # the hosts drop the fill's ESP without an ICMP error
mux_up mux $'[ipsec.mux]\nmax_mappings = '$((BIG + 1000))$'\nmax_per_host = 1048576\nmax_per_peer = 1048576\nidle_timeout = 604800\ndrain_timeout = 3600'
# RPS on every router port (the fill's two directions in one backlog, in order)
n $R sh -c 'for i in lan1 lan2 eth0; do echo 2 > /sys/class/net/$i/queues/rx-0/rps_cpus; done' || fail "RPS"
n $S nft -f - <<-EOF || fail "server ingress drop"
	table netdev vm_pps {
		chain in {
			type filter hook ingress device eth0 priority 0; policy accept;
			meta protocol ip counter drop
		}
	}
EOF
rlan=$(n $R cat /sys/class/net/br0/address)
rwan=$(n $R cat /sys/class/net/eth0/address)
log "kernel $(uname -r), $(nproc) CPUs, IP packets of $LEN bytes, $RUNS runs of ${SECS}s per figure"

counters() { n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" counters; }
ctr() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
fill_to() {    # fill_to FROM TO: bind mappings FROM..TO-1, check bind_fallback = TO
	local c t0=$(date +%s)
	"$send" fill "$1" "$2" $P "$rlan" "$rwan" > /dev/null || fail "fill $1..$2"
	c=$(counters)
	[ "$(ctr "$c" bind_fallback)" = "$2" ] || fail "fill to $2: $c"
	log "$2 mappings bound ($(( $(date +%s) - t0 ))s; mem_bytes=$(ctr "$c" mem_bytes) pairs=$(ctr "$c" pairs))"
}
# run NAME PROTO M: one timed run, its line kept in /tmp/pps.out as "NAME forwarded sent drops"
run_one() {
	local out
	out=$("$send" blast "$2" "$3" $P "$SECS" "$LEN" "$rlan") || fail "blast $*"
	echo "  $1: $out"
	awk -v n="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print n, v["forwarded_pps"], v["sent_pps"], v["cpu1_backlog_drops"] }' <<<"$out" >> /tmp/pps.out
}
warm() { "$send" blast "$1" "$2" $P 0.5 "$LEN" "$rlan" > /dev/null; }   # conntrack entries made
slow=0
no_slow_path() {   # ESP_OUT_NEW_SPI and BIND_AMBIGUOUS unchanged since $1 (the blasts hit bound SAs)
	local c k
	c=$(counters)
	[ "$(ctr "$c" esp_out_new_spi)" = "$(ctr "$1" esp_out_new_spi)" ] && [ "$(ctr "$c" bind_ambiguous)" = 0 ] && return 0
	slow=1
	for k in esp_out_new_spi window_opened expired_idle expired_pending drain_revived bind_ambiguous; do
		printf '%s %s -> %s; ' "$k" "$(ctr "$1" $k)" "$(ctr "$c" $k)"
	done
	echo "(a blast left the fast path: figures above are suspect)"
}
: > /tmp/pps.out

fill_to 0 1
warm esp 1
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do run_one esp_1 esp 1; done
no_slow_path "$c0"

fill_to 1 1000
warm esp 1000
warm udp 1000
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do run_one esp_1k esp 1000; run_one udp_1k udp 1000; done
no_slow_path "$c0"

fill_to 1000 "$BIG"
warm esp "$BIG"
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do run_one esp_big esp "$BIG"; run_one esp_big_hot1k esp 1000; done
no_slow_path "$c0"
log "module: $(counters | tr ' ' '\n' | grep -E '^(esp_out|esp_out_new_spi|bind_fallback|bind_ambiguous|pairs|peers|hosts|mem_bytes)=' | tr '\n' ' ')"

# Medians, and ratios paired by run number with their min..max.
awk -v big="$BIG" -v len="$LEN" -v runs="$RUNS" '
	{ k = $1; c[k]++; f[k, c[k]] = $2; s[k, c[k]] = $3; d[k, c[k]] += $4 }
	function med(k,   n, i, j, t, a) {
		n = c[k]; for (i = 1; i <= n; i++) a[i] = f[k, i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function line(k, what,   i, lo, hi, sent, drops) {
		lo = hi = f[k, 1]; sent = 0; drops = 0
		for (i = 1; i <= c[k]; i++) { if (f[k, i] < lo) lo = f[k, i]; if (f[k, i] > hi) hi = f[k, i]; sent += s[k, i]; drops += d[k, i] }
		printf "PPS %-14s %-44s forwarded median %7.0f pps (min %.0f, max %.0f), sender offered %.0f pps, backlog drops %d\n",
			k, what, med(k), lo, hi, sent / c[k], drops
	}
	function ratio(a, b, what,   i, r, lo, hi, x, n, j, t) {
		n = c[a] < c[b] ? c[a] : c[b]
		for (i = 1; i <= n; i++) x[i] = f[a, i] / f[b, i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
		r = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
		printf "RATIO %-50s %.3f (runs: min %.3f, max %.3f, n=%d)\n", what, r, x[1], x[n], n
	}
	END {
		line("esp_1", "ESP, 1 mapping (1 host)")
		line("esp_1k", "ESP, 1,000 mappings (2 hosts x 500 peers)")
		line("udp_1k", "UDP masquerade, 1,000 flows (same hosts, peers)")
		line("esp_big", sprintf("ESP, %d mappings, traffic on all", big))
		line("esp_big_hot1k", sprintf("ESP, %d mappings, traffic on 1,000", big))
		ratio("esp_1k", "udp_1k", "ESP 1,000 mappings / UDP masquerade 1,000 flows")
		ratio("esp_big", "esp_1", sprintf("ESP %d mappings (all) / ESP 1 mapping", big))
		ratio("esp_big_hot1k", "esp_1k", sprintf("ESP %d mappings (1,000 hot) / ESP 1,000", big))
		ratio("esp_1k", "esp_1", "ESP 1,000 mappings / ESP 1 mapping")
	}' /tmp/pps.out
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
[ $slow = 0 ] || fail "some timed packets left the fast path (above)"
ok "vm pps bench done"
exit 0
