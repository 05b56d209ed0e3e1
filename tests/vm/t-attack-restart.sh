#!/bin/bash
# vm-timeout: 480
# Restart keeps tunnels (issue 9, point 4).
#
#   vm-h1 ─┐ IKE (crafted) + manual SAs
#   vm-h2 ─┼─ br0 [ vm-r: esp = "mux" ] eth0 ──── eth0 [ vm-s: peer of all three ]
#   vm-h3 ─┘ manual keys only, no IKE at all
#
# Three live tunnels through the module, then what an admin or systemd does to
# the router's firewall, each followed by polling every tunnel (rounds of 5
# pings, all hosts at once): each must get >= 4/5 replies within 10 s, with
# no rekey (no IKE is sent after the start).
#  A. `nft flush ruleset` + `vpnpt apply`: `systemctl reload nftables`
#     (Debian's /etc/nftables.conf starts with flush ruleset; vpnpt.service
#     follows through ReloadPropagatedFrom=).
#  B. `vpnpt remove && vpnpt apply`: `systemctl restart vpnpt`.
#  C. `systemctl restart nftables`: vpnpt.service is stopped first (PartOf=,
#     ExecStop=vpnpt remove), nftables runs flush ruleset and loads
#     /etc/nftables.conf, then vpnpt starts (vpnpt apply).
# Today remove sends FLUSH: every live inbound SPI becomes a tombstone while
# its peer is remembered, so the peer's ESP stays refused (bind_ambiguous)
# until a rekey, forever with manual keys. A failed stage is recorded, the
# module reloaded and the tunnels brought back, so every stage is measured.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 3 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
for i in 1 2 3; do tunnel_up $i || fail "tunnel $i"; done
ike_responder_up || fail "IKE responder"
run ike_exchange --init-auth --then "ping -q -c 5 -i 0.2 -W 2 -I 10.1.\${NS#vm-h}.1 10.0.0.1" \
	$(host 1) $(host 2) || log "(first pings: some lost while the other host bound)"
wait_for 20 bound_at_least 2 || { show_status; fail "hosts 1 and 2 not bound after their IKE"; }
tunnels_recover 30 3 || { show_status; fail "host 3's manual-key tunnel does not work"; }
wait_for 10 bound_at_least 3 || { show_status; fail "three bound mappings expected"; }
tunnels_recover 15 1 2 3 || { show_status; fail "the three tunnels do not all work before any restart"; }
for i in 1 2 3; do log "host $i mapping: $(mapping_of "$(host_ip $i)")"; done
ike0=$(esp_counters child_exchanges)
ok "three live tunnels (two with IKE, one manual keys)"

conf=/etc/nftables.conf
[ -r $conf ] && grep -q '^flush ruleset' $conf || conf=
log "nftables.conf used for C: ${conf:-none (flush ruleset alone)}"
failed=0
stage() {
	local name=$1
	shift
	log "== stage $name"
	"$@" || { log "FAIL $name: a command failed"; failed=1; }
	if tunnels_recover 10 1 2 3; then
		ok "$name: every tunnel carries traffic again"
	else
		log "$name: $(esp_counters bind_ambiguous esp_in_unknown bind_fallback bind_ike window_opened)"
		for i in 1 2 3; do log "$name: host $i mapping: $(mapping_of "$(host_ip $i)" | tr '\n' ';')"; done
		show_status
		log "FAIL $name: tunnels did not come back within 10s"
		failed=1
		# Bring them back for the next stage: a fresh module binds again.
		vpnpt --config "$CFG" remove >/dev/null 2>&1
		modprobe -r vpnpt_esp && modprobe vpnpt_esp && vpnpt --config "$CFG" apply >/dev/null ||
			fail "$name: cannot reload the module to go on"
		tunnels_recover 45 1 2 3 || { show_status; fail "$name: tunnels do not come back even after a module reload"; }
		wait_for 10 bound_at_least 3 || fail "$name: not rebound after reload"
	fi
}
stage_a() { run n $R nft flush ruleset && run vpnpt --config "$CFG" apply >/dev/null; }
stage_b() { run vpnpt --config "$CFG" remove && run vpnpt --config "$CFG" apply >/dev/null; }
stage_c() {
	run vpnpt --config "$CFG" remove || return 1
	if [ -n "$conf" ]; then run n $R nft -f $conf || return 1; else run n $R nft flush ruleset || return 1; fi
	run vpnpt --config "$CFG" apply >/dev/null
}
stage "A (nft flush ruleset + apply)" stage_a
stage "B (remove && apply)" stage_b
stage "C (nftables restart)" stage_c

log "IKE child exchanges seen: before the stages $ike0, after $(esp_counters child_exchanges)"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
[ $failed = 0 ] || fail "a restart of vpnpt or nftables broke live tunnels"
ok "live tunnels survive reload, remove + apply and an nftables restart"
exit 0
