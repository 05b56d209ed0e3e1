#!/bin/bash
# vm-timeout: 180
# An L2TP/IPsec server behind the router (libreswan + xl2tpd on LAN host 1,
# 192.168.1.2) reached from the internet (the client in vm-s dials the
# router's WAN address) through vpnpt's [[forward]] service = "ipsec"
# (UDP 500, 4500 and ESP). That forward is all it takes: L2TP itself runs
# inside ESP, so no UDP 1701 forward (which would expose L2TP in clear).
# The server sees the client through the DNAT, so IKE floats to NAT-T; its
# leftid is the router's public address, which the client expects.
# Control: t-l2tp-ipsec-forward-control (no forward: no SA).
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up off $'[[forward]]\nservice = "ipsec"\nto = "192.168.1.2"'
l2tp_ipsec_server_up vm-h1 "$(host_ip 1)" $WAN_R || { ls_show_logs; l2tp_show_logs; fail "L2TP/IPsec server on host 1"; }
l2tp_ipsec_client_up $S $WAN_S $WAN_R 1701 || { ls_show_logs; fail "client pluto"; }
t0=$(date +%s)
ls_initiate $S l2tp
wait_for 60 ls_natt_sa_in $S $WAN_S || { ls_show_logs; show_status; fail "client: no NAT-T SA in 60s"; }
log "client: NAT-T SA installed $(( $(date +%s) - t0 ))s after initiating"
L2TP_LNS=$WAN_R l2tp_lac_up $S
ppp_s() { n $S ip -4 -o addr show dev ppp0 2>/dev/null | awk '{ print $4 }' | grep .; }
wait_for 60 ppp_s || { ls_show_logs; l2tp_show_logs; fail "client: no ppp link in 60s"; }
log "client: ppp0 $(ppp_s)"
ans() { [ "$(l2tp_ping_ns $S 1)" = 1 ]; }
wait_for 20 ans || { l2tp_show_logs; fail "client: no ping reply over L2TP/IPsec"; }
got=$(l2tp_ping_ns $S 10)
log "client: $got/10 replies from the LNS behind the router"
[ "${got:-0}" -ge 8 ] || fail "client: $got/10"
echo "--- router: forwarded flows (conntrack) ---"
n $R conntrack -L -p udp 2>/dev/null | grep -E 'dport=(500|4500) ' | sed 's/^/  /'
show_status
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "L2TP/IPsec to a server behind the router through [[forward]] service = \"ipsec\" alone"
exit 0
