#!/bin/bash
# vm-timeout: 180
# Real IKE through vpnpt: libreswan (IKEv2, PSK, NAT-T off so ESP stays raw)
# on two LAN hosts and on the server, both hosts negotiating at the same
# moment. IKE crosses the router on UDP 500; raw ESP goes through vpnpt_esp.
# Both child SAs must bind to the right hosts (vpnpt status: each host's
# mapping has the inbound SPI that host's pluto installed) and carry traffic.
# Control: t-ike-libreswan-control.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 2 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
ls_lab_up 2 || { ls_show_logs; fail "libreswan peers"; }
run ls_initiate_all 2
for i in 1 2; do
	wait_for 60 ls_established $i || { ls_show_logs; show_status; fail "host $i: IKE did not install a child SA"; }
	log "host $i: child SA installed, inbound SPI $(ls_spi_in $i)"
done
# The initiator installs its SAs before the responder has finished: poll
# until each tunnel answers once, then measure both at the same time.
answers() { [ "$(tunnel_ping "$1" 1)" = 1 ]; }
for i in 1 2; do
	wait_for 30 answers $i || { ls_show_logs; show_status; fail "host $i: no reply through its libreswan tunnel in 30s"; }
done
pids=()
for i in 1 2; do
	( tunnel_ping $i 10 > /tmp/got$i ) &
	pids+=($!)
done
wait "${pids[@]}"
for i in 1 2; do
	got=$(cat /tmp/got$i)
	log "host $i: $got/10 replies through its libreswan tunnel"
	[ "${got:-0}" -ge 8 ] || { ls_show_logs; show_status; fail "host $i: libreswan tunnel through mux: $got/10"; }
done
wait_for 10 bound_at_least 2 || { show_status; fail "vpnpt status does not show two bound mappings"; }
for i in 1 2; do
	want=$(printf '0x%x' "$(ls_spi_in $i)")
	m=$(mapping_of "$(host_ip $i)")
	log "host $i: pluto's inbound SPI $want; vpnpt mapping: $m"
	grep -q " $want bound" <<<"$m" || { show_status; fail "host $i: its inbound SPI $want is not bound to it"; }
done
show_status
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "real IKEv2 from two hosts at once: both child SAs bound to the right hosts"
exit 0
