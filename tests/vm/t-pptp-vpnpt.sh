#!/bin/bash
# vm-timeout: 120
# PPTP with real peers through the router with vpnpt applied (the shipped
# config: [pptp] enabled by default): pptpd on the server, pptp-linux on two
# LAN hosts. Both get a ppp link and ping the server's end across it.
# Control: t-pptp-control (no helper: no link).
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
lab_up 2 || fail "lab"
mux_up single
syslog_up || fail "syslogd"
pptp_server_up || { pptp_show_logs; fail "pptpd does not listen on 1723"; }
pptp_client_up 1
pptp_client_up 2
for i in 1 2; do
	wait_for 40 ppp_addr "$i" || { pptp_show_logs; show_status; fail "host $i: no ppp link through the router"; }
	log "host $i: ppp0 $(ppp_addr "$i")"
done
for i in 1 2; do
	got=$(n "$(host "$i")" ping -q -c 5 -i 0.2 -W 1 10.9.0.1 | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	log "host $i: $got/5 replies from 10.9.0.1 over ppp0"
	[ "${got:-0}" -ge 4 ] || { pptp_show_logs; fail "host $i: ping across the ppp link"; }
done
show_status
ok "two PPTP clients behind vpnpt"
exit 0
