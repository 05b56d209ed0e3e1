#!/bin/bash
# vm-timeout: 240
# A router pair with the module: raw ESP across a crash of the active router.
#
#   vm-h1 .2 ─┐   vm-sw: bridge lan                    vm-sw: bridge wan
#   vm-h2 .3 ─┼──────┬──── br0 [ vm-ra ] eth0 ──────┬──── eth0 [ vm-s ] 203.0.113.2
#             │      │     .252  sync0 192.0.2.1    │     (10.0.0.1, ESP peer)
#             │      └──── br0 [ vm-rb ] eth0 ──────┘
#                          .253  sync0 192.0.2.2
#   The active router holds the LAN gateway 192.168.1.1 (br0) and the WAN
#   address 203.0.113.1 (eth0), moved by hand as keepalived would.
#
# Both routers: vpnpt applied with esp = "mux" (the same config), conntrackd
# with etc/examples/conntrackd.conf (FTFW over sync0). Each host has a manual
# tunnel-mode SA pair with the server (lib.sh tunnel_up); two flows run at
# 10 packets a second through the NAT while A crashes:
#   host 1  pings the server (the host speaks first, as a client does);
#   host 2  is pinged by the server (the peer speaks first: its ESP reaches
#           the new router before host 2 sends anything there). Its flow
#           pauses over the takeover and resumes once host 1 answers on B:
#           arriving inside host 1's bind window instead, the peer's first
#           ESP for host 2 would be bound to host 1 (encrypted, dropped by
#           its xfrm), the race kmod/DESIGN.md's limits describe; kept out
#           so that the test is deterministic.
# Crash: A's conntrackd is killed and its links go down; B commits the
# external cache (conntrackd -c), takes both addresses, and the hosts and the
# server drop their ARP entries (what the gratuitous ARP does).
#
# Measured per host: packets lost, seconds from the crash to the first answer
# on B; checked: no ESP delivered to a host that has no SA for it
# (XfrmInNoStates), none on the server's wrong SA. The module's SPI tables are
# not synced: what host 2 shows is the limit that kmod/DESIGN.md ("Router
# pair") documents; then host 2 speaks itself, which does not repair it
# either (its inbound SPI was seen unbound on B: an orphan, refused).
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
command -v conntrackd > /dev/null || skip "conntrackd not installed (scripts/setup)"
RA=vm-ra RB=vm-rb SW=vm-sw
LAN_VIP=192.168.1.1 WAN_VIP=$WAN_R
declare -A OWN=([$RA]=192.168.1.252 [$RB]=192.168.1.253) SYNC=([$RA]=192.0.2.1 [$RB]=192.0.2.2)
declare -A PEER_OF=([$RA]=$RB [$RB]=$RA)

# pair_lab_up: the namespaces and links drawn above; no address moved yet.
pair_lab_up() {
	local r i
	for r in $SW $RA $RB $S $(host 1) $(host 2); do ns_add "$r" || return 1; done
	ip -n $SW -batch - <<-EOF || return 1
		link add lan type bridge
		link set lan up
		link add wan type bridge
		link set wan up
	EOF
	for r in $RA $RB; do
		ip -n "$r" -batch - <<-EOF || return 1
			link add br0 type veth peer name l-$r netns $SW
			link add eth0 type veth peer name w-$r netns $SW
			addr add ${OWN[$r]}/24 dev br0
			link set br0 up
			link set eth0 up
		EOF
		ip -n $SW link set "l-$r" master lan up && ip -n $SW link set "w-$r" master wan up || return 1
		n "$r" sysctl -qw net.ipv4.ip_forward=1
	done
	ip -n $RA link add sync0 type veth peer name sync0 netns $RB || return 1
	for r in $RA $RB; do
		ip -n "$r" addr add "${SYNC[$r]}/24" dev sync0 && ip -n "$r" link set sync0 up || return 1
	done
	ip -n $SW link add s-eth0 type veth peer name eth0 netns $S || return 1
	ip -n $SW link set s-eth0 master wan up
	ip -n $S -batch - <<-EOF || return 1
		link set eth0 up
		addr add $WAN_S/24 dev eth0
		addr add 10.0.0.1/32 dev lo
		route add 10.1.0.0/16 via $WAN_VIP
	EOF
	for i in 1 2; do
		ip -n $SW link add "h$i" type veth peer name eth0 netns "$(host $i)" || return 1
		ip -n $SW link set "h$i" master lan up
		ip -n "$(host $i)" -batch - <<-EOF || return 1
			link set eth0 up
			addr add $(host_ip $i)/24 dev eth0
			addr add $(inner_ip $i)/32 dev lo
			route add default via $LAN_VIP
		EOF
	done
	wait_for 10 n $RA ping -c1 -W1 ${SYNC[$RB]} || { echo "sync link down"; return 1; }
}

# pvpnpt R ARGS...: the controller in router R (its own run dir); lib.sh's
# vpnpt (show_status, esp_counters) runs it in router $R.
pvpnpt() {
	local r=$1 rd=()
	shift
	[ -d "$VPNPT_WORK/rules" ] && rd=(--rules-dir "$VPNPT_WORK/rules")
	n "$r" "$VPNPT_BIN" "${rd[@]}" --run-dir "/tmp/run-$r" "$@"
}
vpnpt() { pvpnpt "$R" "$@"; }

# ctd_conf R: the shipped conntrackd.conf for router R (as tests/lab/t-pair.sh).
ctd_conf() {
	local r=$1
	sed -e "s|^\(\s*IPv4_address\) 192.0.2.1$|\1 ${SYNC[$r]}|" \
	    -e "s|^\(\s*IPv4_Destination_Address\) 192.0.2.2$|\1 ${SYNC[${PEER_OF[$r]}]}|" \
	    -e "s|/var/log/conntrackd.log|/tmp/ctd-$r.log|" \
	    -e "s|/var/lock/conntrackd.lock|/tmp/ctd-$r.lock|" \
	    -e "s|/var/run/conntrackd.ctl|/tmp/ctd-$r.ctl|" \
	    "$VPNPT_WORK/etc/examples/conntrackd.conf" > "/tmp/ctd-$r.conf"
}
ctd() { local r=$1; shift; n "$r" conntrackd -C "/tmp/ctd-$r.conf" "$@"; }
has_addr() { ip -n "$1" -o addr show dev "$2" | grep -q " $3/"; }
neigh_flush() {
	n "$(host 1)" ip neigh flush dev eth0; n "$(host 2)" ip neigh flush dev eth0
	n $S ip neigh flush dev eth0
}

# pings NAME NS SRC DST: 10 a second in the background, with timestamps
# (iputils -D), into /tmp/NAME.ping; its pid in PING_PID[NAME].
declare -A PING_PID
pings() {
	ip netns exec "$2" ping -D -n -i 0.1 -W 1 -I "$3" "$4" > "/tmp/$1.ping" 2>&1 &
	PING_PID[$1]=$!
	bg_pid $!
}
pings_stop() { kill -INT "${PING_PID[$1]}" 2>/dev/null; wait "${PING_PID[$1]}" 2>/dev/null; }
# answered_since NAME T: an answer of flow NAME timestamped after T.
answered_since() { awk -v t="$2" -F'[][]' '/bytes from/ && $2 > t { f = 1 } END { exit !f }' "/tmp/$1.ping"; }
# measure NAME T0: "sent answered lost recovery_s" of flow NAME, recovery
# counted from T0 (epoch seconds) to its first answer after T0 (- if none).
measure() {
	awk -v t0="$2" -F'[][]' '
		/bytes from/ { got++; if ($2 > t0 && rec == "") rec = sprintf("%.1f", $2 - t0) }
		/packets transmitted/ { split($0, a, " "); sent = a[1] }
		END { printf "%s %s %s %s\n", sent + 0, got + 0, sent - got, (rec == "" ? "-" : rec) }' "/tmp/$1.ping"
}

run pair_lab_up || fail "lab"
esp_ready || fail "esp4/drbg"
run modprobe vpnpt_esp || fail "modprobe vpnpt_esp"
CFG=$(vpnpt_config mux) || fail "config"
# The same config on both, applied at the same time (each takes tens of
# seconds under TCG).
pids=()
for r in $RA $RB; do
	run pvpnpt "$r" --config "$CFG" apply > "/tmp/apply-$r.out" 2>&1 &
	pids+=($!)
done
for i in 0 1; do
	r=$RA; [ $i = 1 ] && r=$RB
	wait "${pids[$i]}" || { cat "/tmp/apply-$r.out"; fail "$r: vpnpt apply (esp = mux)"; }
done
for r in $RA $RB; do
	ctd_conf "$r"
	n "$r" conntrackd -C "/tmp/ctd-$r.conf" > "/tmp/ctd-$r.out" 2>&1 &
	bg_pid $!
done
for r in $RA $RB; do wait_for 10 ctd "$r" -s || { cat "/tmp/ctd-$r".{out,log}; fail "conntrackd on $r did not start"; }; done
# A is active.
ip -n $RA addr add $LAN_VIP/24 dev br0 && ip -n $RA addr add $WAN_VIP/24 dev eth0 || fail "A: addresses"
wait_for 10 n $RA ping -c1 -W1 $WAN_S || fail "A cannot reach the server"
tunnel_up 1 || fail "tunnel 1"
tunnel_up 2 || fail "tunnel 2"

# Host 2 speaks first once (its SA binds on A), then the server pings it.
got=$(tunnel_ping 2 5)
log "host 2 on A: $got/5 replies through its tunnel"
[ "${got:-0}" -ge 4 ] || fail "host 2: tunnel through A: $got/5"
pings h1 "$(host 1)" "$(inner_ip 1)" 10.0.0.1
pings h2 $S 10.0.0.1 "$(inner_ip 2)"
wait_for 15 answered_since h1 0 || fail "host 1: no answer through A"
wait_for 15 answered_since h2 0 || fail "host 2: no answer to the server through A"
n $RA conntrack -L -p esp 2>/dev/null | sed 's/^/  A: /'
R=$RA show_status

# Host 2's flow pauses over the takeover (see the header), then the crash of A.
pings_stop h2
mv /tmp/h2.ping /tmp/h2-on-a.ping
for p in $(ip netns pids $RA); do kill -KILL "$p"; done
ip -n $RA link set br0 down; ip -n $RA link set eth0 down; ip -n $RA link set sync0 down
t0=$(date +%s.%N)
log "A crashed"
run ctd $RB -c || log "B: conntrackd -c failed"
ip -n $RB addr add $LAN_VIP/24 dev br0 && ip -n $RB addr add $WAN_VIP/24 dev eth0 || fail "B: addresses"
neigh_flush
tb=$(date +%s.%N)
log "B holds the addresses ($(awk -v a="$t0" -v b="$tb" 'BEGIN { printf "%.1f", b - a }')s after the crash)"
wait_for 10 answered_since h1 "$t0" || log "host 1: no answer through B within 10 s"
pings h2 $S 10.0.0.1 "$(inner_ip 2)"
log "the server pings host 2 again"
wait_for 5 answered_since h2 "$t0" || log "host 2: no answer to the server through B within 5 s"
# Host 2 speaks itself too (its DPD or traffic would): does that repair it?
got=$(tunnel_ping 2 10)
log "host 2 pings the server through B: $got/10"
sleep 1   # the last ping's answer window
for f in h1 h2; do pings_stop $f; done
m1=$(measure h1 "$t0") m2=$(measure h2 "$t0")
echo "flow                           sent answered lost recovery_s (from the crash)"
echo "host 1 -> server (host first)  $m1"
echo "server -> host 2 (peer first)  $m2 (paused over the takeover)"
log "B took the addresses $(awk -v a="$t0" -v b="$tb" 'BEGIN { printf "%.1f", b - a }')s after the crash"
R=$RB show_status
echo "--- B: ESP flows (conntrack) ---"
n $RB conntrack -L -p esp 2>/dev/null | sed 's/^/  /'
R=$RB esp_counters esp_in_unknown bind_fallback bind_ambiguous held released
hosts_no_stray_esp 1 2 || fail "ESP delivered to a host that has no SA for it"
[ "$(xfrm_stat $S XfrmInTmplMismatch)" -eq 0 ] || fail "server: a packet arrived on the wrong host's SA"
read -r _ _ _ rec1 <<< "$m1"
[ "$rec1" != - ] || fail "host 1 (speaks first) has no answer through B"
awk -v r="$rec1" 'BEGIN { exit !(r < 10) }' || fail "host 1 recovered only after ${rec1}s"
log "host 1: recovered on B ${rec1}s after the crash"
read -r _ _ _ rec2 <<< "$m2"
log "host 2: recovery ${rec2}s after the crash (peer first), then $got/10 when it speaks itself"
# The limit kmod/DESIGN.md states: B saw host 2's inbound SPI before any
# window (an orphan) and refuses it from then on; it works again from the
# next rekey. If this ever recovers, update DESIGN.md and vpnpt(8).
[ "$rec2" = - ] && [ "${got:-0}" -eq 0 ] ||
	fail "host 2 recovered (${rec2}s, then $got/10): kmod/DESIGN.md says it does not; update it"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "pair crash with the module: host 1 recovered ${rec1}s after the crash; host 2 (peer speaks first) did not"
exit 0
