#!/bin/bash
# vm-timeout: 120
# Control for t-l2tp-ipsec-forward: the same server behind the router and
# client on the internet, vpnpt applied without the [[forward]]: the
# client's IKE ends at the router and no SA comes up within 15 s (in the
# forward test it takes a few seconds).
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up off
l2tp_ipsec_server_up vm-h1 "$(host_ip 1)" $WAN_R || { ls_show_logs; l2tp_show_logs; fail "L2TP/IPsec server on host 1"; }
l2tp_ipsec_client_up $S $WAN_S $WAN_R 1701 || { ls_show_logs; fail "client pluto"; }
ls_initiate $S l2tp
if wait_for 15 ls_natt_sa_in $S $WAN_S; then
	fail "an SA came up without the forward: the control case no longer fails"
fi
echo "--- router: IKE flows (conntrack) ---"
n $R conntrack -L -p udp 2>/dev/null | grep -E 'dport=(500|4500) ' | sed 's/^/  /'
ok "control: without the forward, no IKE SA to the server behind the router"
exit 0
