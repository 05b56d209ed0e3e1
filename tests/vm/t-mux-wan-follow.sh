#!/bin/bash
# vm-timeout: 180
# The module knows the WAN interface by name ([wan] interface = "eth0") and
# takes peers only from it: it follows the name when the interface is
# renamed away and back, and when it is deleted and created again with a new
# index (what a PPP link does each time it comes up).
#
#   vm-h1 ── br0 [ vm-r ] eth0 ──── eth0 [ vm-s ]     (eth0 of vm-r renamed,
#                                                     then re-created)
# Control inside the test: while the router's WAN interface is named wan9,
# the peer's ESP is not a peer's to the module (wrong_iface counts it) and
# the tunnel gets no replies; under the configured name it works again.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
tunnel_up 1 || fail "tunnel"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel before: $got/5"; }
ok "tunnel through the module: $got/5"
counter() { vpnpt --config "$CFG" status --json 2>/dev/null | jq -r ".esp.counters.$1 // 0"; }

# Renamed away: the module no longer has a WAN interface. vpnpt's masquerade
# names eth0, so the test masquerades on wan9 itself: the only thing that can
# lose the replies then is the module refusing a peer on a non-WAN interface.
run n $R ip link set eth0 down
run n $R ip link set eth0 name wan9
run n $R ip link set wan9 up
n $R nft -f - <<-EOF2 || fail "masquerade on wan9"
	table ip t_wan9 {
		chain post {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "wan9" masquerade
		}
	}
EOF2
wait_for 10 n $R ping -c1 -W1 $WAN_S || fail "router cannot reach the server after the rename"
w0=$(counter wrong_iface)
got=$(tunnel_ping 1 5)
w1=$(counter wrong_iface)
log "WAN renamed to wan9: $got/5 replies, wrong_iface $w0 -> $w1"
[ "${got:-0}" -eq 0 ] || { show_status; fail "peer traffic accepted from an interface that is not [wan] ($got/5)"; }
[ "$w1" -gt "$w0" ] || { show_status; fail "wrong_iface did not count the peer's ESP on wan9"; }
ok "under another name the interface is not the WAN (0/5, wrong_iface +$((w1 - w0)))"

# Renamed back: followed.
run n $R nft delete table ip t_wan9
run n $R ip link set wan9 down
run n $R ip link set wan9 name eth0
run n $R ip link set eth0 up
wait_for 10 n $R ping -c1 -W1 $WAN_S || fail "router cannot reach the server after renaming back"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel after renaming back: $got/5"; }
ok "renamed back to eth0: followed ($got/5)"

# Deleted and created again: a new index under the same name, as PPP does.
old=$(n $R cat /sys/class/net/eth0/ifindex)
run n $R ip link del eth0
ip -n $R -batch - <<-EOF2 || fail "re-create eth0"
	link add eth0 type veth peer name eth0 netns $S
	link set eth0 up
	addr add $WAN_R/24 dev eth0
EOF2
ip -n $S -batch - <<-EOF2 || fail "server side of the new eth0"
	link set eth0 up
	addr add $WAN_S/24 dev eth0
	route add 10.1.0.0/16 via $WAN_R
EOF2
new=$(n $R cat /sys/class/net/eth0/ifindex)
log "eth0 re-created: ifindex $old -> $new"
[ "$new" != "$old" ] || fail "the re-created eth0 kept its index: the case is not shown"
wait_for 10 n $R ping -c1 -W1 $WAN_S || fail "router cannot reach the server over the new eth0"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel over the re-created eth0: $got/5"; }
ok "re-created eth0 (index $old -> $new): followed ($got/5)"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
exit 0
