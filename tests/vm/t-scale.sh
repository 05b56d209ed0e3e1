#!/bin/bash
# vm-timeout: 240
# Scale: 100 LAN hosts, each with its own tunnel-mode ESP SA pair to the one
# server, all started together: every child SA is preceded by its IKE
# exchange on UDP 500 (crafted RFC 7296 headers, tests/vm/ike.py, all 100 in
# flight at once) and each host sends as soon as its exchange completes.
# Then all 100 tunnels carry traffic at the same time. Every host must get
# its replies and receive only its own tunnel's packets (no ESP for an SA it
# lacks: XfrmInNoStates = 0), and vpnpt status must show 100 bound mappings,
# each with that host's own inbound SPI.
. "$VPNPT_VM_TESTS/lib.sh"

NH=100
need_vpnpt
LAB_HOST_EXTRA=tunnel_host_lines    # each host's SAs go in with its addresses
run lab_up $NH || fail "lab"
run tunnel_server_all $NH || fail "server SAs"
log "lab of $NH hosts with their SAs up"
esp_ready || fail "esp4/drbg"
mux_up mux
ike_responder_up || fail "IKE responder"
hosts=$(for ((i = 1; i <= NH; i++)); do echo "vm-h$i"; done)
ike=(/usr/bin/python3 "$VPNPT_VM_TESTS/ike.py")
# All IKE exchanges at once; each host pings through its tunnel as soon as
# its own exchange is done (in the same process: no exec per host).
run "${ike[@]}" exchange --peer $WAN_S --state-dir /tmp --timeout 150 --init-auth \
	--ping-src '10.1.{i}.1' --ping-dst 10.0.0.1 $hosts || { show_status | head -30; fail "IKE + first traffic"; }
log "$NH exchanges done, each followed by a reply through its tunnel"
wait_for 30 bound_at_least $NH || { show_status | head -30; fail "only $(bound_count)/$NH mappings bound"; }
log "$NH mappings bound"

# All tunnels at once: every host must get its replies and no ESP for an SA
# it lacks (XfrmInNoStates = 0: it received only its own tunnel's packets).
run "${ike[@]}" ping --src '10.1.{i}.1' --dst 10.0.0.1 --count 5 --min 4 $hosts > /tmp/ping.out
rc=$?
grep -v ' 5/5 XfrmInNoStates=0$' /tmp/ping.out | head -20
[ $rc = 0 ] || { show_status | head -30; fail "not every host got its own traffic (above)"; }
log "all $NH tunnels carried traffic at once; no host received another's ESP"

want=$(for ((i = 1; i <= NH; i++)); do echo "192.168.1.$((i + 1)) $((0x2000 + i))"; done | sort)
have=$(vpnpt --config "$CFG" status --json |
	jq -r '.esp.mappings[] | select((.state | ascii_downcase) == "bound" and .spi_in != 0) | "\(.host) \(.spi_in)"' | sort)
[ "$want" = "$have" ] || { diff <(echo "$want") <(echo "$have") | head; fail "bound mappings differ from one per host with its own SPI"; }
log "vpnpt status: $(wc -l <<<"$have") bound mappings, each host with its own inbound SPI"
vpnpt --config "$CFG" status --json | jq -c '.esp.counters | {bind_ike, bind_fallback, held, released, bind_ambiguous, window_expired, hold_full}'
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "$NH hosts, $NH tunnels, one NAT"
exit 0
