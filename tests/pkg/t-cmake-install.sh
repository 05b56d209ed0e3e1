#!/usr/bin/env bash
# tests/pkg/t-cmake-install.sh: "cmake --install" of a built tree, as another
# distribution would run it (DESTDIR staging), puts every part where a system
# expects it under the configured prefix, and the version is VERSION's.
#
#   tests/pkg/t-cmake-install.sh BUILD_DIR
set -uo pipefail

build=${1:?usage: t-cmake-install.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(head -n1 "$root/VERSION")
dest=$(mktemp -d /var/tmp/vpnpt-pk-inst.XXXXXX)
trap 'rm -rf "$dest"' EXIT
npass=0 nfail=0
pass() { echo "PASS: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

# The prefix the tree was configured with (the unit names the binary by it);
# GNUInstallDirs puts the config in /etc for /usr, else in <prefix>/etc.
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
p=${prefix#/}
etc=$p/etc; [ "$prefix" = /usr ] && etc=etc

echo "+ DESTDIR=$dest cmake --install $build    # prefix $prefix"
if DESTDIR=$dest cmake --install "$build" > "$dest.log" 2>&1; then
  pass "cmake --install"
else
  cat "$dest.log"; fail "cmake --install"
fi
rm -f "$dest.log"

for f in "$p/sbin/vpnpt" "$etc/vpnpt/vpnpt.toml" "$p/share/man/man8/vpnpt.8" \
         "$p/share/man/man5/vpnpt.toml.5" "$p/lib/systemd/system/vpnpt.service" \
         "$p/share/bash-completion/completions/vpnpt"; do
  [ -f "$dest/$f" ] && pass "installs /$f" || fail "does not install /$f"
done
n=$(find "$dest/$p/share/vpnpt/rules" -name '*.nft' 2>/dev/null | wc -l)
want=$(find "$root/rules" -name '*.nft' | wc -l)
[ "$n" -gt 0 ] && [ "$n" -eq "$want" ] && pass "installs the $n rule templates" ||
  fail "installs $n of $want rule templates"
cmp -s "$dest/$etc/vpnpt/vpnpt.toml" "$root/etc/vpnpt.toml" && pass "config is etc/vpnpt.toml" ||
  fail "installed config differs from etc/vpnpt.toml"
cmp -s "$dest/$p/share/doc/vpnpt/examples/router-firewall.nft" "$root/etc/examples/router-firewall.nft" &&
  pass "installs /$p/share/doc/vpnpt/examples/router-firewall.nft" ||
  fail "does not install etc/examples/router-firewall.nft as /$p/share/doc/vpnpt/examples/router-firewall.nft"

unit=$dest/$p/lib/systemd/system/vpnpt.service
grep -qx "ExecStart=/$p/sbin/vpnpt apply" "$unit" && pass "unit runs /$p/sbin/vpnpt" ||
  fail "unit's ExecStart is not /$p/sbin/vpnpt apply"
grep -qx "ConditionPathExists=/$etc/vpnpt/vpnpt.toml" "$unit" && pass "unit looks for /$etc/vpnpt/vpnpt.toml" ||
  fail "unit's ConditionPathExists is not /$etc/vpnpt/vpnpt.toml"
grep -q '@' "$unit" && fail "unit has unsubstituted @VARS@" || pass "unit fully configured"

out=$("$dest/$p/sbin/vpnpt" --version 2>&1)
[[ " $out " =~ [[:space:]]v?${version//./\\.}[[:space:]] ]] && pass "vpnpt --version: $out" ||
  fail "vpnpt --version printed '$out', not $version"

echo "$npass passed, $nfail failed"
((nfail == 0))
