#!/bin/bash
# vm-timeout: 180
# Rekey: both hosts' child SAs are replaced by new ones (new SPIs, new keys),
# each after its CREATE_CHILD_SA exchange, at the same moment. Both tunnels
# keep working on the new SPIs, vpnpt status shows the new SPIs bound, and
# the old SAs, once deleted, carry nothing.
. "$VPNPT_VM_TESTS/lib.sh"

mux_two_up
ping_cmd="ping -q -c 10 -i 0.2 -W 2 -I 10.1.\${NS#vm-h}.1 10.0.0.1"
run ike_exchange --init-auth --then "$ping_cmd" $(host 1) $(host 2)
wait_for 15 bound_at_least 2 || { show_status; fail "generation 0 not bound for both hosts"; }
for i in 1 2; do log "gen 0 host $i: $(mapping_of "$(host_ip $i)")"; done

# Rekey: new SAs installed on both ends (the old ones stay until deleted, as
# IKE daemons do), CREATE_CHILD_SA on both hosts at once, then traffic.
tunnel_up 1 1 || fail "tunnel 1 generation 1"
tunnel_up 2 1 || fail "tunnel 2 generation 1"
run ike_exchange --create --then "$ping_cmd" $(host 1) $(host 2)
new_bound() {
	[ "$(mapping_of "$(host_ip 1)" | grep -c "$(spi_in 1 1) bound")" -ge 1 ] &&
	[ "$(mapping_of "$(host_ip 2)" | grep -c "$(spi_in 2 1) bound")" -ge 1 ]
}
wait_for 15 new_bound || { show_status; fail "the new SPIs are not bound after the rekey"; }
for i in 1 2; do
	tunnel_drop_gen $i 0
	got=$(tunnel_ping $i 10)
	log "host $i after rekey: $got/10 replies; mappings: $(mapping_of "$(host_ip $i)" | tr '\n' ';')"
	[ "${got:-0}" -ge 9 ] || { show_status; fail "host $i: tunnel after rekey: $got/10"; }
	p=$(sa_packets "$(host $i)" "$(spi_in $i 1)")
	[ "${p:-0}" -ge 9 ] || fail "host $i: new inbound SA $(spi_in $i 1) decrypted only $p packets"
	ns=$(xfrm_stat "$(host $i)" XfrmInNoStates)
	[ "${ns:-0}" -eq 0 ] || fail "host $i received ESP for an SA it does not have ($ns)"
done
show_status
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "rekey to new SPIs on both hosts at once: both tunnels keep working"
exit 0
