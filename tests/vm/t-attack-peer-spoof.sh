#!/bin/bash
# vm-timeout: 420
# Attack: a LAN host forges the peer's address (issue 9, "peer impersonation").
#
#   vm-h1 (attacker) ─┐                 203.0.113.1                 203.0.113.2
#   vm-h2 (victim)  ──┴─ br0 [ vm-r, esp = "mux" ] eth0 ─────── eth0 [ vm-s: IKE responder ]
#      192.168.1.2/.3       .1                                        ESP peer of both hosts
#
# Host 1 writes IP headers with the source 203.0.113.2 (the server, i.e. the
# peer) and sends them into the LAN, to the router's own addresses:
#  (a) UDP 500 to 192.168.1.1 carrying an IKEv2 CREATE_CHILD_SA request header
#      on an IKE SA nobody has, once a second. A module that takes "to a local
#      address" for "from the peer" believes the peer negotiates a child SA
#      with some unknown host and refuses every new SPI of that peer for 30 s
#      (contention): host 2's tunnel (crafted IKE exchange + manual SAs, as in
#      t-mux-two) never binds, bind_ambiguous counts.
#  (b) ESP to 203.0.113.1 with random SPIs, 100 a second, while host 2 brings
#      its tunnel up: the first one inside host 2's bind window is bound to
#      host 2 in its place, and the peer's real SPI for host 2 is refused.
# What must hold: peers are recognised only on the config's WAN interface
# (eth0 of vm-r), so both cases leave host 2's tunnel working (>= 8/10 echo
# replies after its exchange), host 2's mapping is exactly its own SPIs, and no
# SPI is bound to anyone but the SAs that exist.
#
# rp_filter: the module's hook sits in PRE_ROUTING before the route lookup,
# where rp_filter acts, so rp_filter never hides a forged packet from the
# module; what it changes is whether the forged packet is then delivered.
# Namespaces inherit init's IPv4 settings (kernel default 0 in this VM;
# Debian's systemd sets 2, loose, which accepts these sources too). The test
# logs what it finds and sets 0 in the router so that the result depends on
# the module alone, not on the distribution's sysctl defaults.
. "$VPNPT_VM_TESTS/lib.sh"

mux_two_up
log "router rp_filter before: $(rp_filter_of $R)"
for k in all default br0 eth0; do n $R sysctl -qw "net.ipv4.conf.$k.rp_filter=0" || fail "rp_filter $k"; done
log "router rp_filter now: $(rp_filter_of $R)"

# What crosses the router's LAN side with the peer's source, counted before
# the module's hook (raw priority -300 < -250), whatever the module does.
n $R nft -f - <<-EOF || fail "nft counters"
	table ip vm_attack {
		counter forged_ike { }
		counter forged_esp { }
		chain pre {
			type filter hook prerouting priority -300; policy accept;
			iifname "br0" ip saddr $WAN_S udp dport 500 counter name forged_ike
			iifname "br0" ip saddr $WAN_S ip protocol esp counter name forged_esp
		}
	}
EOF
forged_at_least() { [ "$(nft_counter ip vm_attack "$1")" -ge "$2" ]; }
ping_cmd="ping -q -c 10 -i 0.2 -W 2 -I 10.1.2.1 10.0.0.1"
failed=0

# victim CASE: host 2's exchange, then 10 pings; >= 8 replies and exactly its
# own mapping, else the case fails (the test goes on to the next case).
victim() {
	local got m others
	rm -f /tmp/$(host 2).json
	run ike_exchange --init-auth --then "$ping_cmd" $(host 2) || log "($1: first pings lost)"
	log "$1: host 2 first round: $(grep received /tmp/$(host 2).then)"
	got=$(tunnel_ping 2 10)
	m=$(mapping_of "$(host_ip 2)" | tr '\n' ';')
	others=$(vpnpt --config "$CFG" status --json 2>/dev/null | jq --argjson s $(($(spi_in 2))) \
		'[.esp.mappings[]? | select(.kind == "esp" and .spi_in != 0 and .spi_in != $s)] | length')
	log "$1: host 2 $got/10 replies; mapping: ${m:-none} other bound SPIs: $others"
	log "$1: $(esp_counters bind_ike bind_fallback bind_ambiguous ike_unknown esp_in_unknown window_opened)"
	if [ "${got:-0}" -lt 8 ]; then
		show_status; log "FAIL $1: host 2's tunnel: $got/10 replies"; failed=1
	elif [ "$m" != "$(spi_out 2) $(spi_in 2) bound;" ]; then
		show_status; log "FAIL $1: host 2's mapping is '$m', not its own SPIs"; failed=1
	elif [ "$others" != 0 ]; then
		show_status; log "FAIL $1: $others mapping(s) bound to SPIs no SA has"; failed=1
	else
		ok "$1: host 2's tunnel works beside the forger"
	fi
}

# (a) forged child-SA requests "from the peer", one a second for 60 s; first a
# genuine IKE_SA_INIT of host 1's own, so the router knows the peer.
spoof_bg /tmp/forge-ike.out ike --ns $(host 1) --init-first $WAN_S --src $WAN_S --dst 192.168.1.1 \
	--exch 36 --count 60 --interval 1
forger=$SPOOF_PID
wait_for 15 forged_at_least forged_ike 2 || fail "(a): the forged IKE did not reach the router"
log "(a): forged CREATE_CHILD_SA requests seen on br0: $(nft_counter ip vm_attack forged_ike)"
victim "(a) forged IKE"
kill $forger 2>/dev/null; wait $forger 2>/dev/null

# A fresh module for (b): nothing (a) did may help or hurt it.
run vpnpt --config "$CFG" remove >/dev/null
run modprobe -r vpnpt_esp || fail "unload between the cases"
run modprobe vpnpt_esp || fail "load again"
run vpnpt --config "$CFG" apply >/dev/null || fail "apply again"

# (b) forged ESP "from the peer" at 100 packets a second, random SPIs.
spoof_bg /tmp/forge-esp.out esp --stream "ns=$(host 1),src=$WAN_S,dst=$WAN_R,spi=random" --pps 100
forger=$SPOOF_PID
wait_for 15 forged_at_least forged_esp 20 || fail "(b): the forged ESP did not reach the router"
log "(b): forged ESP packets seen on br0 so far: $(nft_counter ip vm_attack forged_esp)"
victim "(b) forged ESP"
kill $forger 2>/dev/null; wait $forger 2>/dev/null
log "(b): forged ESP packets in all: $(nft_counter ip vm_attack forged_esp)"

dmesg_clean || fail "kernel log shows a BUG/oops/warning"
[ $failed = 0 ] || fail "a LAN host forging the peer's address broke another host's tunnel"
ok "forged peer traffic from the LAN changes nothing for other hosts"
exit 0
