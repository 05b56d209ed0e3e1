#!/bin/bash
# t-pair.sh: a router pair fails over while VPN sessions run.
#
#   lan1 .2  lan2 .3  lan3 .4 (forward target)
#      |       |       |
#   +--+-------+-------+---------+  $P-sw0: the LAN switch (bridge sw0)
#   |  lan0 .252 (+ .1)          |  lan0 .253
#   $P-a  ===== sync0 =====  $P-b     192.0.2.1 = 192.0.2.2: conntrackd FTFW
#   |  eth0 (203.0.113.1)        |  eth0 (no address while backup)
#   +--+-------------------------+  $P-sw1: the WAN switch (bridge sw1)
#      |
#   srv1 203.0.113.2: PPTP PAC, the stream server on 1701 and 4500, and
#                     the client of a forward (UDP 1194 to lan3)
#
# Both routers run vpnpt with the same config, conntrackd with
# etc/examples/conntrackd.conf and keepalived with etc/examples/keepalived.conf
# (A priority 150, B 100) and etc/examples/pair-notify.sh. keepalived
# holds the LAN gateway 192.168.1.1 and the WAN address 203.0.113.1 on A.
#
# Sessions, each a packet every 50 ms answered by its peer (tests/peers/stream.py):
#   pptp1, pptp2  PPTP calls from lan1 and lan2, both Call ID 1 (control
#                 TCP 1723 + GRE through the helper)
#   l2tp1, l2tp2  UDP 1701 -> srv1:1701 from lan1 and lan2 (the second is
#                 remapped to another public port)
#   natt1, natt2  UDP 4500 -> srv1:4500 likewise (IKE NAT-T)
#   fwd           srv1 -> 203.0.113.1:1194, forwarded to lan3:1194
# The servers answer each session at the public address and port it first
# came from. Failover: A crashes (its conntrackd and keepalived are killed,
# then its links go down); B's keepalived takes the addresses after 3
# missed adverts and runs pair-notify.sh primary (conntrackd -c, release
# the hold on new flows, -f, -R, -B). Each session reports packets lost and
# seconds from the crash to its first answer on B; L2TP, NAT-T and the
# forward must carry their last 2 s on B. PPTP: the control connection
# must carry on, the established call's GRE does not (conntrackd syncs GRE
# without its keys and the kernel's GRE keymap is not synced), and both
# hosts must be able to dial again through B.
#
# Control case: the same without conntrackd. B re-derives what masquerade
# alone can; the second host on a source port gets a new public port that
# the server does not answer (or takes the first host's), so at least one
# L2TP/NAT-T session breaks.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbpair}"
lab_need_vpnpt
for t in conntrackd keepalived; do
	command -v "$t" >/dev/null || lab_skip "$t not found (run scripts/setup)"
done

P=$LAB_PREFIX
A=$P-a B=$P-b SW0=$P-sw0 SW1=$P-sw1 SRV=$P-srv1
LAN_VIP=192.168.1.1 WAN_VIP=203.0.113.1 SIP=203.0.113.2 FWD_HOST=192.168.1.4
declare -A OWN=([a]=192.168.1.252 [b]=192.168.1.253) SYNC=([a]=192.0.2.1 [b]=192.0.2.2)

# pair_create: the topology above, with nothing running.
pair_create() {
	local r ns i
	for ns in "$SW0" "$SW1" "$A" "$B" "$SRV"; do lab_netns_add "$ns" || exit 1; done
	for i in 1 2 3; do lab_netns_add "$(lab_lan "$i")" || exit 1; done
	pp ip -n "$SW0" link add sw0 type bridge
	pp ip -n "$SW1" link add sw1 type bridge
	ip -n "$SW0" link set sw0 up
	ip -n "$SW1" link set sw1 up
	for r in a b; do
		ns=$P-$r
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
		pp ip -n "$ns" link add lan0 type veth peer name "port-$r" netns "$SW0"
		pp ip -n "$ns" link add eth0 type veth peer name "port-$r" netns "$SW1"
		ip -n "$SW0" link set "port-$r" master sw0 up
		ip -n "$SW1" link set "port-$r" master sw1 up
		ip -n "$ns" addr add "${OWN[$r]}/24" dev lan0
		ip -n "$ns" link set lan0 up
		ip -n "$ns" link set eth0 up
	done
	pp ip -n "$A" link add sync0 type veth peer name sync0 netns "$B"
	ip -n "$A" addr add "${SYNC[a]}/24" dev sync0
	ip -n "$B" addr add "${SYNC[b]}/24" dev sync0
	ip -n "$A" link set sync0 up
	ip -n "$B" link set sync0 up
	for i in 1 2 3; do
		ns=$(lab_lan "$i")
		pp ip -n "$SW0" link add "lan$i" type veth peer name eth0 netns "$ns"
		ip -n "$SW0" link set "lan$i" master sw0 up
		ip -n "$ns" addr add "$(lab_lan_ip "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$LAN_VIP"
	done
	pp ip -n "$SW1" link add srv1 type veth peer name eth0 netns "$SRV"
	ip -n "$SW1" link set srv1 master sw1 up
	ip -n "$SRV" addr add "$SIP/24" dev eth0
	ip -n "$SRV" link set eth0 up
	for i in 1 2 3; do lab_link_wait "$(lab_lan "$i")" eth0 || exit 1; done
	for r in a b; do
		lab_link_wait "$P-$r" lan0 && lab_link_wait "$P-$r" eth0 && lab_link_wait "$P-$r" sync0 || exit 1
	done
	lab_link_wait "$SRV" eth0 || exit 1
}

# pair_vpnpt R ARGS...: the controller in router R (a or b).
pair_vpnpt() {
	local r=$1; shift
	printf '+ [%s] vpnpt %s\n' "$P-$r" "$*" >&2
	ip netns exec "$P-$r" "$VPNPT" --run-dir "$LAB_DIR/run-$r" "$@"
}

# pair_conntrackd_conf R: the shipped conntrackd.conf for router R.
pair_conntrackd_conf() {
	local r=$1 me=${SYNC[a]} peer=${SYNC[b]}
	[[ $r == b ]] && me=${SYNC[b]} peer=${SYNC[a]}
	sed -e "s|^\(\s*IPv4_address\) ${SYNC[a]}$|\1 $me|" \
	    -e "s|^\(\s*IPv4_Destination_Address\) ${SYNC[b]}$|\1 $peer|" \
	    -e "s|/var/log/conntrackd.log|$LAB_DIR/conntrackd-$r.log|" \
	    -e "s|/var/lock/conntrackd.lock|$LAB_DIR/conntrackd-$r.lock|" \
	    -e "s|/var/run/conntrackd.ctl|$LAB_DIR/conntrackd-$r.ctl|" \
	    "$LAB_TOP/etc/examples/conntrackd.conf" >"$LAB_DIR/conntrackd-$r.conf"
}
# ctd R ARGS...: conntrackd's client for router R's daemon.
ctd() { local r=$1; shift; ip netns exec "$P-$r" conntrackd -C "$LAB_DIR/conntrackd-$r.conf" "$@"; }

# pair_keepalived_conf R SYNCED: the shipped keepalived.conf and
# pair-notify.sh for router R; with SYNCED 0 (control case) without notify.
pair_keepalived_conf() {
	local r=$1 synced=$2 script=$LAB_DIR/notify-$r.sh
	# Say when each transition ran, for the log.
	sed -e "s|^CONF=.*|CONF=$LAB_DIR/conntrackd-$r.conf|" \
	    -e "s|^LOCK=.*|LOCK=$LAB_DIR/notify-$r.lock|" \
	    -e "/^case/i echo \"\$(date +%s.%N) \$1\" >>$LAB_DIR/notify-$r.log" \
	    "$LAB_TOP/etc/examples/pair-notify.sh" >"$script"
	chmod 700 "$script"
	sed -e "s|/etc/keepalived/pair-notify.sh|$script|" \
	    -e "s|router_id vpnpt|router_id $P-$r|" \
	    "$LAB_TOP/etc/examples/keepalived.conf" >"$LAB_DIR/keepalived-$r.conf"
	[[ $r == b ]] && sed -i 's/^\(\s*priority\) 150$/\1 100/' "$LAB_DIR/keepalived-$r.conf"
	((synced)) || sed -i '/^\s*notify_/d' "$LAB_DIR/keepalived-$r.conf"
}

# has_addr NS DEV ADDR
has_addr() { ip -n "$1" -o addr show dev "$2" | grep -q " $3/"; }
# ext_entries R: entries in router R's external cache (from the other router).
ext_entries() { ctd "$1" -e 2>/dev/null | grep -c '^\(tcp\|udp\|gre\) ' || true; }

# pair_up SYNCED: start everything on both routers; A ends up holding the
# shared addresses.
CRASH_PIDS=()      # A's daemons, killed at failover
pair_up() {
	local synced=$1 r
	CRASH_PIDS=()
	lab_config "$LAB_DIR/pair.toml" wan interface '"eth0"' lan interfaces '["lan0"]'
	cat >>"$LAB_DIR/pair.toml" <<-EOF

	[[forward]]
	protocol = "udp"
	port = 1194
	to = "$FWD_HOST"
	EOF
	for r in a b; do
		lab_check "$r: vpnpt apply (the same config on both)" pair_vpnpt "$r" --config "$LAB_DIR/pair.toml" apply
		pair_conntrackd_conf "$r"
		pair_keepalived_conf "$r" "$synced"
		if ((synced)); then
			lab_bg "$P-$r" "$LAB_DIR/conntrackd-$r.out" conntrackd -C "$LAB_DIR/conntrackd-$r.conf"
			[[ $r == a ]] && CRASH_PIDS+=("$LAB_LAST_PID")
			lab_poll 10 ctd "$r" -s || { lab_log "conntrackd on $r did not start"; cat "$LAB_DIR/conntrackd-$r".{out,log} >&2; exit 1; }
		fi
	done
	# A first, then B once A is master: started together, B can be master
	# for a moment before it hears A (and answer ARP for the addresses).
	for r in a b; do
		lab_bg "$P-$r" "$LAB_DIR/keepalived-$r.out" keepalived --dont-fork --log-console --log-detail \
			--vrrp --use-file "$LAB_DIR/keepalived-$r.conf" \
			--pid "$LAB_DIR/keepalived-$r.pid" --vrrp_pid "$LAB_DIR/vrrp-$r.pid"
		[[ $r == b ]] && break
		CRASH_PIDS+=("$LAB_LAST_PID")
		lab_check "A holds the LAN gateway and the WAN address" \
			lab_poll 15 eval "has_addr $A lan0 $LAN_VIP && has_addr $A eth0 $WAN_VIP"
	done
	lab_check "B is backup" lab_poll 15 grep -q "(vpnpt) Entering BACKUP STATE" "$LAB_DIR/keepalived-b.out"
	((synced)) && lab_check "B holds new flows (pair-notify.sh backup: table inet vpnpt_hold)" \
		lab_poll 15 ip netns exec "$B" nft list table inet vpnpt_hold
	lab_check "B holds neither" \
		eval "! has_addr $B lan0 $LAN_VIP && ! has_addr $B eth0 $WAN_VIP"
}

# pair_sessions: start the servers and the sessions.
pair_sessions() {
	rm -f "$LAB_DIR/stop" "$LAB_DIR/t0"
	lab_peer_bg "$SRV" "$LAB_DIR/pac.log" pptp server
	lab_peer_bg "$SRV" "$LAB_DIR/srv.log" stream server --port 1701 --port 4500
	lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/fwdsrv.log" stream server --port 1194
	for s in pac srv fwdsrv; do lab_ready "$LAB_DIR/$s.log" || exit 1; done
	local common=(--stop "$LAB_DIR/stop" --t0 "$LAB_DIR/t0") h
	for h in 1 2; do
		lab_peer_bg "$(lab_lan "$h")" "$LAB_DIR/pptp$h.log" stream pptp "$SIP" --tag "h$h" "${common[@]}"
		SESSION_PID[pptp$h]=$LAB_LAST_PID
		lab_peer_bg "$(lab_lan "$h")" "$LAB_DIR/l2tp$h.log" stream client "$SIP" --port 1701 --sport 1701 --session "l2tp$h" "${common[@]}"
		SESSION_PID[l2tp$h]=$LAB_LAST_PID
		lab_peer_bg "$(lab_lan "$h")" "$LAB_DIR/natt$h.log" stream client "$SIP" --port 4500 --sport 4500 --session "natt$h" "${common[@]}"
		SESSION_PID[natt$h]=$LAB_LAST_PID
	done
	lab_peer_bg "$SRV" "$LAB_DIR/fwd.log" stream client "$WAN_VIP" --port 1194 --sport 41194 --session fwd "${common[@]}"
	SESSION_PID[fwd]=$LAB_LAST_PID
	for s in "${SESSIONS[@]}"; do
		lab_poll 10 grep -q '"ev": "up"' "$LAB_DIR/$s.log" || lab_log "$s: no answer before failover"
	done
}

# pair_json R FILTER: jq -e FILTER on "vpnpt status --json" of router R.
pair_json() {
	pair_vpnpt "$1" --config "$LAB_DIR/pair.toml" status --json >"$LAB_DIR/status-$1.json" 2>/dev/null &&
		jq -e "$2" "$LAB_DIR/status-$1.json" >/dev/null
}
pair_status_text() { pair_vpnpt "$1" --config "$LAB_DIR/pair.toml" status 2>/dev/null | grep '^pair:' >&2; }

# pair_failover: A crashes; note the time (t0, when A is gone) and wait
# until B holds the addresses.
pair_failover() {
	# Development aid: PAIR_PAUSE=1 waits here until $LAB_DIR/go exists.
	if [[ -n ${PAIR_PAUSE:-} ]]; then
		lab_log "paused: touch $LAB_DIR/go"
		while [[ ! -e $LAB_DIR/go ]]; do sleep 1; done
	fi
	# A crashes: its daemons die first (a router that loses power sends
	# nothing more), then its links go down. Taking A's links down with
	# conntrackd alive is not a crash: the kernel flushes the masqueraded
	# entries of a device that goes down, and conntrackd syncs those
	# deletions to B before B commits (see vpnpt(8), ROUTER PAIR).
	local pid
	for pid in "${CRASH_PIDS[0]}" "$(cat "$LAB_DIR/vrrp-a.pid")" "${CRASH_PIDS[@]:1}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${CRASH_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	pp ip -n "$A" link set lan0 down
	pp ip -n "$A" link set eth0 down
	pp ip -n "$A" link set sync0 down
	date +%s.%N >"$LAB_DIR/t0"
	T0=$SECONDS
	lab_check "B takes the LAN gateway and the WAN address" \
		lab_poll 15 eval "has_addr $B lan0 $LAN_VIP && has_addr $B eth0 $WAN_VIP"
	lab_log "B holds the addresses $((SECONDS - T0)) s after the cut"
}

# pair_finish: let the sessions run on B for 6 s (the measurement window:
# each must carry its last 2 s), stop them and collect their exit statuses.
declare -A SESSION_PID RC
SESSIONS=(pptp1 pptp2 l2tp1 l2tp2 natt1 natt2 fwd)
pair_finish() {
	local s
	sleep 6
	touch "$LAB_DIR/stop"
	for s in "${SESSIONS[@]}"; do wait "${SESSION_PID[$s]}"; RC[$s]=$?; done
}

# done_field S FIELD: a field of session S's "done" line.
done_field() { jq -r "select(.ev == \"done\") | .$2" "$LAB_DIR/$1.log"; }
report() {
	local s
	printf '%-7s %6s %8s %6s %7s %10s %9s\n' session sent answered lost gap_s recovery_s tail_lost
	for s in "${SESSIONS[@]}"; do
		printf '%-7s %6s %8s %6s %7s %10s %9s\n' "$s" "$(done_field "$s" sent)" "$(done_field "$s" answered)" \
			"$(done_field "$s" lost)" "$(done_field "$s" gap_s)" "$(done_field "$s" recovery_s)" "$(done_field "$s" tail_lost)"
	done
}

# pair_destroy: stop everything and delete the namespaces (for the next case).
pair_destroy() {
	local pid i
	for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	LAB_PIDS=()
	for ((i = ${#LAB_NETNS[@]} - 1; i >= 0; i--)); do
		ip netns pids "${LAB_NETNS[i]}" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "${LAB_NETNS[i]}" 2>/dev/null
	done
	LAB_NETNS=()
}

# ---- with conntrackd -----------------------------------------------------------
if [[ ${PAIR_CASES:-synced control} == *synced* ]]; then
pair_create
pair_up 1
pair_sessions
lab_check "B's external cache holds A's sessions (conntrackd -e)" \
	lab_poll 10 eval "(( \$(ext_entries b) >= 7 ))"
lab_log "B's external cache: $(ext_entries b) entries"
pair_status_text a; pair_status_text b
lab_check "vpnpt status on A: active, conntrackd running, sessions in its internal cache" \
	pair_json a '.pair.role == "active" and .pair.conntrackd.answered and .pair.conntrackd.internal >= 7'
lab_check "vpnpt status on B: standby, conntrackd running, A's sessions in its external cache" \
	pair_json b '.pair.role == "standby" and .pair.conntrackd.answered and .pair.conntrackd.external >= 7'
pair_failover
pair_finish
report | tee "$LAB_DIR/synced.txt"
cat "$LAB_DIR/notify-b.log" >&2
for s in l2tp1 l2tp2 natt1 natt2 fwd; do
	lab_check "synced: $s carries traffic on B" test "${RC[$s]}" = 0
done
# PPTP: the control connection is synced and carries on; the call's GRE is
# not: conntrackd syncs GRE entries without their keys (call IDs) and the
# kernel's GRE keymap, which only the PPTP helper fills, is not synced at
# all, so B matches none of the call's packets. A client that dials again
# gets a working call through B.
for h in 1 2; do
	lab_check "synced: pptp$h's control connection carries on B (a second call request answered)" \
		eval "jq -e 'select(.ev == \"control\") | .ok' $LAB_DIR/pptp$h.log >/dev/null"
	lab_check_not "synced: pptp$h's established call carries GRE on B (it does not: keys not synced)" \
		test "${RC[pptp$h]}" = 0
done
redial() {
	local p1 p2
	lab_peer_bg "$(lab_lan 1)" "$LAB_DIR/redial-h1.log" pptp client "$SIP" --call-id 1 --tag r1; p1=$LAB_LAST_PID
	lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/redial-h2.log" pptp client "$SIP" --call-id 1 --tag r2; p2=$LAB_LAST_PID
	wait "$p1" && wait "$p2"
}
lab_check "synced: both hosts dial PPTP again through B (Call ID 1 twice, helper on B)" redial
pair_status_text b
lab_check "vpnpt status on B after failover: active, the committed sessions in its internal cache" \
	pair_json b '.pair.role == "active" and .pair.conntrackd.answered and .pair.conntrackd.internal >= 7'
pair_destroy
fi

# ---- control: no conntrackd --------------------------------------------------------
if [[ ${PAIR_CASES:-synced control} == *control* ]]; then
pair_create
pair_up 0
pair_sessions
lab_check "no sync: vpnpt status on B says standby, no conntrackd" \
	pair_json b '.pair.role == "standby" and .pair.conntrackd == null'
pair_failover
pair_finish
report | tee "$LAB_DIR/control.txt"
broken=0
for s in l2tp1 l2tp2 natt1 natt2; do ((RC[$s] != 0)) && broken=$((broken + 1)); done
lab_check "no sync: at least one of the L2TP and NAT-T sessions breaks on B ($broken broke)" \
	test "$broken" -ge 1
fi

lab_done
