#!/bin/bash
# vm-timeout: 300
# Attack (issue 9): one LAN host fills the module's IKE SA table. The module
# learns an IKE SA from a LAN host's first message with a new initiator SPI,
# and IKE SAs count against the peer's quota (max_per_peer, 256 shipped) and
# the table's (max_mappings, 4096) but against no per-host quota. Host 1
# sends 4096 IKE_SA_INIT headers with random initiator SPIs to the server,
# then 4096 more spread over 64 other addresses (198.18.0.1-64, routed to
# the server, dropped there): the server's quota and then the whole table.
# Each costs the attacker one small UDP packet.
#
#   vm-h1 ─┐ 4096 x IKE_SA_INIT to the server, 4096 to 198.18.0.1-64
#   vm-h2 ─┴─ br0 [ vm-r: vpnpt, esp = "mux" ] eth0 ──── eth0 [ vm-s: server,
#     IKE_SA_INIT + IKE_AUTH, manual-key                   IKE responder,
#     tunnel 10.1.2.1 <-> 10.0.0.1                         198.18/15 blackholed ]
#
# What must hold: after the flood, host 2's IKE exchange and its first echo
# reply through its tunnel come within 2 x pending_timeout + 10 s (no window
# is involved: only the quotas stand in the way), then 8 of 10 replies;
# nothing reaches a host that has no SA for it (XfrmInNoStates = 0).
# Seen on eba90f0: host 1 holds the server's 256 IKE SAs (quota_peer) and
# the table (table_full) for idle_timeout; host 2's IKE_SA_INIT passes
# unlearned, its IKE_AUTH is dropped as a child SA the module cannot follow.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 2 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
pt=$(cfg_pending_timeout)
lab_many_peers || fail "routes to 198.18.0.0/15"
run tunnel_up 2 || fail "tunnel 2"
run ike_responder_up || fail "IKE responder"

run attack "$(host 1)" ike-init --dst $WAN_S --count 4096 || fail "flood to the server"
run attack "$(host 1)" ike-init --dst 198.18.0.1 --spread 64 --count 4096 || fail "flood to 64 addresses"
flood_seen() { esp_snapshot && [ "$(snap_counter ike_out)" -ge 8192 ]; }
wait_for 30 flood_seen || { show_counters; fail "the module did not see host 1's 8192 IKE_SA_INIT"; }
log "after the flood: host 1 holds $(snap_mappings "$(host_ip 1)") mappings; quota_peer=$(snap_counter quota_peer)" \
	"table_full=$(snap_counter table_full)"

rc=0
ike_tunnel_within $((2 * pt + 10)) 2 || rc=1
hosts_no_stray_esp 1 2 || { show_counters; fail "ESP reached a host that has no SA for it"; }
if [ $rc != 0 ]; then
	show_counters
	fail "host 2: no tunnel within $((2 * pt + 10))s after host 1's IKE_SA_INIT flood"
fi
show_counters
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "one host's IKE_SA_INIT flood does not keep another host from its tunnel"
exit 0
