#!/bin/bash
# bench/vm_pps.sh [BUILD_DIR]: packets per second the router forwards in the
# test VM (Debian's kernel under QEMU TCG), ESP with vpnpt_esp at 1, 1,000 and
# BIG mappings and UDP masquerade, in one boot (bench/vm-pps-guest.sh). Prints
# the figures and ratios; bench/README.md has them. Not part of ctest.
#
# The router's CPU time is read twice: in the guest (CPU 1's busy time, which
# counts the time the host preempts the vCPU) and here, on the host: the CPU
# time (schedstat) of QEMU's thread "CPU 1/TCG" between the PPS_MARK lines
# the sender prints on the console around each run. The second is what the
# router's work cost the host, whatever else runs; the HOST lines give the
# figures and ratios on it.
#
# Needs root and what tests/vm/run needs (scripts/setup --vm), the controller
# built in BUILD_DIR (default build/) and cc. Takes the VM lock VM_LOCK
# (/tmp/vpnpt-vm.lock) for the boot; the VM has 2 CPUs. Environment: RUNS
# (7), SECS (3 per run), LEN (IP packet size, 64), BIG (100000), SLOW (nft
# rules that slow the router for the check of the capacity estimate, 800; 0
# skips it), PROFILE (1: where the router's CPU time goes, ESP and UDP of
# 1,000; the function_graph tracer), PAIRS ((host, peer) pairs the BIG
# mappings spread over, 4000; 1,000 to 4,000: the first 1,000 mappings stay
# one pair each), MAX_MAPPINGS (the module's max_mappings, which sizes its
# tables; BIG + 1,000 by default), KLINE (6.1 or 6.12).
# Log: BUILD_DIR/vm-pps/run.log.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd) || exit 2
out=$build/vm-pps
mkdir -p "$out" || exit 3
cc -O2 -Wall -o "$out/vm_pps_send" "$src/bench/vm_pps_send.c" || exit 3
cp "$src/bench/vm-pps-ratios.awk" "$out/" || exit 3
printf 'RUNS=%d\nSECS=%s\nLEN=%d\nBIG=%d\nSLOW=%d\nPROFILE=%d\nP=%d\nMAXMAP=%d\n' "${RUNS:-7}" "${SECS:-3}" \
	"${LEN:-64}" "${BIG:-100000}" "${SLOW:-800}" "${PROFILE:-0}" "${PAIRS:-4000}" "${MAX_MAPPINGS:-0}" > "$out/vm-pps.conf"
echo "vm_pps: booting the VM (log $out/run.log)"
: > "$out/run.log"
: > "$out/host.out"
VPNPT_VM_QEMU_NAME=debug-threads=on VPNPT_VM_FILES="$out/vm_pps_send $out/vm-pps.conf $out/vm-pps-ratios.awk" \
	flock "${VM_LOCK:-/tmp/vpnpt-vm.lock}" \
	"$src/tests/vm/run" --kernel "${KLINE:-6.1}" --smp 2 --build-dir "$build" "$src/bench/vm-pps-guest.sh" >> "$out/run.log" 2>&1 &
runpid=$!

# QEMU's thread "CPU 1/TCG" of this boot (its work dir on the command line)
vcpu1=
find_vcpu1() {
	local t
	for t in /proc/[0-9]*/task/[0-9]*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 1/TCG" ] || continue
		tr '\0' ' ' < "${t%/task/*}/cmdline" 2>/dev/null | grep -qF "$build/vm-work" || continue
		vcpu1=$t
		return
	done
}
vcpu_ns() { cut -d' ' -f1 "$vcpu1/schedstat" 2>/dev/null || echo 0; }
# "NAME forwarded_pps 0 0 cpu1_host_busy capacity_pps" per run, as the guest's
tail -n +1 -F --pid=$runpid "$out/run.log" 2>/dev/null | while IFS= read -r line; do
	case $line in
	VPNPT_VM_BOOTED*) find_vcpu1 ;;
	*"PPS_MARK start "*) [ -n "$vcpu1" ] || find_vcpu1; a1=$(vcpu_ns) ;;
	*"PPS_MARK end "*)
		a2=$(vcpu_ns)
		set -- ${line#*PPS_MARK end }
		fw=${2#forwarded=} wall=${3#wall_ns=}
		[ "$a1" -gt 0 ] && [ "$fw" -gt 0 ] &&
			awk -v n="$1" -v fw="$fw" -v wall="$wall" -v ns=$((a2 - a1)) \
				'BEGIN { printf "%s %.0f 0 0 %.3f %.0f\n", n, fw / wall * 1e9, ns / wall, fw / ns * 1e9 }' >> "$out/host.out" ;;
	esac
done
wait $runpid
rc=$?
grep -E '^vm: kernel |\[vm-pps-guest\] ' "$out/run.log" | grep -vE '^\[vm-pps-guest\] [0-9]+s \+ |PPS_MARK' |
	sed 's/^\[vm-pps-guest\] //'
big=$(sed -n 's/^BIG=//p' "$out/vm-pps.conf")
pairs=$(sed -n 's/^P=//p' "$out/vm-pps.conf")
echo "On the host: CPU time of QEMU's vCPU 1 thread per forwarded packet (busy = its share of the wall time)"
awk -v big="$big" -v pairs="$pairs" -f "$src/bench/vm-pps-ratios.awk" "$out/host.out" | sed 's/^/HOST /; s/CPU 1 busy/vCPU 1 thread busy/'
tail -1 "$out/run.log"
exit $rc
