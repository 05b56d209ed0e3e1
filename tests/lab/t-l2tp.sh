#!/bin/bash
# t-l2tp.sh: two LAN hosts open L2TP tunnels (UDP 1701) to two servers.
#
#   lan1 (.2) --\                          /-- srv1 203.0.113.2: LNS, answers from 1701
#                router (vpnpt, eth0 masq)
#   lan2 (.3) --/                          \-- srv2 203.0.113.3: LNS, answers from 1702
#
# Both hosts send from source port 1701. Masquerade keeps 1701 for the first
# and picks another public port for the second; the server answers each
# mapping and both tunnels come up (SCCRQ, SCCRP, SCCCN, ZLB: both
# directions). srv2 answers from port 1702 instead, as RFC 2661 section 8.1
# allows: that reply matches no conntrack entry, so without vpnpt's l2tp
# support (the learned l2tp_sessions map) the router drops it. The feature-off
# case applies [l2tp] enabled = false and expects exactly that.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbl2tp}"
lab_need_vpnpt
lab_create 2 2
R=$(lab_router) S1IP=$(lab_srv_ip 1) S2IP=$(lab_srv_ip 2)

lab_peer_bg "$(lab_srv 1)" "$LAB_DIR/lns1.log" l2tp server
lab_peer_bg "$(lab_srv 2)" "$LAB_DIR/lns2.log" l2tp server --reply-port 1702
lab_ready "$LAB_DIR/lns1.log" && lab_ready "$LAB_DIR/lns2.log" || exit 1

# tunnels NAME SERVER: a tunnel from each LAN host to SERVER at the same time;
# exit statuses in RC1 RC2; the server's log of this run in $LAB_DIR/NAME-lns.log.
tunnels() {
	local name=$1 srv=$2 log p1 p2 from
	log=$LAB_DIR/lns$([[ $srv == "$S1IP" ]] && echo 1 || echo 2).log
	from=$(wc -l <"$log")
	lab_peer_bg "$(lab_lan 1)" "$LAB_DIR/$name-h1.log" l2tp client "$srv" --tag h1 --tid 101; p1=$LAB_LAST_PID
	lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/$name-h2.log" l2tp client "$srv" --tag h2 --tid 102; p2=$LAB_LAST_PID
	wait "$p1"; RC1=$?
	wait "$p2"; RC2=$?
	tail -n +"$((from + 1))" "$log" >"$LAB_DIR/$name-lns.log"
}
lns() { jq -c "select(.ev == \"$2\")" "$LAB_DIR/$1-lns.log"; }
# sccrq_ports NAME: the public source ports the server saw, in arrival order.
sccrq_ports() { lns "$1" sccrq | jq -r '.peer | split(":")[1]'; }
both_from_wan() { test "$(lns "$1" sccrq | jq -r '.peer | split(":")[0]' | grep -cx "$LAB_WAN_IP")" = 2; }
distinct_ports() { test "$(sccrq_ports "$1" | sort -u | wc -l)" = 2; }
# scccn_both NAME: the server got SCCCN on tunnel IDs of both hosts.
scccn_both() { test "$(lns "$1" scccn | jq -r .tunnel_id | sort -u | wc -l)" = 2; }

# ---- on (the shipped config) ---------------------------------------------------
lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/default.toml"

tunnels std "$S1IP"
lab_check "server on 1701: host 1's tunnel comes up" test "$RC1" = 0
lab_check "server on 1701: host 2's tunnel comes up" test "$RC2" = 0
lab_check "server on 1701: both SCCRQs from the WAN address" both_from_wan std
lab_check "server on 1701: on distinct public ports" distinct_ports std
lab_check "server on 1701: SCCCN of both tunnels arrived" scccn_both std
lab_log "public source ports seen for 1701: $(sccrq_ports std | tr '\n' ' ')"

tunnels alt "$S2IP"
lab_check "server answering from 1702: host 1's tunnel comes up" test "$RC1" = 0
lab_check "server answering from 1702: host 2's tunnel comes up" test "$RC2" = 0
lab_check "server answering from 1702: SCCCN of both tunnels arrived on 1702" scccn_both alt
lab_check "named counter l2tp counted the tunnels" test "$(lab_counter l2tp)" -ge 8

# ---- feature off: [l2tp] enabled = false ------------------------------------------
lab_ns "$R" conntrack -F 2>/dev/null
lab_config "$LAB_DIR/l2tp-off.toml" l2tp enabled false
lab_check "vpnpt apply ([l2tp] enabled = false)" lab_apply "$LAB_DIR/l2tp-off.toml"
tunnels offstd "$S1IP"
lab_check "l2tp off, server on 1701: plain masquerade still carries both" \
	test "$RC1$RC2" = 00
tunnels offalt "$S2IP"
lab_check_not "l2tp off, server answering from 1702: host 1's tunnel stays down (SCCRP dropped)" test "$RC1" = 0
lab_check_not "l2tp off, server answering from 1702: host 2's tunnel stays down (SCCRP dropped)" test "$RC2" = 0
lab_check "l2tp off, server answering from 1702: it got both SCCRQs but no SCCCN" \
	test "$(lns offalt sccrq | wc -l):$(lns offalt scccn | wc -l)" = 2:0

lab_done
