#!/bin/bash
# vm-timeout: 240
# L2TP/IPsec the way the built-in Windows, macOS and Android clients do it
# (IKEv1 PSK, ESP in transport mode over NAT-T, xl2tpd inside; libreswan on
# both sides) from two LAN hosts to one server at once, through vpnpt:
# host 1's L2TP from port 1701 (Windows), host 2's from 1702 (macOS uses a
# port of its own). Both ppp links carry pings. NAT-T is plain UDP to the
# router, and masquerade alone carries it while it is busy (the control
# shows that too); what vpnpt adds is its conntrack timeout for IKE and
# NAT-T flows ([ipsec] ike_timeout, 600 s): the router's UDP timeouts are
# cut to 10 s here and the clients send no NAT-T keep-alives, and after 20 s
# of silence the server can still reach both hosts.
# Why host 2 is not on 1701 too: two clients that both send L2TP from 1701
# (two Windows PCs) look identical to a Linux server behind the NAT (udp
# 203.0.113.1:1701 <-> 203.0.113.2:1701): Libreswan 4.10 there establishes
# the first one's SA and refuses the second ("cannot install eroute -- it
# is in use"), which no router can change (tried in this lab, vpnpt applied:
# both clients' SAs up on their side, host 1 no ppp link).
# Control: t-l2tp-ipsec-control (plain masquerade: the mappings expire and
# the server reaches neither host).
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
vpnpt_esp_off() { mux_up off; }
l2tp_ipsec_two_up vpnpt_esp_off
n0=$(natt_flows)
if wait_for $((2 * L2TP_IPSEC_UDP_TIMEOUT)) natt_flows_gone; then
	fail "the NAT-T mappings expired with the router's UDP timeout ($L2TP_IPSEC_UDP_TIMEOUT s)"
fi
log "after $((2 * L2TP_IPSEC_UDP_TIMEOUT)) s of silence: $(natt_flows) of $n0 NAT-T flows left"
for i in 1 2; do
	got=$(server_ping_host $i 5)
	log "server -> host $i over L2TP/IPsec after the silence: $got/5"
	[ "${got:-0}" -ge 4 ] || { ls_show_logs; fail "server cannot reach host $i after the silence"; }
done
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "L2TP/IPsec (NAT-T, transport mode) from two hosts at once: both links work, and still after a silence longer than the UDP timeout"
exit 0
