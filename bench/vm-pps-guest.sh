#!/bin/bash
# vm-timeout: 600
# bench/vm-pps-guest.sh: the in-kernel packet rate of the router, inside the
# test VM. Not a test: bench/vm_pps.sh boots the VM with it through
# tests/vm/run and prints its figures; see bench/README.md.
#
# The lab of tests/vm (lib.sh): LAN hosts vm-h1, vm-h2 behind the router
# vm-r (vpnpt applied, esp = "mux"), peers 198.18.0.1 and up routed to the
# server vm-s, which drops every IPv4 packet at its eth0's ingress hook.
# RPS sends what the router receives on its ports to CPU 1, and what the
# server receives to CPU 0; the sender (vm_pps_send, AF_PACKET, pinned to
# CPU 0) offers frames from both hosts. CPU 1 does the router's work and
# nothing else. Forwarded = frames the router sent out of its eth0 per
# second; CPU 1's backlog drops show that the sender offered more than that.
# The router's capacity = forwarded / CPU 1's busy fraction (the inverse of
# its CPU time per forwarded packet): the rate it would forward with CPU 1
# saturated, which the sender cannot reach (it costs about as much as the
# router under TCG). The ratios are taken on it.
#
# The estimate is checked where the router is saturated: with SLOW
# non-matching nftables rules in the router's forward hook, each run once
# unthrottled (the router saturates: CPU 1 busy, backlog drops) and once
# paced at 80 % of that rate; capacity from the paced run / forwarded by the
# saturated run should be 1.
#
# The load of the host moves the figures of a boot by up to 2x (a vCPU the
# host preempts looks busy to the guest), so UDP masquerade of 1,000 flows
# runs beside the ESP runs in each phase, run by run, as the yardstick: a
# ratio across phases (100,000 mappings / 1) is taken on the ESP / UDP
# ratios of the two phases, paired by run number.
#
# In one boot, mappings bound one after the other by the no-IKE rule
# (vm_pps_send fill; checked with the module's bind_fallback counter):
#   1 mapping        ESP of that mapping; UDP of 1,000 flows and of 1 flow
#   1,000 mappings   ESP of all 1,000 (2 hosts x 500 peers) against UDP of
#                    1,000 flows between the same hosts and peers
#                    (conntrack + masquerade alone), run by run in turn
#   BIG mappings     ESP of all BIG (P pairs, 4,000 by default, BIG / P SAs
#                    each; a pair's older SAs are draining, classified the
#                    same), of the first 1,000 of them and of the first
#                    alone; UDP of 1,000 flows, of P (as many conntrack
#                    entries as the pairs) and of 1, run by run in turn
# The host's speed drifts between phases by up to 30 % even on a quiet
# machine: ratios within the third phase (all BIG against 1 or 1,000 of
# them, UDP of P flows against 1) are the ones to read for scaling; across
# phases (BIG against the 1-mapping table) only against their UDP.
# A mapping more is also a conntrack entry more (one per pair, in its zone):
# UDP of as many flows shows what that costs any NAT router, so the module's
# own scaling is ESP N / ESP 1 against UDP of as many flows / UDP 1 flow.
# Each figure RUNS times, SECS seconds each, IP packets of LEN bytes; the
# script prints every run, then the medians and the ratios with their
# spread (min..max over the runs, paired by run number).
. "$VPNPT_VM_TESTS/lib.sh"

RUNS=7 SECS=3 LEN=64 BIG=100000 P=4000 SLOW=800 PROFILE=0 MAXMAP=0
[ -f "$VPNPT_VM_TESTS/vm-pps.conf" ] && . "$VPNPT_VM_TESTS/vm-pps.conf"
[ "$MAXMAP" -gt 0 ] || MAXMAP=$((BIG + 1000))
[ "$MAXMAP" -gt "$BIG" ] || fail "MAXMAP=$MAXMAP: must be more than BIG=$BIG"
# mapping k is pair k % P's: P below 1,000 would change the 1,000-mapping phase
[ "$P" -ge 1000 ] && [ "$P" -le 4000 ] || fail "P=$P: 1,000 to 4,000 pairs (4,096 zones)"
send=$VPNPT_VM_TESTS/vm_pps_send
need_vpnpt
[ -x "$send" ] || skip "no $send (bench/vm_pps.sh builds it)"
lab_up 2 || fail "lab"
lab_many_peers || fail "routes to 198.18.0.0/15"
esp_ready || fail "esp4"   # the hosts drop the fill's ESP without an ICMP error
mux_up mux $'[ipsec.mux]\nmax_mappings = '$MAXMAP$'\nmax_per_host = 1048576\nmax_per_peer = 1048576\nidle_timeout = 604800\ndrain_timeout = 3600'
# RPS on every router port (the fill's two directions in one backlog, in order)
n $R sh -c 'for i in lan1 lan2 eth0; do echo 2 > /sys/class/net/$i/queues/rx-0/rps_cpus; done' || fail "RPS"
# ... and the server's drops to CPU 0 (with the sender), not to CPU 1
n $S sh -c 'echo 1 > /sys/class/net/eth0/queues/rx-0/rps_cpus' || fail "server RPS"
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
log "kernel $(uname -r), $(nproc) CPUs, IP packets of $LEN bytes, $RUNS runs of ${SECS}s per figure, max_mappings $MAXMAP, BIG $BIG on $P pairs"

counters() { n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" counters; }
ctr() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
fill_to() {    # fill_to FROM TO: bind mappings FROM..TO-1, check bind_fallback = TO
	local c t0=$(date +%s)
	"$send" fill "$1" "$2" $P "$rlan" "$rwan" > /dev/null || fail "fill $1..$2"
	c=$(counters)
	[ "$(ctr "$c" bind_fallback)" = "$2" ] || fail "fill to $2: $c"
	log "$2 mappings bound ($(( $(date +%s) - t0 ))s; mem_bytes=$(ctr "$c" mem_bytes) pairs=$(ctr "$c" pairs))"
}
# run NAME PROTO M [RATE]: one timed run, its line kept in /tmp/pps.out as
# "NAME forwarded sent drops cpu1_busy capacity"
run_one() {
	local out
	out=$(PPS_NAME=$1 "$send" blast "$2" "$3" $P "$SECS" "$LEN" "$rlan" ${4:-0}) || fail "blast $*"
	echo "  $1: $out"
	awk -v n="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print n, v["forwarded_pps"], v["sent_pps"], v["cpu1_backlog_drops"], v["cpu1_busy"], v["capacity_pps"] }' <<<"$out" >> /tmp/pps.out
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
warm udp 1000
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do run_one esp_1 esp 1; run_one udp_ph1 udp 1000; run_one udp_1 udp 1; done
no_slow_path "$c0"

fill_to 1 1000
warm esp 1000
warm udp 1000
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do run_one esp_1k esp 1000; run_one udp_1k udp 1000; done
no_slow_path "$c0"

# PROFILE=1: where CPU 1's time goes, ESP against UDP of 1,000: the kernel's
# function_graph tracer on CPU 1 during a blast, restricted to the functions
# of the router's path below (perf's cpu-clock samples do not land in softirq
# work in this TCG guest). Each line: function, calls per forwarded packet,
# mean time per call (its callees included, tracing's own cost too).
PROFILE_FUNCS="ip_rcv vpnpt_esp_hook mux_parse mux_classify inet_addr_type ipv4_conntrack_defrag ipv4_conntrack_in nf_nat_ipv4_pre_routing nf_nat_ipv4_in
	ip_route_input_noref ip_forward nft_do_chain_inet nft_do_chain_ipv4 nf_nat_ipv4_out ipv4_confirm
	ip_finish_output2 __dev_queue_xmit br_handle_frame"
if [ "$PROFILE" = 1 ]; then
	t=/sys/kernel/tracing
	[ -d $t/events ] || mount -t tracefs nodev $t
	for proto in esp udp; do
		echo 0 > $t/tracing_on
		echo nop > $t/current_tracer
		: > $t/set_ftrace_filter
		for f in $PROFILE_FUNCS; do
			echo "$f" >> $t/set_ftrace_filter 2> /dev/null || log "PROFILE: $f is not traceable here"
		done
		grep -q . $t/set_ftrace_filter || fail "none of the functions to profile is traceable"
		echo 2 > $t/tracing_cpumask
		echo 65536 > $t/buffer_size_kb
		echo function_graph > $t/current_tracer
		echo funcgraph-tail > $t/trace_options
		: > $t/trace
		fw0=$(n $R cat /sys/class/net/eth0/statistics/tx_packets)
		echo 1 > $t/tracing_on
		"$send" blast $proto 1000 $P 1 "$LEN" "$rlan" > /dev/null
		echo 0 > $t/tracing_on
		fw=$(( $(n $R cat /sys/class/net/eth0/statistics/tx_packets) - fw0 ))
		awk -v fw="$fw" -v proto=$proto '
			/ us / {
				for (i = 1; i <= NF; i++) if ($i == "us") d = $(i - 1)
				# "name();" or "} /* name */"; in a module "name [module]"
				if (match($0, /\/\* [A-Za-z0-9_.]+( \[[A-Za-z0-9_]+\])? \*\//)) f = substr($0, RSTART + 3, RLENGTH - 6)
				else if (match($0, /[A-Za-z0-9_.]+( \[[A-Za-z0-9_]+\])?\(\);/)) f = substr($0, RSTART, RLENGTH - 3)
				else next
				sub(/ \[.*/, "", f)
				n[f]++; s[f] += d
			}
			END { for (f in n) printf "PROFILE %s %-26s %6.2f calls/packet %9.2f us/call\n", proto, f, n[f] / fw, s[f] / n[f] }' $t/trace | sort -k6,6nr
		echo nop > $t/current_tracer
	done
	: > $t/set_ftrace_filter
fi

# The check of the estimate: the router made slow enough to saturate.
slow_rules() {
	local i
	printf 'table ip vm_pps_slow {\n\tchain slow {\n\t\ttype filter hook forward priority -10; policy accept;\n'
	for ((i = 1; i <= SLOW; i++)); do printf '\t\tip daddr 10.255.%d.%d counter\n' $((i / 256)) $((i % 256)); done
	printf '\t}\n}\n'
}
if [ "$SLOW" -gt 0 ]; then
	slow_rules | n $R nft -f - || fail "slow rules"
	warm esp 1000
	for ((r = 1; r <= RUNS; r++)); do
		run_one slow_sat esp 1000
		run_one slow_paced esp 1000 "$(tail -1 /tmp/pps.out | awk '{ printf "%d", $2 * 0.8 }')"
	done
	n $R nft delete table ip vm_pps_slow || fail "slow rules gone"
fi

fill_to 1000 "$BIG"
warm esp "$BIG"
warm udp "$P"
c0=$(counters)
for ((r = 1; r <= RUNS; r++)); do
	run_one esp_big esp "$BIG"; run_one esp_big_hot1k esp 1000; run_one esp_big_hot1 esp 1
	run_one udp_ph3 udp 1000; run_one udp_big udp "$P"; run_one udp_1_ph3 udp 1
done
no_slow_path "$c0"
log "module: $(counters | tr ' ' '\n' | grep -E '^(esp_out|esp_out_new_spi|bind_fallback|bind_ambiguous|pairs|peers|hosts|mem_bytes)=' | tr '\n' ' ')"

# Medians, and ratios paired by run number with their min..max.
awk -v big="$BIG" -v pairs="$P" -f "$VPNPT_VM_TESTS/vm-pps-ratios.awk" /tmp/pps.out
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
[ $slow = 0 ] || fail "some timed packets left the fast path (above)"
ok "vm pps bench done"
exit 0
