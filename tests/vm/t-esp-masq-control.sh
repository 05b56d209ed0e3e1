#!/bin/bash
# vm-timeout: 90
# Control case (no vpnpt): two LAN hosts with tunnel-mode ESP to one server
# behind plain masquerade. ESP has no ports, so conntrack can map only one
# LAN host per remote peer: the first host's tunnel works, the second host's
# replies all go to the first host (which has no SA for them and drops them).
# This is the problem vpnpt_esp exists to solve; if it ever stops failing,
# the mux tests prove nothing.
. "$VPNPT_VM_TESTS/lib.sh"

lab_up 2 || fail "lab"
run esp_ready || fail "esp4/drbg"
run router_masquerade || fail "nft masquerade"
tunnel_up 1 || fail "tunnel 1"
tunnel_up 2 || fail "tunnel 2"

got1=$(tunnel_ping 1 5)
log "host 1: $got1/5 replies through its tunnel"
[ "${got1:-0}" -ge 4 ] || fail "host 1's tunnel should work under plain masquerade (got ${got1:-0}/5)"
got2=$(tunnel_ping 2 5)
log "host 2: $got2/5 replies through its tunnel"
[ "${got2:-0}" -eq 0 ] || fail "host 2 got replies: plain masquerade was expected to break the second tunnel"
# Which way host 2's tunnel broke: its ESP clashed in conntrack with host 1's
# (no ports to remap) or its replies went to host 1. Either way host 2's
# inbound SA decrypted nothing, host 1's did.
s1=$(sa_packets $S "$(spi_out 1)"); s2=$(sa_packets $S "$(spi_out 2)")
h1=$(sa_packets "$(host 1)" "$(spi_in 1)"); h2=$(sa_packets "$(host 2)" "$(spi_in 2)")
log "server decrypted: host 1 $s1, host 2 $s2 packets; hosts decrypted: host 1 $h1, host 2 $h2"
log "host 1 XfrmInNoStates=$(xfrm_stat "$(host 1)" XfrmInNoStates)"
[ "${h1:-0}" -ge 4 ] && [ "${h2:-0}" -eq 0 ] || fail "SA counters do not show host 1 working and host 2 broken"
ok "control: second ESP tunnel behind plain masquerade fails, as expected"
exit 0
