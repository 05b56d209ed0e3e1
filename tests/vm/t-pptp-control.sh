#!/bin/bash
# vm-timeout: 90
# Control case for PPTP: plain masquerade, no conntrack helper. The control
# connection (TCP 1723) passes, but the GRE the server sends back matches no
# conntrack entry the NAT knows, so no LAN host gets a ppp link. If this ever
# passes, t-pptp-helper and t-pptp-vpnpt prove nothing.
. "$VPNPT_VM_TESTS/lib.sh"

lab_up 2 || fail "lab"
run router_masquerade || fail "nft masquerade"
syslog_up || fail "syslogd"
pptp_server_up || { pptp_show_logs; fail "pptpd does not listen on 1723"; }
pptp_client_up 1
pptp_client_up 2
# The helper case links up in a few seconds; give this one 25.
if wait_for 25 sh -c "ip netns exec $(host 1) ip link show ppp0 up || ip netns exec $(host 2) ip link show ppp0 up" &&
   { ppp_addr 1 || ppp_addr 2; }; then
	pptp_show_logs
	fail "a host got a PPTP link without the helper: the control case no longer fails"
fi
ppp_addr 1 || ppp_addr 2 && fail "a host got a ppp address without the helper"
log "no host got a ppp link in 25s (expected)"
grep -q 'LCP: timeout\|Connection terminated\|LCP ConfReq' /tmp/pppd-h1.log /tmp/pppd-h2.log 2>/dev/null &&
	log "pppd: $(grep -h 'sent \[LCP ConfReq' /tmp/pppd-h1.log | wc -l) LCP ConfReq sent by host 1 without an answer"
ok "control: PPTP behind plain masquerade without the helper fails, as expected"
exit 0
