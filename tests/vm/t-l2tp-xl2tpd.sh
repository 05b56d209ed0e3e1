#!/bin/bash
# vm-timeout: 240
# xl2tpd as people run it: plain L2TP (RFC 2661, no IPsec) from two LAN
# hosts to one LNS (xl2tpd on the server), both hosts from UDP source port
# 1701, through the router with vpnpt applied. Each host must get its ppp
# link (xl2tpd's kernel data path, l2tp_ppp) and ping the LNS across it.
# Masquerade gives the second host another public port; the LNS tells the
# two tunnels apart by address, port and tunnel ID.
#
# Twice: (1) the LNS answers from port 1701, as xl2tpd does; (2) the LNS
# answers from another port (1702), as RFC 2661 section 8.1 allows (some
# LNSes do; here a nat rule in the server makes xl2tpd do it). Such a reply
# belongs to no conntrack flow: vpnpt's [l2tp] rules send it to the host
# that opened the tunnel. In (2) the LACs run xl2tpd's user-space data path
# ("force userspace"): its kernel one binds each tunnel to the port it sent
# to (1701) and drops what comes from another, with or without NAT.
# Control: t-l2tp-xl2tpd-control (no [l2tp] rules: round 2 fails for both).
. "$VPNPT_VM_TESTS/lib.sh"

need_controller

# round SPORT [LAC-GLOBAL]: a fresh lab, vpnpt (its default [l2tp] on), the
# LNS answering from SPORT, both LACs; both links up and carrying pings.
round() {
	local sport=$1 i got
	log "--- LNS answers from port $sport ---"
	lab_up 2 || fail "lab"
	mux_up off
	rm -rf $L2TP_DIR
	l2tp_server_up "$sport" || { l2tp_show_logs; fail "xl2tpd LNS"; }
	l2tp_client_up 1 "${2:-}"
	l2tp_client_up 2 "${2:-}"
	for i in 1 2; do
		wait_for 60 ppp_addr $i || { l2tp_show_logs; show_status; fail "LNS port $sport: host $i: no ppp link in 60s"; }
		log "host $i: ppp0 $(ppp_addr $i)"
	done
	for i in 1 2; do
		wait_for 20 l2tp_answers $i || { l2tp_show_logs; fail "LNS port $sport: host $i: no ping reply over its ppp link"; }
		got=$(l2tp_ping $i 10)
		log "host $i: $got/10 replies from the LNS over L2TP"
		[ "${got:-0}" -ge 8 ] || { l2tp_show_logs; fail "LNS port $sport: host $i: $got/10"; }
	done
	echo "--- router: L2TP flows (conntrack) ---"
	n $R conntrack -L -p udp 2>/dev/null | grep -E 'sport=(1701|1702) ' | sed 's/^/  /'
	[ "$sport" = 1701 ] || { echo "--- vpnpt l2tp_sessions ---"; n $R nft list map inet vpnpt l2tp_sessions | grep -A3 elements; }
	lab_down
	_lab_pids=()
}

round 1701
round 1702 "force userspace = yes"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "xl2tpd from two hosts (source port 1701) to one LNS: both ppp links carry traffic, LNS answering from 1701 or from another port"
exit 0
