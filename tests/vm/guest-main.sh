#!/bin/bash
# tests/vm/guest-main.sh WORK: PID 1 of the test VM after switch_root.
#
# Prepares the VM (filesystems, the image's modules tree, devpts), runs each
# test script listed in WORK/tests.list in a fresh state, prints one result
# line per test, then the summary and "VPNPT_VM_RC=<n>" for tests/vm/run, and
# powers off. Results per test:
#   PASS (exit 0)   SKIP (exit 4)   TIMEOUT (killed by its deadline)   FAIL (other)
# A test that passes but leaves namespaces or processes behind is a FAIL.
work=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
cd /

poweroff_now() {
	sync
	echo o > /proc/sysrq-trigger
	# Builtins only from here: the 9p root may already be going away, and
	# PID 1 must not exit (that panics the kernel) before the power-off lands.
	while :; do :; done
}
die() {
	echo "VPNPT_VM_BOOT_ERROR: $*"
	echo "VPNPT_VM_RC=3"
	poweroff_now
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
mkdir -p /dev/pts /dev/shm /run/netns /run/lock
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs shm /dev/shm
# Keep the console for the tests' own lines: kernel messages go to dmesg only.
echo "1 4 1 7" > /proc/sys/kernel/printk
hostname vpnpt-vm
ip link set lo up

kver=$(uname -r)
[ -d "$work/root/lib/modules/$kver/kernel" ] || die "$work/root/lib/modules/$kver: the image's modules tree is missing"
mkdir -p "/lib/modules/$kver"
mount --bind "$work/root/lib/modules/$kver" "/lib/modules/$kver" || die "bind-mount of the modules tree"
echo /sbin/modprobe > /proc/sys/kernel/modprobe

export VPNPT_WORK=$work
export VPNPT_VM_TESTS=$work/tests
[ -x "$work/vpnpt" ] && export VPNPT_BIN=$work/vpnpt
read -r _ up_s _ < /proc/uptime
echo
echo "VPNPT_VM_BOOTED kernel=$kver uptime=${up_s}s"

# State any test may leave behind is removed before the next one starts.
reset_state() {
	local p cmd
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = 1 ] || [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		cmd=
		read -r -d '' cmd < "/proc/$p/cmdline" 2>/dev/null   # argv[0]; empty: kernel thread
		[ -n "$cmd" ] && kill -9 "$p" 2>/dev/null
	done
	ip -all netns delete 2>/dev/null
	nft flush ruleset 2>/dev/null
	ip xfrm state flush 2>/dev/null
	ip xfrm policy flush 2>/dev/null
	modprobe -r vpnpt_esp 2>/dev/null
	umount -l /run/pptp 2>/dev/null
	rm -rf /tmp/* /run/pptp /run/pluto 2>/dev/null
	return 0
}

# What a test left behind, one line, empty if nothing.
leftovers() {
	local p cmd out=
	local ns
	ns=$(ip netns list 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
	[ -n "$ns" ] && out="netns: $ns"
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = 1 ] || [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		cmd=
		read -r -d '' cmd < "/proc/$p/cmdline" 2>/dev/null   # argv[0]; empty: kernel thread
		[ -n "$cmd" ] && out="$out process $p: $cmd;"
	done
	echo "$out"
}

pass=0 fail=0 skip=0
failed=()
t_all0=$(date +%s)
mapfile -t tests < "$work/tests.list"
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	tmo=$(sed -n 's/^# vm-timeout: *\([0-9]*\).*/\1/p' "$t" | head -1)
	tmo=${tmo:-120}
	echo "VPNPT_VM_TEST_START $name (deadline ${tmo}s)"
	dmesg -C
	t0=$(date +%s)
	read -r _ u0 n0 s0 i0 w0 q0 sq0 _ < /proc/stat
	timeout -k 5 "$tmo" bash "$t" 2>&1 | sed -u "s/^/[$name] /"
	rc=${PIPESTATUS[0]}
	dt=$(( $(date +%s) - t0 ))
	# How busy the vCPUs were (user, nice, system, irq, softirq of all
	# time): a test that mostly waits on protocol timers leaves the host's
	# cores idle.
	read -r _ u1 n1 s1 i1 w1 q1 sq1 _ < /proc/stat
	busy=$(( u1 + n1 + s1 + q1 + sq1 - u0 - n0 - s0 - q0 - sq0 ))
	all=$(( busy + i1 + w1 - i0 - w0 ))
	cpu=$(( all > 0 ? 100 * busy / all : 0 ))
	left=
	[ "$rc" = 0 ] && left=$(leftovers)
	if [ "$rc" = 0 ] && [ -z "$left" ]; then
		res=PASS; pass=$((pass + 1))
	elif [ "$rc" = 0 ]; then
		res="FAIL (left behind: $left)"; fail=$((fail + 1)); failed+=("$name")
	elif [ "$rc" = 4 ]; then
		res=SKIP; skip=$((skip + 1))
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		res="TIMEOUT (test deadline ${tmo}s passed)"; fail=$((fail + 1)); failed+=("$name")
	else
		res="FAIL (exit $rc)"; fail=$((fail + 1)); failed+=("$name")
	fi
	if [ "$res" != PASS ] && [ "$res" != SKIP ]; then
		echo "[$name] --- last kernel messages ---"
		dmesg | tail -n 25 | sed "s/^/[$name] dmesg: /"
	fi
	echo "VPNPT_VM_RESULT $res $name ${dt}s cpu ${cpu}%"
	t0=$(date +%s)
	reset_state
	dt=$(( $(date +%s) - t0 ))
	[ $dt -lt 3 ] || echo "(cleanup after $name took ${dt}s)"
done
t_all=$(( $(date +%s) - t_all0 ))

summary="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && summary="$summary, $skip skipped"
echo "VPNPT_VM_TESTS_TIME ${t_all}s"
[ ${#failed[@]} -gt 0 ] && echo "VPNPT_VM_FAILED ${failed[*]}"
echo "VPNPT_VM_SUMMARY $summary"
echo "VPNPT_VM_RC=$(( fail > 0 ? 1 : 0 ))"
poweroff_now
