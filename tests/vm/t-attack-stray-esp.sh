#!/bin/bash
# vm-timeout: 200
# Attack (issue 9): a stray ESP sender on the LAN. Host 1 keeps sending raw
# ESP to the server on an SPI the server has no SA for (a stale or
# misconfigured IPsec host, or a hostile one: 10 packets a second for the
# whole test). The peer never answers on that SPI.
#
#   vm-h1 ─┐ ESP spi 0xdead0001, 10 pps, no SA at the server
#          │
#   vm-h2 ─┴─ br0 [ vm-r: vpnpt, esp = "mux" ] eth0 ──── eth0 [ vm-s: server ]
#     manual-key tunnel 10.1.2.1 <-> 10.0.0.1 (ESP 0x1002 out, 0x2002 in)
#
# What must hold: host 2, starting its tunnel while host 1's stray SA is
# pending, gets at least 8 of 10 echo replies through it within
# 3 x pending_timeout (5 s shipped: 15 s); nothing reaches a host that has no
# SA for it (XfrmInNoStates = 0 on both hosts).
# Seen on eba90f0: host 1's packets keep its pending SA alive forever
# (pending expiry needs pending_timeout without packets), and while another
# host's SA is pending the server's SPI for host 2 is refused as ambiguous
# (bind_ambiguous), then remembered as an orphan: host 2 never gets a reply.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 2 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
pt=$(cfg_pending_timeout)
tunnel_up 2 || fail "tunnel 2"

run attack_bg "$(host 1)" esp --dst $WAN_S --spi 0xdead0001 --rate 10 --duration 600
stray=$ATTACK_PID
stray_pending() {
	vpnpt --config "$CFG" status --json 2>/dev/null | jq -e --arg h "$(host_ip 1)" \
		'[.esp.mappings[]? | select(.host == $h and .spi_out == 3735879681)] | length > 0'
}
wait_for 20 stray_pending || { show_status; fail "host 1's stray ESP never reached the module"; }
log "host 1's stray SA 0xdead0001 is in the table; host 2 starts its tunnel (pending_timeout ${pt}s)"

rc=0
tunnel_works_within $((3 * pt)) 2 || rc=1
kill -0 "$stray" 2>/dev/null || { cat /tmp/attack-*.log; fail "the stray sender stopped during the test"; }
esp_snapshot
log "counters: bind_ambiguous=$(snap_counter bind_ambiguous) expired_pending=$(snap_counter expired_pending)" \
	"window_expired=$(snap_counter window_expired) held=$(snap_counter held)"
hosts_no_stray_esp 1 2 || { show_status; fail "ESP reached a host that has no SA for it"; }
if [ $rc != 0 ]; then
	show_status
	fail "host 2: no tunnel within 3 x pending_timeout (${pt}s) while host 1 sends stray ESP"
fi
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "a stray ESP sender does not keep another host from its tunnel"
exit 0
