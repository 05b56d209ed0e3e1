#!/bin/bash
# vm-timeout: 240
# Control for t-l2tp-ipsec: the same two L2TP/IPsec clients behind plain
# masquerade (no vpnpt). Both links come up and carry pings (NAT-T is
# plain UDP), but after a silence longer than the router's UDP timeout
# (cut to 10 s, no keep-alives) the mappings are gone and the server's
# packets reach neither host.
. "$VPNPT_VM_TESTS/lib.sh"

l2tp_ipsec_two_up router_masquerade
wait_for $((2 * L2TP_IPSEC_UDP_TIMEOUT)) natt_flows_gone ||
	fail "NAT-T flows still there after $((2 * L2TP_IPSEC_UDP_TIMEOUT)) s: $(natt_flows)"
log "the NAT-T mappings expired"
for i in 1 2; do
	got=$(server_ping_host $i 5)
	log "server -> host $i over L2TP/IPsec after the silence: $got/5"
	[ "${got:-0}" -eq 0 ] || fail "server reaches host $i behind plain masquerade after the silence: the control case no longer fails"
done
ok "control: plain masquerade carries L2TP/IPsec while busy, but an idle NAT-T mapping expires and the server loses both hosts"
exit 0
