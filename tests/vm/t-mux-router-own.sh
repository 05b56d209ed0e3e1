#!/bin/bash
# vm-timeout: 150
# The router's own IPsec tunnel to the same server (router 10.2.0.1 <->
# server 10.0.0.1 over 203.0.113.1 <-> .2) keeps working with the module
# loaded and a LAN host's tunnel to that server active: the module must never
# bind the router's own inbound SPI to a LAN host.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
tunnel_up 1 || fail "host tunnel"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "host tunnel: $got/5"; }

k_out=$(xfrm_key 200 0); k_in=$(xfrm_key 200 1)
router_sas() {
	cat <<-END
		xfrm state add src $WAN_R dst $WAN_S proto esp spi 0x3000 reqid 200 mode tunnel aead rfc4106(gcm(aes)) $k_out 128
		xfrm state add src $WAN_S dst $WAN_R proto esp spi 0x4000 reqid 200 mode tunnel aead rfc4106(gcm(aes)) $k_in 128
	END
}
n $R ip addr add 10.2.0.1/32 dev lo
n $R ip route add 10.0.0.1/32 via $WAN_S   # the inner route; xfrm does the rest
{ router_sas; cat <<-END
	xfrm policy add dir out src 10.2.0.1/32 dst 10.0.0.1/32 tmpl src $WAN_R dst $WAN_S proto esp reqid 200 mode tunnel
	xfrm policy add dir in src 10.0.0.1/32 dst 10.2.0.1/32 tmpl src $WAN_S dst $WAN_R proto esp reqid 200 mode tunnel
END
} | ip -n $R -batch - || fail "router SAs"
n $S ip route add 10.2.0.1/32 via $WAN_R
{ router_sas; cat <<-END
	xfrm policy add dir in src 10.2.0.1/32 dst 10.0.0.1/32 tmpl src $WAN_R dst $WAN_S proto esp reqid 200 mode tunnel
	xfrm policy add dir out src 10.0.0.1/32 dst 10.2.0.1/32 tmpl src $WAN_S dst $WAN_R proto esp reqid 200 mode tunnel
END
} | ip -n $S -batch - || fail "server SAs"

# The LAN host starts a new SA at the same moment (its bind window is open
# while the router's ESP comes back): the router's SPI must still not be taken.
tunnel_up 1 1 || fail "host tunnel generation 1"
( tunnel_ping 1 10 > /tmp/host.got ) &
hostping=$!
got=$(n $R ping -q -c 10 -i 0.2 -W 1 -I 10.2.0.1 10.0.0.1 | sed -n 's/.* \([0-9]*\) received.*/\1/p')
wait $hostping
log "router's own tunnel: $got/10; LAN host meanwhile: $(cat /tmp/host.got)/10"
[ "${got:-0}" -ge 9 ] || { show_status; fail "router's own tunnel with the module loaded: $got/10"; }
p=$(sa_packets $R 0x4000)
[ "${p:-0}" -ge 9 ] || { n $R ip -s xfrm state; n $R ip -s xfrm policy; fail "router's inbound SA 0x4000 decrypted only $p packets"; }
vpnpt --config "$CFG" status --json | jq -e '[.esp.mappings[]? | select(.spi_in == 16384)] | length == 0' >/dev/null ||
	{ show_status; fail "the router's own SPI 0x4000 shows up as a LAN mapping"; }
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "the router's own IPsec tunnel works next to the module"
exit 0
