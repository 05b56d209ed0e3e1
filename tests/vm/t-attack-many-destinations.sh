#!/bin/bash
# vm-timeout: 420
# Attack (issue 9): one LAN host talks IPsec to thousands of addresses. The
# module gives every (LAN host, peer) pair a conntrack zone (4096 shipped,
# zone_count) and every new peer a ~1.2 KB record, allocated before any
# quota is checked; an IKE SA keeps its pair (and zone) for idle_timeout.
# Host 1 sends one IKE_SA_INIT (new random initiator SPI) and one ESP packet
# (new SPI) to each of 5000 addresses 198.18.0.1 and up (routed to the
# server, dropped there): 10000 small packets.
#
#   vm-h1 ─┐ IKE_SA_INIT + ESP to 198.18.0.1 .. 198.18.19.136 (5000 addresses)
#   vm-h2 ─┴─ br0 [ vm-r: vpnpt, esp = "mux" ] eth0 ──── eth0 [ vm-s: server,
#     IKE_SA_INIT + IKE_AUTH, manual-key                   IKE responder,
#     tunnel 10.1.2.1 <-> 10.0.0.1                         198.18/15 blackholed ]
#
# What must hold: after the flood, host 2's IKE exchange and its first echo
# reply through its tunnel come within 2 x pending_timeout + 10 s, then 8 of
# 10 replies; nothing reaches a host that has no SA for it.
# Figures (printed, not asserted): memory of the VM (MemAvailable, Slab,
# kmalloc-2k objects) before the flood, after it, and after "vpnpt remove";
# the module's mem_bytes gauge where the module has one.
# Seen on eba90f0: host 1 gets every zone (zones_full) and the table
# (table_full); host 2's IKE_AUTH is dropped.
. "$VPNPT_VM_TESTS/lib.sh"

ndst=5000
flood_lab_up
idle=$FLOOD_IDLE

mem0=$(mem_line)
log "memory before the flood: $mem0 mem_bytes=$(esp_counter mem_bytes)"
# IKE first: each IKE SA keeps its pair and zone for idle_timeout.
run attack "$(host 1)" ike-init --dst 198.18.0.1 --spread $ndst --count $ndst || fail "IKE flood"
run attack "$(host 1)" esp --dst 198.18.0.1 --spread $ndst --spi 0x10000 --new-spi --count $ndst || fail "ESP flood"
flood_seen() {
	esp_snapshot && [ "$(snap_counter ike_out)" -ge $ndst ] && [ "$(snap_counter esp_out)" -ge $ndst ]
}
wait_for 30 flood_seen || { show_counters; fail "the module did not see host 1's $ndst IKE and $ndst ESP packets"; }
mem1=$(mem_line)
log "memory after the flood: $mem1 mem_bytes=$(snap_counter mem_bytes)"
log "host 1: $(snap_mappings "$(host_ip 1)") mappings; zones_full=$(snap_counter zones_full) table_full=$(snap_counter table_full)" \
	"quota_host=$(snap_counter quota_host)"
delta() { printf '%+d' $(( $(mem_get "$2" "$1") - $(mem_get "$mem0" "$1") )); }
log "growth: MemAvailable $(delta MemAvailable "$mem1") kB, Slab $(delta Slab "$mem1") kB," \
	"kmalloc-2k $(delta kmalloc-2k "$mem1") objects;" \
	"router conntrack entries: $(n $R cat /proc/sys/net/netfilter/nf_conntrack_count)"

mb=$(snap_counter mem_bytes)
[ -n "$mb" ] && [ "$mb" -gt 0 ] || { show_counters; fail "no mem_bytes gauge after the flood"; }
[ "$mb" -le $bound ] || { show_counters; fail "module tables hold $mb bytes, above the bound $bound"; }
ok "module tables after the flood: $mb bytes (bound $bound)"

rc=0
ike_tunnel_within $((2 * pt + 10)) 2 || rc=1
hosts_no_stray_esp 1 2 || { show_counters; fail "ESP reached a host that has no SA for it"; }
[ $rc = 0 ] || show_counters

run vpnpt --config "$CFG" remove || fail "vpnpt remove"
# What the flood allocated and nothing keeps goes in the module's 1 s gc
# and after an RCU grace period: give it a few seconds to come back.
back() { [ "$(mem_get "$(mem_line)" kmalloc-2k)" -le $(( $(mem_get "$mem0" kmalloc-2k) + 64 )) ]; }
wait_for 10 back || log "kmalloc-2k not back within 64 objects of its baseline 10 s after remove"
# remove keeps mappings (restarts resume tunnels) and stops classifying:
# mappings expire after idle_timeout, then their peer (kept for its orphans)
# idle_timeout after its last pair: 2 x idle_timeout plus gc.
mem_zero() { [ "$(esp_counter mem_bytes)" = 0 ]; }
wait_for $((2 * idle + 15)) mem_zero || { show_counters; fail "module tables not empty $((2 * idle + 15))s after remove"; }
ok "module tables back to 0 bytes within $((2 * idle + 15))s of remove"
mem2=$(mem_line)
log "memory after vpnpt remove: $mem2 (from the baseline: Slab $(delta Slab "$mem2") kB," \
	"kmalloc-2k $(delta kmalloc-2k "$mem2") objects)"
[ $rc = 0 ] || fail "host 2: no tunnel within $((2 * pt + 10))s after host 1's IKE and ESP to $ndst addresses"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "IKE and ESP to $ndst addresses from one host do not keep another host from its tunnel"
exit 0
