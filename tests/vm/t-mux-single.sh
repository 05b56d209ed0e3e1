#!/bin/bash
# vm-timeout: 120
# Control for t-mux-two: the same two tunnels with esp = "single" (plain
# conntrack, no module). The first host's tunnel works; the second gets no
# replies. If this passes both tunnels, t-mux-two proves nothing.
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
lab_up 2 || fail "lab"
esp_ready || fail "esp4/drbg"
mux_up single
# "single" means plain conntrack: the module must not be multiplexing.
if grep -q '^vpnpt_esp ' /proc/modules; then
	fail "esp = single, yet vpnpt_esp is loaded after apply (its genl family alias autoloads it when the family is probed) and multiplexes every netns"
fi
tunnel_up 1 || fail "tunnel 1"
tunnel_up 2 || fail "tunnel 2"
got1=$(tunnel_ping 1 5)
got2=$(tunnel_ping 2 5)
log "esp = single: host 1 $got1/5, host 2 $got2/5"
[ "${got1:-0}" -ge 4 ] || { show_status; fail "host 1 should work with esp = single (got $got1/5)"; }
[ "${got2:-0}" -eq 0 ] || { show_status; fail "host 2 got replies with esp = single: the control case no longer fails"; }
ok "control: esp = single carries one host's tunnel per peer, not two"

# A loaded module must not multiplex where vpnpt does not ask for it: load it,
# apply "mux" (it multiplexes), then "single" again (it must stop here).
run modprobe vpnpt_esp || fail "modprobe vpnpt_esp"
SINGLE=$CFG
mux_up mux
run vpnpt --config "$SINGLE" apply || fail "apply esp = single over mux"
CFG=$SINGLE
[ "$(esp_status | jq -r .module_loaded)" = true ] || fail "the module should still be loaded"
n $R conntrack -F >/dev/null 2>&1
got1=$(tunnel_ping 1 5)
got2=$(tunnel_ping 2 5)
log "module loaded, esp = single again: host 1 $got1/5, host 2 $got2/5"
[ "${got1:-0}" -ge 4 ] || { show_status; fail "host 1 should work with esp = single (got $got1/5)"; }
[ "${got2:-0}" -eq 0 ] || { show_status; fail "host 2 got replies: the loaded module still multiplexes after esp = single"; }
ok "a loaded module stops multiplexing when the config says single"
run vpnpt --config "$CFG" remove
run modprobe -r vpnpt_esp || fail "unload"
exit 0
