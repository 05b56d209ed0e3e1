#!/bin/bash
# vm-timeout: 90
# `vpnpt apply` with esp = "mux" loads vpnpt_esp itself when nothing loaded
# it before (libkmod, which vpnpt opens with dlopen only when a module must
# be loaded), and the module then multiplexes here; esp = "single" leaves it
# unloaded (the control: if single loaded it too, this would prove nothing).
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
lab_up 1 || fail "lab"
modprobe -r vpnpt_esp 2>/dev/null
loaded() { grep -q '^vpnpt_esp ' /proc/modules; }
loaded && fail "vpnpt_esp is loaded before the test"

CFG=$(vpnpt_config single) || fail "config"
run vpnpt --config "$CFG" apply || fail "vpnpt apply (esp = single)"
loaded && fail "esp = single: vpnpt apply loaded vpnpt_esp"
ok "esp = single: the module stays unloaded"

CFG=$(vpnpt_config mux) || fail "config"
run vpnpt --config "$CFG" apply || fail "vpnpt apply (esp = mux) without the module loaded"
loaded || fail "esp = mux: vpnpt apply did not load vpnpt_esp"
st=$(esp_status)
log "status esp: $st"
[ "$(jq -r .effective <<<"$st")" = mux ] || fail "esp = mux after loading it: effective mode is not mux"
ok "esp = mux: vpnpt apply loaded vpnpt_esp and multiplexes with it"
exit 0
