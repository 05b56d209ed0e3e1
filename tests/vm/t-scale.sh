#!/bin/bash
# vm-timeout: 240
# Scale: 40 LAN hosts behind one NAT, each with its own tunnel-mode ESP SA
# pair to each of 25 peers (all in the server's namespace, a WAN address
# each): 1,000 bound mappings, 40 hosts to every peer. Every child SA is
# preceded by its IKE exchange on UDP 500 (crafted RFC 7296 headers), all
# hosts at once with two exchanges in flight each (80 at a time, about 3 per
# peer: the module serialises each peer's bind windows and holds at most 4
# packets of a host, the peers run in parallel), and each host pings
# through a tunnel as soon as its exchange is done. Then all 1,000 tunnels
# carry traffic at the same time. Every (host, peer) must get its replies; at the receivers, per SPI,
# every host's and the server's inbound SA of each pair must have carried
# its packets, and no host or server received ESP it has no SA for
# (XfrmInNoStates = 0: nothing cross-delivered); vpnpt status must show
# the 1,000 bound mappings, each (host, peer) with its own inbound SPI.
# tests/vm/scale.py drives all of it from one process (2 sockets per host).
#
#   vm-h1..vm-h40 (10.1.i.1) --br0-- vm-r (vpnpt, esp = "mux") --eth0-- vm-s:
#     peer p = 203.0.113.2 (p 0) or 203.0.113.(100+p), inner 10.0.p.1
. "$VPNPT_VM_TESTS/lib.sh"

NH=40
LAB_PEERS=25
NM=$((NH * LAB_PEERS))
need_vpnpt
LAB_HOST_EXTRA=tunnel_host_lines    # each host's SAs go in with its addresses
LAB_SA_CRYPT=null                   # SAs cost nothing to set up (lib.sh)
run lab_up $NH || fail "lab"
run tunnel_server_all $NH || fail "server SAs"
log "lab of $NH hosts and $LAB_PEERS peers with their $NM SA pairs up"
peers=() binds=()
for ((p = 0; p < LAB_PEERS; p++)); do
	w=$WAN_S; [ $p = 0 ] || w=203.0.113.$((100 + p))    # peer_wan, without a fork
	peers+=(--peer "$w,10.0.$p.1") binds+=("$w")
done
# One responder, a socket per peer address (a reply leaves from the peer's
# own); python starts while the module loads and vpnpt applies.
n $S /usr/bin/python3 "$VPNPT_VM_TESTS/ike.py" respond --bind "${binds[@]}" > /tmp/ike-responder.log 2>&1 &
bg_pid $!
esp_ready || fail "esp4/drbg"
# A host holds a pair, an ESP SA and an IKE SA per peer (max_per_host
# applies to each); a peer 2 x NH mappings (ESP + IKE, max_per_peer 256).
mux_up mux $'[ipsec.mux]\nmax_per_host = '$((LAB_PEERS + 8))
responders_up() { [ "$(n $S ss -Hlun 'sport = :500' | wc -l)" -ge $LAB_PEERS ]; }
wait_for 60 responders_up || fail "IKE responder"
log "IKE responder up"
run /usr/bin/python3 "$VPNPT_VM_TESTS/scale.py" --hosts $NH "${peers[@]}" --server $S --timeout 150 --per-host 2 --count 4 --min 3 ||
	{ show_counters; fail "not every (host, peer) got its own traffic (above)"; }
log "all $NM tunnels carried traffic; no host received another's ESP"

want=$(for ((p = 0; p < LAB_PEERS; p++)); do
	w=$WAN_S; [ $p = 0 ] || w=203.0.113.$((100 + p))
	for ((i = 1; i <= NH; i++)); do echo "192.168.1.$((i + 1)) $w $((0x2000 + 0x10000 * p + i))"; done
done | sort)
vpnpt --config "$CFG" status --json > /tmp/status.json || fail "vpnpt status"
log "vpnpt status --json: $(stat -c %s /tmp/status.json) bytes"
have=$(jq -r '.esp.mappings[] | select((.state | ascii_downcase) == "bound" and .spi_in != 0) | "\(.host) \(.peer) \(.spi_in)"' /tmp/status.json | sort)
[ "$want" = "$have" ] || { diff <(echo "$want") <(echo "$have") | head; fail "bound mappings differ from one per (host, peer) with its own SPI"; }
log "vpnpt status: $(wc -l <<<"$have") bound mappings, each (host, peer) with its own inbound SPI"
jq -c '.esp.counters | {bind_ike, bind_fallback, held, released, bind_ambiguous, window_expired, hold_full}' /tmp/status.json
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "$NH hosts x $LAB_PEERS peers: $NM tunnels, one NAT"
exit 0
