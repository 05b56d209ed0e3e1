#!/bin/bash
# vm-timeout: 120
# PPTP with real peers through a router doing masquerade with the kernel's
# PPTP conntrack helper attached by hand (nft "ct helper"), no vpnpt: pptpd
# on the server, pptp-linux on two LAN hosts. Both get a ppp link and ping
# the server's end across it. This is the reference for t-pptp-vpnpt and the
# counterpart of t-pptp-control.
. "$VPNPT_VM_TESTS/lib.sh"

lab_up 2 || fail "lab"
modprobe nf_conntrack_pptp && modprobe nf_nat_pptp || fail "PPTP helper modules"
run n $R nft -f - <<-EOF2 || fail "nft"
	table ip vm_nat {
		ct helper pptp { type "pptp" protocol tcp; }
		chain pre {
			type filter hook prerouting priority filter; policy accept;
			iifname "br0" tcp dport 1723 ct helper set "pptp"
		}
		chain post {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "eth0" masquerade
		}
	}
EOF2
syslog_up || fail "syslogd"
pptp_server_up || { pptp_show_logs; fail "pptpd does not listen on 1723"; }
pptp_client_up 1
pptp_client_up 2
for i in 1 2; do
	wait_for 40 ppp_addr "$i" || { pptp_show_logs; fail "host $i: no ppp link through the router"; }
	log "host $i: ppp0 $(ppp_addr "$i")"
done
for i in 1 2; do
	got=$(n "$(host "$i")" ping -q -c 5 -i 0.2 -W 1 10.9.0.1 | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	log "host $i: $got/5 replies from 10.9.0.1 over ppp0"
	[ "${got:-0}" -ge 4 ] || { pptp_show_logs; fail "host $i: ping across the ppp link"; }
done
n $R conntrack -L -p gre 2>/dev/null | sed 's/^/router conntrack: /'
ok "two PPTP clients behind one NAT with the pptp helper"
exit 0
