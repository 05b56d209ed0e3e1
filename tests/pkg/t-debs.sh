#!/usr/bin/env bash
# tests/pkg/t-debs.sh: install the vpnpt .debs on this machine, check what a
# user gets, then purge them and check that nothing is left.
#
#   tests/pkg/t-debs.sh [DEBDIR | --build-into DIR]
#
# Without DEBDIR the .debs are built first (packaging/build-debs, tracked
# files of this checkout) into a scratch directory under /var/tmp, or with
# --build-into into DIR, keeping what an earlier build of the same sources
# left there (build-debs --reuse; ctest shares <build>/debs with vm-systemd). Needs root
# and the packaging tool chain (scripts/setup --pkg); SKIPs (exit 4) without.
#
#   host (root netns)                   netns pk-t<pid>
#   apt-get install ./vpnpt*.deb        +------------------------------+
#   dkms build -k <Debian 6.1 ABI>      |  eth0 (veth, up)   br0 (bridge)|
#   systemd-analyze verify              |  vpnpt check  (default config) |
#   apt-get purge                       +------------------------------+
#
# Each case prints PASS/FAIL/SKIP. Exit 0 when all passed, 1 on any FAIL,
# 4 when nothing failed but a part was skipped (e.g. kmod/ has no Makefile
# yet, so the DKMS build cannot be tested).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(head -n1 "$root/VERSION")
ns=pk-t$$
npass=0 nfail=0 nskip=0
installed=0
depmod_clean=0 kver=

pass() { echo "PASS: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: $*"; nskip=$((nskip + 1)); }
run() { echo "+ $*"; "$@"; }
apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }

finish() {
  echo "$npass passed, $nfail failed, $nskip skipped"
  if ((nfail)); then exit 1; elif ((nskip)); then exit 4; else exit 0; fi
}

cleanup() {
  ip netns del "$ns" 2>/dev/null
  if ((installed)); then
    apt purge -y vpnpt vpnpt-dkms >/dev/null 2>&1
    ((depmod_clean)) && rm -f "/lib/modules/$kver"/modules.*
  fi
  [ -n "${scratch:-}" ] && rm -rf "$scratch"
}
trap cleanup EXIT

# --- prerequisites ----------------------------------------------------------
if [ "$(id -u)" != 0 ]; then skip "t-debs needs root (apt-get install)"; finish; fi
for tool in dpkg-buildpackage dh dh_dkms lintian dkms systemd-analyze; do
  command -v "$tool" >/dev/null ||
    { skip "$tool not installed: run scripts/setup --pkg"; finish; }
done

# One run at a time on this machine: the packages are installed system-wide.
exec 9>/var/tmp/vpnpt-pkg-test.lock
flock -w 900 9 || { fail "another t-debs.sh holds /var/tmp/vpnpt-pkg-test.lock"; finish; }

for p in vpnpt vpnpt-dkms; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
    echo "t-debs: $p is already on this machine (a run that died?): purging it first"
    apt purge -y "$p" >/dev/null
  fi
done

# --- the .debs ----------------------------------------------------------------
build=()
if [ "${1:-}" = --build-into ]; then
  debdir=${2:?--build-into needs a directory}
  build=(--reuse "$debdir")
elif [ $# -ge 1 ]; then
  debdir=$1
else
  scratch=$(mktemp -d /var/tmp/vpnpt-pkg.XXXXXX)
  debdir=$scratch
  build=("$debdir")
fi
if [ ${#build[@]} -gt 0 ]; then
  if run "$root/packaging/build-debs" "${build[@]}"; then
    pass "build-debs built the packages, lintian reports no error"
  else
    fail "build-debs"; finish
  fi
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$debdir/vpnpt_${version}_${arch}.deb
dkmsdeb=$debdir/vpnpt-dkms_${version}_all.deb
for f in "$deb" "$dkmsdeb"; do
  [ -f "$f" ] || { fail "no $f (is VERSION $version what was built?)"; finish; }
done
v=$(dpkg-deb -f "$deb" Version)
if [ "$v" = "$version" ]; then pass "package version $v is VERSION"
else fail "package version $v, VERSION says $version"; fi

# The module can only be built once kmod/ has its Makefile.
kver=$("$root/scripts/kernel-version" 2>/dev/null)
have_kmod=0
dpkg-deb -c "$dkmsdeb" | grep "usr/src/vpnpt-$version/kmod/Makefile$" >/dev/null && have_kmod=1

# dkms runs depmod, which writes modules.* into /lib/modules/<6.1 ABI>; where
# that directory held only the headers' build/source links, put it back so.
depmod_clean=0
[ -n "$kver" ] && [ ! -e "/lib/modules/$kver/modules.dep" ] && [ ! -d "/lib/modules/$kver/kernel" ] &&
  depmod_clean=1

# --- install --------------------------------------------------------------------
# vpnpt first; vpnpt-dkms (whose postinst builds the module) in the DKMS part,
# so that a module that does not build fails that part alone.
installed=1
log=${scratch:-/var/tmp}/vpnpt-pkg-apt.log
if run apt install -y --no-install-recommends "$deb" > "$log" 2>&1; then
  pass "apt-get install ${deb##*/}"
else
  tail -n 40 "$log"
  fail "apt-get install ${deb##*/}"; finish
fi

# --- the controller ---------------------------------------------------------------
out=$(vpnpt --version 2>&1)
if [[ " $out " =~ [[:space:]]v?${version//./\\.}[[:space:]] ]]; then pass "vpnpt --version: $out"
else fail "vpnpt --version printed '$out', not $version"; fi

if dpkg-query -W -f='${Conffiles}\n' vpnpt | grep -q '^ /etc/vpnpt/vpnpt.toml '; then
  pass "/etc/vpnpt/vpnpt.toml is a conffile"
else fail "/etc/vpnpt/vpnpt.toml is not a conffile"; fi
if cmp -s /etc/vpnpt/vpnpt.toml "$root/etc/vpnpt.toml"; then pass "installed config is etc/vpnpt.toml"
else fail "installed /etc/vpnpt/vpnpt.toml differs from etc/vpnpt.toml"; fi
ex=/usr/share/doc/vpnpt/examples/router-firewall.nft
if cmp -s "$ex" "$root/etc/examples/router-firewall.nft"; then pass "$ex is etc/examples/router-firewall.nft"
else fail "$ex is missing or differs from etc/examples/router-firewall.nft"; fi
# The router pair's files (vpnpt(8), ROUTER PAIR; tests/lab/t-pair.sh runs them).
for f in conntrackd.conf keepalived.conf pair-notify.sh; do
  ex=/usr/share/doc/vpnpt/examples/$f
  if cmp -s "$ex" "$root/etc/examples/$f"; then pass "$ex is etc/examples/$f"
  else fail "$ex is missing or differs from etc/examples/$f"; fi
done

# The default config names eth0 and br0: check it where exactly those exist.
# Without br0 the same check must fail, or it checks nothing.
run ip netns add "$ns"
run ip -n "$ns" link set lo up
# (this kernel has no dummy driver: eth0 is one end of a veth pair)
run ip -n "$ns" link add eth0 type veth peer name pk-wan0
run ip -n "$ns" link set eth0 up
echo "+ ip netns exec $ns vpnpt check   # no br0 yet"
ip netns exec "$ns" vpnpt check; rc=$?
if [ $rc -ne 0 ]; then pass "vpnpt check fails without br0 (exit $rc)"
else fail "vpnpt check passed although br0 does not exist"; fi
run ip -n "$ns" link add br0 type bridge
run ip -n "$ns" link set br0 up
echo "+ ip netns exec $ns vpnpt check"
ip netns exec "$ns" vpnpt check; rc=$?
if [ $rc -eq 0 ]; then pass "vpnpt check on the shipped default config"
else fail "vpnpt check on the shipped default config: exit $rc"; fi
if ip netns exec "$ns" nft list tables 2>/dev/null | grep -q vpnpt; then
  fail "vpnpt check left a table behind"
else pass "vpnpt check changed nothing (no table in $ns)"; fi

# apply / status / remove as the unit runs them: with only the unit's
# CapabilityBoundingSet and no new privileges (the rest of its sandbox needs
# a running systemd, which this machine lacks).
unit=/lib/systemd/system/vpnpt.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
run_dir=${scratch:-/var/tmp}/vpnpt-pkg-run.$$
as_unit() { ip netns exec "$ns" setpriv --no-new-privs --inh-caps=-all --bounding-set="-all,$caps" vpnpt --run-dir "$run_dir" "$@"; }
echo "+ ip netns exec $ns setpriv --bounding-set=-all,$caps vpnpt apply"
if as_unit apply && ip netns exec "$ns" nft list table inet vpnpt >/dev/null 2>&1; then
  pass "vpnpt apply with the unit's capabilities ($caps) loads table inet vpnpt"
else fail "vpnpt apply with the unit's capabilities ($caps)"; fi
if as_unit status > /dev/null; then pass "vpnpt status with the unit's capabilities"
else fail "vpnpt status with the unit's capabilities"; fi
echo "+ ip netns exec $ns setpriv --bounding-set=-all,$caps vpnpt remove"
if as_unit remove && ! ip netns exec "$ns" nft list table inet vpnpt >/dev/null 2>&1; then
  pass "vpnpt remove with the unit's capabilities deletes the table"
else fail "vpnpt remove with the unit's capabilities"; fi
# ... while without CAP_NET_ADMIN nothing can be applied.
if ip netns exec "$ns" setpriv --no-new-privs --bounding-set=-all,+sys_module vpnpt apply 2>/dev/null; then
  fail "vpnpt apply worked without CAP_NET_ADMIN"
else pass "vpnpt apply fails without CAP_NET_ADMIN"; fi
rm -rf "$run_dir"
run ip netns del "$ns"

# --- the unit, completion, man pages ------------------------------------------------
if out=$(systemd-analyze verify "$unit" 2>&1) && [ -z "$out" ]; then
  pass "systemd-analyze verify $unit"
else echo "$out"; fail "systemd-analyze verify $unit"; fi
# ... which does catch a broken unit:
bad=$(mktemp -d /var/tmp/vpnpt-pk-unit.XXXXXX)
sed 's|^ExecStart=.*|ExecStart=/usr/sbin/vpnpt-missing apply|' "$unit" > "$bad/vpnpt.service"
if systemd-analyze verify "$bad/vpnpt.service" >/dev/null 2>&1; then
  fail "systemd-analyze verify accepts a unit whose ExecStart does not exist"
else pass "systemd-analyze verify rejects a unit whose ExecStart does not exist"; fi
rm -rf "$bad"
for want in 'ExecStart=/usr/sbin/vpnpt apply' 'ExecReload=/usr/sbin/vpnpt apply' \
            'ExecStop=/usr/sbin/vpnpt remove' 'After=network-online.target nftables.service'; do
  grep -qx "$want" "$unit" && pass "unit: $want" || fail "unit lacks: $want"
done
state=$(systemctl is-enabled vpnpt.service 2>/dev/null)
[ "$state" = disabled ] && pass "vpnpt.service installed disabled" || fail "vpnpt.service is '$state', not disabled"

comp=/usr/share/bash-completion/completions/vpnpt
words=$(bash -c "source /usr/share/bash-completion/bash_completion; source $comp
  complete_line() { COMP_LINE=\$1; COMP_POINT=\${#1}; read -ra COMP_WORDS <<<\"\$1\"
    COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _vpnpt; echo \"\${COMPREPLY[*]}\"; }
  complete_line 'vpnpt st'; complete_line 'vpnpt apply --'" 2>&1)
[ "$words" = $'status\n--dry-run --keep-sessions --diff --confirm --help' ] &&
  pass "bash completion: st -> status, apply -- -> its five options" ||
  fail "bash completion gave: $words"

for page in "8 vpnpt" "5 vpnpt.toml"; do
  # shellcheck disable=SC2086
  f=$(man -w $page 2>/dev/null) && [ -n "$f" ] && pass "man $page: $f" || fail "man $page not found"
done

# --- DKMS ---------------------------------------------------------------------------
# vpnpt-dkms's postinst builds the module for each kernel in /lib/modules
# (the running one has no headers here, so that is the Debian 6.1 ABI).
if ((!have_kmod)); then
  skip "DKMS: vpnpt-dkms holds no kmod/Makefile yet, module build not tested"
elif [ -z "$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
  skip "DKMS: no linux-headers-6.1 installed (scripts/setup --vm installs them)"
elif ! run apt install -y --no-install-recommends "$dkmsdeb" > "$log" 2>&1; then
  tail -n 20 "$log"
  tail -n 30 "/var/lib/dkms/vpnpt/$version/build/make.log" 2>/dev/null
  fail "apt-get install ${dkmsdeb##*/} (the module did not build for $kver)"
else
  pass "apt-get install ${dkmsdeb##*/}"
  [ -f "/usr/src/vpnpt-$version/dkms.conf" ] && pass "/usr/src/vpnpt-$version/dkms.conf" ||
    fail "no /usr/src/vpnpt-$version/dkms.conf"
  if ! dkms status -m vpnpt -v "$version" -k "$kver" | grep -qE ': (built|installed)'; then
    run dkms build -m vpnpt -v "$version" -k "$kver" || true
  fi
  st=$(dkms status -m vpnpt -v "$version" -k "$kver")
  echo "+ dkms status: $st"
  if grep -qE ": (built|installed)" <<<"$st"; then pass "DKMS built vpnpt_esp for $kver"
  else fail "DKMS did not build vpnpt_esp for $kver"; fi
  ko=$(find "/var/lib/dkms/vpnpt/$version/$kver" -name 'vpnpt_esp.ko*' 2>/dev/null | head -n1)
  vm=$( [ -n "$ko" ] && modinfo -F vermagic "$ko" 2>/dev/null)
  if [[ $vm == "$kver "* ]]; then pass "vpnpt_esp.ko vermagic: $vm"
  else fail "vpnpt_esp.ko (${ko:-missing}) vermagic '$vm' is not for $kver"; fi
fi

# --- purge -----------------------------------------------------------------------------
if run apt purge -y vpnpt vpnpt-dkms > /dev/null 2>&1; then pass "apt-get purge vpnpt vpnpt-dkms"
else fail "apt-get purge vpnpt vpnpt-dkms"; fi
installed=0
((depmod_clean)) && rm -f "/lib/modules/$kver"/modules.*
left=()
for p in vpnpt vpnpt-dkms; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  [[ -z $st || $st == *not-installed ]] || left+=("package $p ($st)")
done
for f in /etc/vpnpt /usr/sbin/vpnpt /usr/share/vpnpt /lib/systemd/system/vpnpt.service \
         /usr/share/bash-completion/completions/vpnpt /var/lib/dkms/vpnpt /run/vpnpt \
         /usr/src/vpnpt-* /lib/modules/*/updates/dkms/vpnpt_esp.ko*; do
  [ -e "$f" ] && left+=("$f")
done
if ((${#left[@]} == 0)); then pass "purge left nothing behind"
else fail "purge left: ${left[*]}"; fi

finish
