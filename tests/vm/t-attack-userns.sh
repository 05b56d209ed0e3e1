#!/bin/bash
# vm-timeout: 420
# Attack: a local unprivileged user drives the module (issue 9, point 5).
#
#   init user ns (root)                       user ns of "nobody" (unshare -Urn)
#   vm-h1 ── br0 [ vm-r: esp = "mux" ] eth0 ── vm-s     [ own netns: dummy eth0, br0 ]
#            one host's tunnel bound                      nobody is "root" only here
#
# Debian lets any user create a user + network namespace of their own, where
# they hold CAP_NET_ADMIN over that netns only. The user is "nobody" (setpriv).
#  (a) module not loaded: nobody, in its own namespaces, resolves the generic
#      netlink family "vpnpt_esp" (CTRL_CMD_GETFAMILY, genl.py). The kernel
#      loads the module that declares MODULE_ALIAS_GENL_FAMILY for it: a user
#      can load kernel code. Must not: the module stays unloaded.
#  (b) module loaded by root: nobody runs `vpnpt apply` with esp = "mux" in its
#      namespaces (dummy eth0/br0 of its own), then sends SET_PARAMS ENABLED=1
#      and FLUSH itself. Commands with GENL_UNS_ADMIN_PERM accept that; they
#      must need CAP_NET_ADMIN in the initial user namespace: each refused
#      (EPERM) and the module still disabled there (GET_PARAMS read by root).
#  (c) GET_MAPPINGS (hosts, peers, SPIs) is refused to nobody, both in the
#      router's netns (where it would list host 1's mapping) and in its own.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
clone=$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo absent)
maxns=$(cat /proc/sys/user/max_user_namespaces)
log "kernel.unprivileged_userns_clone=$clone user.max_user_namespaces=$maxns"
[ "$clone" = 0 ] && skip "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
[ "$maxns" -gt 0 ] || skip "user.max_user_namespaces is 0"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody unshare -Urn true || skip "nobody cannot create a user + network namespace here"
failed=0
bad() { log "FAIL $*"; failed=1; }

# (a) ------------------------------------------------------------------------
modprobe -r vpnpt_esp 2>/dev/null
grep -q '^vpnpt_esp ' /proc/modules && fail "vpnpt_esp is loaded before the test"
out=$(as_nobody unshare -Urn /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" resolve 2>&1)
log "(a) nobody resolves the family in its own namespaces: $out"
if grep -q '^vpnpt_esp ' /proc/modules; then
	bad "(a) an unprivileged user's CTRL_CMD_GETFAMILY loaded vpnpt_esp (MODULE_ALIAS_GENL_FAMILY)"
else
	ok "(a) the module was not loaded for an unprivileged user"
fi

# (b) ------------------------------------------------------------------------
lab_up 1 || fail "lab"
esp_ready || fail "esp4/drbg"
modprobe dummy || fail "modprobe dummy"
mux_up mux            # root: the module loaded and on in vm-r (and every nft module the ruleset needs)
tunnel_up 1 || fail "tunnel"
got=$(tunnel_ping 1 5)
[ "${got:-0}" -ge 4 ] || { show_status; fail "host 1's tunnel: $got/5"; }
wait_for 10 bound_at_least 1 || { show_status; fail "no bound mapping for host 1"; }
log "root's view of vm-r: $(n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" dump | tr '\n' ';')"

mkfifo -m 666 /tmp/nobody.go
cat > /tmp/nobody.sh <<-EOF
	# runs as nobody, "root" of its own user + network namespace
	ip link add eth0 type dummy && ip link add br0 type dummy &&
		ip link set eth0 up && ip link set br0 up &&
		ip addr add 203.0.113.1/24 dev eth0 && ip addr add 192.168.1.1/24 dev br0
	echo "links rc=\$?"
	mkdir -p /tmp/nobody-run
	# root's config shows up as owned by nobody (65534) in this user
	# namespace: past the ownership check, what must refuse is the module
	"$VPNPT_BIN" --run-dir /tmp/nobody-run --rules-dir "$VPNPT_WORK/rules" --no-strict-perms --config "$CFG" apply 2>&1
	echo "apply rc=\$?"
	/usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" set-params enabled=1; echo "set-params rc=\$?"
	/usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" flush; echo "flush rc=\$?"
	/usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" dump; echo "dump rc=\$?"
	echo \$\$ > /tmp/nobody.pid
	echo done > /tmp/nobody.done
	read -r _ < /tmp/nobody.go
EOF
as_nobody unshare -Urn bash /tmp/nobody.sh > /tmp/nobody.out 2>&1 &
job=$!
bg_pid $job
wait_for 60 test -f /tmp/nobody.done || { cat /tmp/nobody.out; fail "nobody's script did not finish"; }
sed 's/^/  nobody: /' /tmp/nobody.out
upid=$(cat /tmp/nobody.pid)
[ "$(readlink /proc/$upid/ns/net)" != "$(readlink /proc/self/ns/net)" ] ||
	fail "test bug: process $upid is not in nobody's own netns"
params=$(nsenter -t $upid -n /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" get-params)
log "(b) root reads the parameters of nobody's netns: $params"
echo go > /tmp/nobody.go
wait $job
enabled=$(tr ' ' '\n' <<<"$params" | sed -n 's/^enabled=//p')
[ -n "$enabled" ] || fail "(b) GET_PARAMS in nobody's netns gave no 'enabled'"
if [ "$enabled" != 0 ]; then
	bad "(b) nobody switched the module on in its own netns (enabled=$enabled)"
else
	ok "(b) the module stays disabled in nobody's netns"
fi
grep -q '^apply rc=0$' /tmp/nobody.out && bad "(b) nobody's 'vpnpt apply' with esp = mux succeeded"
grep -q '^error EPERM set-params' /tmp/nobody.out || bad "(b) SET_PARAMS from nobody was not refused with EPERM"
grep -q '^error EPERM flush' /tmp/nobody.out || bad "(b) FLUSH from nobody was not refused with EPERM"

# (c) ------------------------------------------------------------------------
grep -q '^error EPERM dump' /tmp/nobody.out || bad "(c) GET_MAPPINGS from nobody in its own namespaces was not refused"
out=$(n $R setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" dump 2>&1)
log "(c) nobody dumps vm-r's mappings: $(tr '\n' ';' <<<"$out")"
if grep -q '^error EPERM' <<<"$out"; then
	ok "(c) GET_MAPPINGS refused to nobody"
else
	bad "(c) nobody read the router's mappings (hosts, peers, SPIs)"
fi
# root still can (the controller's status)
n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" dump > /tmp/root-dump.out || fail "root's GET_MAPPINGS failed: $(cat /tmp/root-dump.out)"
grep -q "^mappings [1-9]" /tmp/root-dump.out || fail "root sees no mapping in vm-r: (c) proved nothing"

dmesg_clean || fail "kernel log shows a BUG/oops/warning"
[ $failed = 0 ] || fail "an unprivileged user could load, switch on or read the module"
ok "only root of the initial user namespace loads, drives and reads the module"
exit 0
