#!/bin/bash
# vm-timeout: 150
# Idle mappings expire: with [ipsec.mux] idle_timeout = 10, a tunnel that stops
# sending loses its mapping (vpnpt status shows none) within the timeout plus
# the module's garbage-collection period, and a new exchange binds again.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux $'[ipsec.mux]\nidle_timeout = 10'
tunnel_up 1 || fail "tunnel"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel: $got/5"; }
wait_for 5 bound_at_least 1 || { show_status; fail "no bound mapping"; }
t0=$(date +%s)
log "bound: $(mapping_of "$(host_ip 1)"); now idle"
no_mapping() { [ "$(bound_count)" -eq 0 ]; }
wait_for 45 no_mapping || { show_status; fail "mapping still present 45s after traffic stopped (idle_timeout 10)"; }
dt=$(( $(date +%s) - t0 ))
log "mapping gone after ${dt}s idle"
[ "$dt" -ge 8 ] || fail "mapping removed after ${dt}s, before idle_timeout (10s)"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 3 ] || { show_status; fail "tunnel after expiry: $got/5"; }
wait_for 5 bound_at_least 1 || { show_status; fail "no mapping after traffic resumed"; }
ok "idle mapping expired after ${dt}s and binds again on new traffic"
exit 0
