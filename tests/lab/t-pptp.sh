#!/bin/bash
# t-pptp.sh: two LAN hosts, both using PPTP Call ID 1, call the same server.
#
#   lan1 (.2) --\                          /-- srv1 203.0.113.2: PAC
#                router (vpnpt, eth0 masq)      (tests/peers/pptp.py server)
#   lan2 (.3) --/
#
# Without the PPTP conntrack helper both calls reach the server as Call ID 1
# from one address: it cannot tell them apart and its GRE replies (keyed with
# that ID) match no conntrack entry on the router. With it, nf_nat_pptp gives
# each call its own ID (the masqueraded TCP source port), and the server's
# GRE replies are translated back to Call ID 1 for the right host only.
#
# Checked on the server (what it received) and on each host (what came back);
# the feature-off case is the same run with [pptp] enabled = false.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbpptp}"
lab_need_vpnpt
lab_create 2 1
R=$(lab_router) S=$(lab_srv 1) SIP=$(lab_srv_ip 1)

lab_peer_bg "$S" "$LAB_DIR/pac.log" pptp server
lab_ready "$LAB_DIR/pac.log" || exit 1

# two_calls NAME [HOLD]: one call from each LAN host at the same time, both
# with Call ID 1; logs in $LAB_DIR/NAME-*.log, exit statuses in RC1 RC2.
# With HOLD, run CHECK_DURING (a function) while the calls are up.
two_calls() {
	local name=$1 hold=${2:-0} p1 p2
	PAC_FROM=$(wc -l <"$LAB_DIR/pac.log")
	lab_peer_bg "$(lab_lan 1)" "$LAB_DIR/$name-h1.log" pptp client "$SIP" --call-id 1 --tag h1 --hold "$hold" --timeout 3; p1=$LAB_LAST_PID
	lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/$name-h2.log" pptp client "$SIP" --call-id 1 --tag h2 --hold "$hold" --timeout 3; p2=$LAB_LAST_PID
	if ((hold)); then
		lab_poll 10 grep -q gre-result "$LAB_DIR/$name-h1.log"
		lab_poll 10 grep -q gre-result "$LAB_DIR/$name-h2.log"
		check_during
	fi
	wait "$p1"; RC1=$?
	wait "$p2"; RC2=$?
	tail -n +"$((PAC_FROM + 1))" "$LAB_DIR/pac.log" >"$LAB_DIR/$name-pac.log"
}

# What the server saw in this run.
pac() { jq -c "select(.ev == \"$1\")" "$LAB_DIR/$RUN-pac.log"; }
ocrq_ids()  { pac ocrq | jq -r .call_id | sort -u; }
no_call_id_1() { test "$(pac ocrq | wc -l)" = 2 && ! ocrq_ids | grep -qx 1; }
# gre_ok TAG: GRE from host TAG arrived from the WAN address, keyed with the
# server's Call ID of the call the host opened.
gre_ok() {
	local pac_id
	pac_id=$(jq -r 'select(.ev == "call") | .pac_call_id' "$LAB_DIR/$RUN-$1.log")
	[[ -n $pac_id ]] && (($(pac gre | jq -r "select(.payload | startswith(\"$1 \")) |
		select(.src == \"$LAB_WAN_IP\" and .key == $pac_id) | .seq" | wc -l) >= 3))
}
# status_has HOST: vpnpt status --json shows HOST's control connection to the
# server and its call 1, with the translated Call ID and the server's Call ID
# exactly as the server logged them for the connection from that NAT port.
status_has() {
	jq -e --arg h "$1" --arg srv "$SIP:1723" --slurpfile pac "$LAB_DIR/pac.log" '
		[.hosts[] | select(.host == $h) | .sessions[]
		 | select(.kind == "pptp" and .protocol == "tcp" and .remote == $srv) as $s
		 | $s.calls[] | select(.call_id == 1) as $c
		 | $pac[] | select(.ev == "ocrq" and .peer == $s.nat and
		                   .call_id == $c.nat_call_id and .pac_call_id == $c.peer_call_id)]
		| length == 1' "$LAB_DIR/status.json" >/dev/null
}
status_text_lists() {
	grep -q 192.168.1.2 "$LAB_DIR/status.txt" && grep -q 192.168.1.3 "$LAB_DIR/status.txt"
}
check_during() {
	lab_status --json >"$LAB_DIR/status.json"
	lab_status >"$LAB_DIR/status.txt"
	cat "$LAB_DIR/status.txt"
	lab_check "vpnpt status --json: host 1's control connection and call, IDs as the server saw them" \
		status_has 192.168.1.2
	lab_check "vpnpt status --json: host 2's control connection and call, IDs as the server saw them" \
		status_has 192.168.1.3
	lab_check "vpnpt status names both LAN hosts" status_text_lists
}

# ---- passthrough on (the shipped config) --------------------------------------
lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/default.toml"
RUN=on
lab_capture_start "$S" eth0 "$LAB_DIR/on.pcap" "ip proto 47" || exit 1
two_calls on 2
lab_capture_stop
lab_check "host 1 gets all its GRE replies as Call ID 1, nothing else" test "$RC1" = 0
lab_check "host 2 gets all its GRE replies as Call ID 1, nothing else" test "$RC2" = 0
lab_check "server saw two calls, both from the WAN address" \
	test "$(pac ocrq | jq -r .peer | cut -d: -f1 | grep -cx "$LAB_WAN_IP")" = 2
lab_check "server saw two distinct Call IDs" test "$(ocrq_ids | wc -l)" = 2
lab_check "server saw no Call ID 1 (both translated)" no_call_id_1
lab_check "host 1's GRE reached the server with its call's key" gre_ok h1
lab_check "host 2's GRE reached the server with its call's key" gre_ok h2
lab_check "server got no GRE for an unknown call" test -z "$(pac gre-unknown)"
# On the wire at the server (tshark on its eth0): GRE to the server carries
# only the server's Call IDs, GRE from it only the translated IDs; never 1.
wire() {
	[[ -s $LAB_DIR/$RUN.wire ]] ||
		lab_capture_read "$LAB_DIR/$RUN.pcap" ip.src ip.dst gre.key.call_id | sort -u >"$LAB_DIR/$RUN.wire"
	cat "$LAB_DIR/$RUN.wire"
}
wire_keys() { wire | awk -v s="$1" -v d="$2" '$1 == s && $2 == d {print $3}' | sort -nu | tr '\n' ' '; }
ids_at_server() { pac ocrq | jq -r ".$1" | sort -nu | tr '\n' ' '; }
lab_check "wire: GRE WAN -> server keyed with the server's two Call IDs only" \
	eval 'test "$(wire_keys "$LAB_WAN_IP" "$SIP")" = "$(ids_at_server pac_call_id)"'
lab_check "wire: GRE server -> WAN keyed with the two translated Call IDs only" \
	eval 'test "$(wire_keys "$SIP" "$LAB_WAN_IP")" = "$(ids_at_server call_id)"'
lab_check "wire: no other GRE at the server" \
	eval 'test "$(wire | awk -v w="$LAB_WAN_IP" -v s="$SIP" "!((\$1 == w && \$2 == s) || (\$1 == s && \$2 == w))" | wc -l)" = 0'
lab_log "wire: $(wire | tr '\n' ';')"
lab_check "named counter pptp_ctrl counted the control connections" \
	test "$(lab_counter pptp_ctrl)" -ge 8
lab_check "named counter pptp_gre counted the GRE both ways" \
	test "$(lab_counter pptp_gre)" -ge 12

# ---- feature off: [pptp] enabled = false --------------------------------------
lab_ns "$R" conntrack -F 2>/dev/null
lab_config "$LAB_DIR/pptp-off.toml" pptp enabled false
lab_check "vpnpt apply ([pptp] enabled = false)" lab_apply "$LAB_DIR/pptp-off.toml"
RUN=off
lab_capture_start "$S" eth0 "$LAB_DIR/off.pcap" "ip proto 47" || exit 1
two_calls off
lab_capture_stop
lab_check "pptp off: server sees Call ID 1 from both hosts (collision)" \
	test "$(pac ocrq | jq -r .call_id | sort | uniq -c | awk '{print $1 "x" $2}')" = 2x1
lab_check "pptp off, wire: the server's GRE replies for both calls are keyed 1" \
	eval 'test "$(wire_keys "$SIP" "$LAB_WAN_IP")" = "1 "'
lab_check_not "pptp off: host 1 gets none of its GRE replies right" test "$RC1" = 0
lab_check_not "pptp off: host 2 gets none of its GRE replies right" test "$RC2" = 0

lab_done
