#!/bin/bash
# vm-timeout: 600
# (the default N of 20,000 takes well under 3 min; the deadline is for
# dump-n = 100000, see below)
# Dumps that scale (issue 10): GET_MAPPINGS with many mappings returns each
# once, and a message costs the same at the end of the dump as at its start
# (the dump resumes where the last message ended; it used to walk the list
# from its head under the lock for every message).
#
#   vm-h1 ── lan1 [ vm-r: enabled, pending_timeout 600 ] eth0 (dummy, WAN;
#                                                         198.18.0.0/15 routed to it)
#
# vm-h1 sends ESP on $N new SPIs (spoof.py spi=seq) to $NP addresses beyond
# the dummy WAN: each SPI is a pending mapping (esp-first windows, all the
# host's, none expires while the test runs). genl.py dump-check reads the
# dump and times each read (one skb of up to 32 KiB, about 200 mappings;
# the kernel fills the next one in it): no mapping twice, none missing (count = esp_out_new_spi),
# no NLM_F_DUMP_INTR, and the median read of the last fifth of the dump at
# most 2x that of the first fifth.
# Given a file dump-n holding another N (VPNPT_VM_FILES=<dir>/dump-n, for
# the figures in bench/README.md: tests/vm/run empties its work dir) it also times `vpnpt status --json` against `conntrack
# -L` of as many conntrack entries (UDP to N addresses, N < 131,072), medians of 3, and
# their peak RSS; also of a controller put beside the tests as vpnpt-before
# (VPNPT_VM_FILES), to compare.
. "$VPNPT_VM_TESTS/lib.sh"

dump_n=$VPNPT_VM_TESTS/dump-n
N=$(cat "$dump_n" 2>/dev/null || echo 20000)
NP=${DUMP_PEERS:-1000}
need_module
rgenl() { n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" "$@"; }

printf 'netns add %s\n' $R vm-h1 | ip -batch - || fail "namespaces"
_lab_ns=($R vm-h1)
printf '%s\n' "link set lo up" "link add eth0 type dummy" "link set eth0 up" \
	"addr add $WAN_R/24 dev eth0" "route add 198.18.0.0/15 dev eth0" \
	"link add lan1 type veth peer name eth0 netns vm-h1" "link set lan1 up" \
	"addr add 192.168.1.1/24 dev lan1" | ip -n $R -batch - || fail "router"
n $R sysctl -qw net.ipv4.ip_forward=1
printf '%s\n' "link set lo up" "link set eth0 up" "addr add 192.168.1.2/24 dev eth0" \
	"route add default via 192.168.1.1" | ip -n vm-h1 -batch - || fail "host"
run modprobe vpnpt_esp || fail "modprobe"
run rgenl set-params wan_ifname=eth0 enabled=1 pending_timeout=600 idle_timeout=600 \
	max_per_host=1048576 max_per_peer=1048576 max_mappings=$((N + N / 2)) || fail "enable"

# the sender outruns the router's softirq under TCG: queue, do not drop
backlog=$(sysctl -n net.core.netdev_max_backlog)
sysctl -qw net.core.netdev_max_backlog=$((N + 1000))
t=$(date +%s)
run /usr/bin/python3 "$VPNPT_VM_TESTS/spoof.py" esp --pps 0 --count $N \
	--stream "ns=vm-h1,dst=198.18.0.1,ndst=$NP,spi=seq" || fail "spoof.py"
made() { rgenl counters | sed -n 's/^esp_out_new_spi=//p'; }
all_made() { [ "$(made)" -ge "$N" ]; }
wait_for 60 all_made || log "only $(made) of $N new SPIs reached the module"
sysctl -qw net.core.netdev_max_backlog=$backlog
log "$N new SPIs sent, $(made) mappings made in $(( $(date +%s) - t ))s"

out=$(rgenl dump-check)
rc=$?
log "dump: $out"
[ $rc = 0 ] || fail "dump: a mapping twice or NLM_F_DUMP_INTR (above)"
val() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p" <<<" $out"; }
[ "$(val mappings)" -ge $((N * 99 / 100)) ] || fail "only $(val mappings) of $N mappings made"
[ "$(val unique)" = "$(val esp_out_new_spi)" ] ||
	fail "dumped $(val unique) mappings, the module made $(val esp_out_new_spi)"
ok "$(val unique) mappings, each dumped once ($(val reads) reads, $(val total_ms) ms)"
awk -v r="$(val ratio)" 'BEGIN { exit !(r <= 2.0) }' ||
	fail "a read at the end of the dump costs $(val ratio)x one at its start (limit 2)"
ok "a read at the end costs $(val ratio)x one at the start ($(val first_read_us) / $(val last_read_us) us)"

if [ -f "$dump_n" ] && [ -n "$VPNPT_BIN" ]; then
	sysctl -qw net.netfilter.nf_conntrack_max=$((2 * N + 10000))
	n $R sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600
	# conntrack tracks in a namespace only where a rule uses it
	n $R nft add table ip vm_ct '{ chain pre { type filter hook prerouting priority 0; ct state new counter; }; }' ||
		fail "a conntrack user in $R"
	sysctl -qw net.core.netdev_max_backlog=$((N + 1000))
	n vm-h1 /usr/bin/python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k in range(1, $N + 1):  # 198.18.0.0/15 holds 131,071
    s.sendto(b'x', ('198.%d.%d.%d' % (18 + (k >> 16), (k >> 8) & 255, k & 255), 9))" || fail "UDP fill"
	sysctl -qw net.core.netdev_max_backlog=$backlog
	ct=$(n $R conntrack -C)
	log "conntrack entries in $R: $ct"
	CFG=$(vpnpt_config mux) || fail "config"
	ms() { local s=$(date +%s%N); "$@" > /dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); }
	med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
	rss() { n $R /usr/bin/time -f %M "$@" 2>&1 > /dev/null | tail -1; }
	a=() b=()
	for i in 1 2 3; do
		a+=($(ms n $R "$VPNPT_BIN" --config "$CFG" status --json))
		b+=($(ms n $R conntrack -L))
	done
	maps=$(n $R "$VPNPT_BIN" --config "$CFG" status --json | jq '.esp.mappings | length')
	log "status --json with $maps mappings: ${a[*]} ms (median $(med "${a[@]}")," \
		"peak RSS $(rss "$VPNPT_BIN" --config "$CFG" status --json) kB, text view $(rss "$VPNPT_BIN" --config "$CFG" status) kB);" \
		"conntrack -L with $ct entries: ${b[*]} ms (median $(med "${b[@]}"), peak RSS $(rss conntrack -L) kB);" \
		"ratio $(awk -v x="$(med "${a[@]}")" -v y="$(med "${b[@]}")" 'BEGIN { printf "%.2f", x / y }')"
	# a controller to compare with, when given (VPNPT_VM_FILES=.../vpnpt-before): one run
	old=$VPNPT_VM_TESTS/vpnpt-before
	if [ -x "$old" ]; then
		log "vpnpt-before: status --json: $(n $R /usr/bin/time -f '%e s, peak RSS %M kB' "$old" --config "$CFG" status --json 2>&1 > /dev/null | tail -1)"
	fi
fi

run rgenl set-params enabled=0 || fail "disable"
ip netns del vm-h1
ip netns del $R
_lab_ns=()
run modprobe -r vpnpt_esp || fail "unload"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
exit 0
