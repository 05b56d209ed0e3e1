#!/bin/bash
# vm-timeout: 120
# The VM itself: Debian's kernel with its modules tree, autoloading through
# modprobe (veth, nf_tables), ESP with real crypto, PPP and the PPTP helper.
. "$VPNPT_VM_TESTS/lib.sh"

[ -f "/lib/modules/$(uname -r)/modules.dep" ] || fail "no modules.dep for $(uname -r)"
ok "kernel $(uname -r), modules tree in place"

ns_add vm-t || fail "netns"
# veth is a module: "ip link add" only works if the kernel's autoload reaches modprobe.
run ip -n vm-t link add vm-a type veth peer name vm-b || fail "veth autoload"
grep -q '^veth ' /proc/modules || fail "veth did not autoload"
run n vm-t nft add table inet vm_t || fail "nf_tables autoload"
run n vm-t nft add chain inet vm_t c '{ type filter hook forward priority 0; }' || fail "nft chain autoload"
ok "autoload: veth, nf_tables"

run esp_ready || fail "modprobe esp4 drbg xfrm_user"
run n vm-t ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel \
	aead 'rfc4106(gcm(aes))' "$(xfrm_key 1 1)" 128 || fail "ESP SA with rfc4106(gcm(aes))"
ok "ESP SA with real AES-GCM"

run modprobe nf_conntrack_pptp || fail "nf_conntrack_pptp"
run modprobe ppp_generic || fail "ppp_generic"
wait_for 5 test -c /dev/ppp || fail "/dev/ppp did not appear"
ok "PPP and the PPTP conntrack helper load"
[ -c /dev/pts/ptmx ] || fail "devpts not mounted"
ok "devpts mounted"
exit 0
