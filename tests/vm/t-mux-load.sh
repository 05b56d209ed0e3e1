#!/bin/bash
# vm-timeout: 150
# The module's life cycle under traffic: load, "vpnpt status" shows it, unload
# while ESP flows through it, load again and traffic resumes. The kernel log
# must stay free of oopses and warnings throughout.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up mux
grep -q '^vpnpt_esp ' /proc/modules || fail "vpnpt_esp not in /proc/modules after modprobe"
st=$(esp_status)
log "status esp: $st"
[ "$(jq -r .module_loaded <<<"$st")" = true ] || fail "vpnpt status does not show the module loaded"
[ "$(jq -r .effective <<<"$st")" = mux ] || fail "vpnpt status: effective ESP mode is not mux"
ok "loaded; vpnpt status shows it (effective: mux)"

tunnel_up 1 || fail "tunnel"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel through the module: $got/5"; }
wait_for 5 bound_at_least 1 || { show_status; fail "no bound mapping in vpnpt status"; }
ok "ESP flows through the module ($got/5)"

# Unload in the middle of a 100-packet flood of ESP.
base=$(sa_packets "$(host 1)" "$(spi_out 1)")
n "$(host 1)" ping -q -c 100 -i 0.02 -I "$(inner_ip 1)" 10.0.0.1 > /tmp/flood.out 2>&1 &
flood=$!
bg_pid $flood
flood_going() { [ "$(sa_packets "$(host 1)" "$(spi_out 1)")" -ge $((base + 20)) ]; }
wait_for 10 flood_going ||
	fail "the flood did not start"
unloaded=0
for try in $(seq 1 50); do
	if modprobe -r vpnpt_esp 2>/tmp/rmmod.err; then unloaded=1; break; fi
	sleep 0.1
done
[ $unloaded = 1 ] || fail "module could not be unloaded while ESP flows: $(cat /tmp/rmmod.err)"
grep -q '^vpnpt_esp ' /proc/modules && fail "vpnpt_esp still listed after unload"
ok "unloaded while ESP flowed (try $try)"
wait "$flood"
log "flood: $(tail -2 /tmp/flood.out | head -1)"
st=$(esp_status)
log "status after unload: module_loaded=$(jq -r .module_loaded <<<"$st") note: $(jq -r '.note // ""' <<<"$st")"
grep -q '^vpnpt_esp ' /proc/modules &&
	fail "vpnpt status loaded vpnpt_esp again (probing its genl family autoloads the module): status must not change the kernel"
[ "$(jq -r .module_loaded <<<"$st")" = false ] || fail "vpnpt status shows the module loaded after unload"

run modprobe vpnpt_esp || fail "load again"
run vpnpt --config "$CFG" apply || fail "apply after reload"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "tunnel after reload: $got/5"; }
wait_for 5 bound_at_least 1 || { show_status; fail "no bound mapping after reload"; }
ok "loaded again; tunnel works ($got/5)"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
run vpnpt --config "$CFG" remove
run modprobe -r vpnpt_esp || fail "final unload"
exit 0
