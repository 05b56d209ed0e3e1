#!/usr/bin/env bash
# tests/pkg/t-cmake-deps.sh: the build declares what it uses.
#
#   tests/pkg/t-cmake-deps.sh
#
# - CLI11 (main.cpp's command line) is a REQUIRED package, linked as
#   CLI11::CLI11: a machine without it fails at configure time and names it,
#   not at compile time with a missing header.
# - The target vpnpt_kmod_logic (the module's pure logic, built in user
#   space) is defined in one CMakeLists.txt, and exists for bench/ without
#   the tests.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /var/tmp/vpnpt-pk-deps.XXXXXX)
npass=0 nfail=0
pass() { echo "PASS: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
trap 'rm -rf "$tmp"' EXIT

echo "+ cmake -S . -B \$tmp/no-cli11 -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE"
if out=$(cmake -S "$root" -B "$tmp/no-cli11" -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE 2>&1); then
  fail "configure succeeded without CLI11"
elif grep -q CLI11 <<<"$out"; then pass "configure without CLI11 fails and names it"
else fail "configure without CLI11 failed without naming it: $(tail -5 <<<"$out")"; fi

echo "+ cmake -S . -B \$tmp/ok -DVPNPT_BUILD_TESTS=OFF"
if cmake -S "$root" -B "$tmp/ok" -DVPNPT_BUILD_TESTS=OFF >"$tmp/ok.log" 2>&1; then
  pass "configure without the tests"
  if grep -rq 'CLI11::CLI11' "$root/src/CMakeLists.txt"; then pass "vpnpt links CLI11::CLI11"
  else fail "vpnpt does not link CLI11::CLI11"; fi
  if [[ -n $(find "$tmp/ok" -type d -name 'vpnpt_kmod_logic.dir' | head -1) ]]; then
    pass "vpnpt_kmod_logic exists without the tests"
  else fail "no vpnpt_kmod_logic target without the tests"; fi
else
  fail "configure without the tests: $(tail -5 "$tmp/ok.log")"
fi

n=$(grep -rl --include=CMakeLists.txt 'add_library(vpnpt_kmod_logic' "$root" | grep -v "^$root/build" | wc -l)
if [[ $n == 1 ]]; then pass "vpnpt_kmod_logic is defined in one CMakeLists.txt"
else fail "vpnpt_kmod_logic is defined in $n CMakeLists.txt: $(grep -rl --include=CMakeLists.txt 'add_library(vpnpt_kmod_logic' "$root" | grep -v "^$root/build" | tr '\n' ' ')"; fi

echo "$npass passed, $nfail failed"
[[ $nfail == 0 ]]
