#!/bin/bash
# vm-timeout: 180
# Control for t-ike-libreswan: real IKEv2 (libreswan, NAT-T off) from two LAN
# hosts to one server behind plain masquerade, both negotiating at once. IKE
# itself crosses the NAT (UDP ports are remapped), but raw ESP has no ports:
# at most one host's tunnel can carry traffic.
. "$VPNPT_VM_TESTS/lib.sh"

lab_up 2 || fail "lab"
esp_ready || fail "esp4/drbg"
run router_masquerade || fail "nft masquerade"
ls_lab_up 2 || { ls_show_logs; fail "libreswan peers"; }
run ls_initiate_all 2
for i in 1 2; do
	wait_for 60 ls_established $i || { ls_show_logs; fail "host $i: IKE did not install a child SA"; }
	log "host $i: child SA installed, inbound SPI $(ls_spi_in $i)"
done
got1=$(tunnel_ping 1 5); got2=$(tunnel_ping 2 5)
log "plain masquerade: host 1 $got1/5, host 2 $got2/5"
# Which of the two (if either) wins depends on which ESP packet conntrack saw
# first: when the server's ESP arrives before both hosts', neither tunnel
# works. What must never happen behind plain NAT is both working. (That the
# libreswan setup works at all is shown by t-ike-libreswan, same peers, mux.)
[ "${got1:-0}" -eq 0 ] || [ "${got2:-0}" -eq 0 ] ||
	fail "both tunnels work under plain masquerade: the control case no longer fails"
ok "control: real IKE negotiates for both hosts, but at most one ESP tunnel works behind plain NAT"
exit 0
