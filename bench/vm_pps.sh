#!/bin/bash
# bench/vm_pps.sh [BUILD_DIR]: packets per second the router forwards in the
# test VM (Debian's kernel under QEMU TCG), ESP with vpnpt_esp at 1, 1,000 and
# BIG mappings and UDP masquerade, in one boot (bench/vm-pps-guest.sh). Prints
# the figures and ratios; bench/README.md has them. Not part of ctest.
#
# Needs root and what tests/vm/run needs (scripts/setup --vm), the controller
# built in BUILD_DIR (default build/) and cc. Takes the VM lock
# (/tmp/vpnpt-vm.lock) for the boot. Environment: RUNS (5), SECS (3 per
# run), LEN (IP packet size, 64), BIG (100000), KLINE (6.1 or 6.12).
# Log: BUILD_DIR/vm-pps/run.log.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd) || exit 2
out=$build/vm-pps
mkdir -p "$out" || exit 3
cc -O2 -Wall -o "$out/vm_pps_send" "$src/bench/vm_pps_send.c" || exit 3
printf 'RUNS=%d\nSECS=%s\nLEN=%d\nBIG=%d\n' "${RUNS:-5}" "${SECS:-3}" "${LEN:-64}" "${BIG:-100000}" > "$out/vm-pps.conf"
echo "vm_pps: booting the VM (log $out/run.log)"
VPNPT_VM_FILES="$out/vm_pps_send $out/vm-pps.conf" flock /tmp/vpnpt-vm.lock \
	"$src/tests/vm/run" --kernel "${KLINE:-6.1}" --build-dir "$build" "$src/bench/vm-pps-guest.sh" > "$out/run.log" 2>&1
rc=$?
grep -E '^vm: kernel |\[vm-pps-guest\] ' "$out/run.log" | grep -vE '^\[vm-pps-guest\] [0-9]+s \+ ' |
	sed 's/^\[vm-pps-guest\] //'
tail -1 "$out/run.log"
exit $rc
