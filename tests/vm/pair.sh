# tests/vm/pair.sh: the router-pair lab of t-pair-mux.sh and t-pair-handover*.sh,
# sourced after lib.sh, inside the VM only.
#
#   vm-h1 .2 ─┐   vm-sw: bridge lan                    vm-sw: bridge wan
#   vm-h2 .3 ─┼──────┬──── br0 [ vm-ra ] eth0 ──────┬──── eth0 [ vm-s ] 203.0.113.2
#             │      │     .252  sync0 192.0.2.1    │     (10.0.0.1, ESP peer)
#             │      └──── br0 [ vm-rb ] eth0 ──────┘
#                          .253  sync0 192.0.2.2
#   The active router holds the LAN gateway 192.168.1.1 (br0) and the WAN
#   address 203.0.113.1 (eth0), moved by hand as keepalived would.
#
# pair_up: the lab, vpnpt applied with esp = "mux" on both (the same
# config), conntrackd on both with etc/examples/conntrackd.conf (FTFW over
# sync0; with CTD_ESP=1 ESP added to its Protocol Accept), A active.

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

# ctd_conf R: the shipped conntrackd.conf for router R (as tests/lab/t-pair.sh);
# CTD_ESP=1: with esp in its Protocol Accept (vpnpt(8), ROUTER PAIR: the
# planned switchover).
ctd_conf() {
	local r=$1
	sed -e "s|^\(\s*IPv4_address\) 192.0.2.1$|\1 ${SYNC[$r]}|" \
	    -e "s|^\(\s*IPv4_Destination_Address\) 192.0.2.2$|\1 ${SYNC[${PEER_OF[$r]}]}|" \
	    -e "s|/var/log/conntrackd.log|/tmp/ctd-$r.log|" \
	    -e "s|/var/lock/conntrackd.lock|/tmp/ctd-$r.lock|" \
	    -e "s|/var/run/conntrackd.ctl|/tmp/ctd-$r.ctl|" \
	    "$VPNPT_WORK/etc/examples/conntrackd.conf" > "/tmp/ctd-$r.conf"
	if [ "${CTD_ESP:-0}" = 1 ]; then
		sed -i 's/^\(\s*\)GRE$/&\n\1esp/' "/tmp/ctd-$r.conf"
		grep -q '^\s*esp$' "/tmp/ctd-$r.conf" || { echo "cannot add esp to Protocol Accept" >&2; return 1; }
	fi
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

# pair_up: the lab drawn above, both routers applied and syncing, A active.
pair_up() {
	local r i pids=()
	run pair_lab_up || fail "lab"
	esp_ready || fail "esp4/drbg"
	run modprobe vpnpt_esp || fail "modprobe vpnpt_esp"
	CFG=$(vpnpt_config mux) || fail "config"
	# The same config on both, applied at the same time (each takes tens of
	# seconds under TCG).
	for r in $RA $RB; do
		run pvpnpt "$r" --config "$CFG" apply > "/tmp/apply-$r.out" 2>&1 &
		pids+=($!)
	done
	for i in 0 1; do
		r=$RA; [ $i = 1 ] && r=$RB
		wait "${pids[$i]}" || { cat "/tmp/apply-$r.out"; fail "$r: vpnpt apply (esp = mux)"; }
	done
	for r in $RA $RB; do
		ctd_conf "$r" || fail "conntrackd.conf for $r"
		n "$r" conntrackd -C "/tmp/ctd-$r.conf" > "/tmp/ctd-$r.out" 2>&1 &
		bg_pid $!
	done
	for r in $RA $RB; do wait_for 10 ctd "$r" -s || { cat "/tmp/ctd-$r".{out,log}; fail "conntrackd on $r did not start"; }; done
	# A is active.
	ip -n $RA addr add $LAN_VIP/24 dev br0 && ip -n $RA addr add $WAN_VIP/24 dev eth0 || fail "A: addresses"
	wait_for 10 n $RA ping -c1 -W1 $WAN_S || fail "A cannot reach the server"
}
