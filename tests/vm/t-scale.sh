#!/bin/bash
# vm-timeout: 300
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
run lab_up $NH || fail "lab"
log "lab of $NH hosts up"
esp_ready || fail "esp4/drbg"
mux_up mux
run tunnel_up_all $NH || fail "SAs"
ike_responder_up || fail "IKE responder"
hosts=$(for i in $(seq 1 $NH); do host "$i"; done)
run ike_exchange --init-auth --timeout 120 \
	--then "ping -q -c 3 -i 0.3 -W 3 -I 10.1.\${NS#vm-h}.1 10.0.0.1" $hosts ||
	log "(some first pings lost while the hosts took turns to bind)"
wait_for 90 bound_at_least $NH || { show_status | head -30; fail "only $(bound_count)/$NH mappings bound"; }
log "$NH mappings bound"

# All tunnels at once.
pids=()
for i in $(seq 1 $NH); do
	( tunnel_ping "$i" 5 > "/tmp/got$i" ) &
	pids+=($!)
done
wait "${pids[@]}"
bad=
for i in $(seq 1 $NH); do
	got=$(cat "/tmp/got$i")
	[ "${got:-0}" -ge 4 ] || bad="$bad h$i:${got:-0}/5"
	nst=$(xfrm_stat "$(host "$i")" XfrmInNoStates)
	[ "${nst:-0}" -eq 0 ] || bad="$bad h$i:foreign-esp=$nst"
done
[ -z "$bad" ] || { show_status | head -30; fail "hosts without their own traffic:$bad"; }
log "all $NH tunnels carried traffic at once; no host received another's ESP"

want=$(for i in $(seq 1 $NH); do echo "$(host_ip "$i") $((0x2000 + i))"; done | sort)
have=$(vpnpt --config "$CFG" status --json |
	jq -r '.esp.mappings[] | select((.state | ascii_downcase) == "bound" and .spi_in != 0) | "\(.host) \(.spi_in)"' | sort)
[ "$want" = "$have" ] || { diff <(echo "$want") <(echo "$have") | head; fail "bound mappings differ from one per host with its own SPI"; }
log "vpnpt status: $(wc -l <<<"$have") bound mappings, each host with its own inbound SPI"
vpnpt --config "$CFG" status --json | jq -c '.esp.counters | {bind_ike, bind_fallback, held, bind_ambiguous, window_expired, hold_full}'
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "$NH hosts, $NH tunnels, one NAT"
exit 0
