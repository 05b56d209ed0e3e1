#!/usr/bin/env bash
# tests/pkg/t-man.sh: the manual pages render without a warning, document
# every config key and command, and their example configs are accepted.
#
#   tests/pkg/t-man.sh BUILD_DIR      (BUILD_DIR holds the vpnpt binary)
#
# The examples of vpnpt.toml(5) go through "vpnpt show"; those that need no
# kernel module also through "vpnpt check" in a scratch netns that has the
# eth0 and br0 they name (root needed for that part; SKIP without).
#
#   netns pk-m<pid>:  eth0 (veth, peer pk-mwan0)   br0 (bridge)
set -uo pipefail

build=${1:?usage: t-man.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
vpnpt=$build/vpnpt
ns=pk-m$$
tmp=$(mktemp -d /var/tmp/vpnpt-pk-man.XXXXXX)
npass=0 nfail=0 nskip=0
pass() { echo "PASS: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: $*"; nskip=$((nskip + 1)); }
cleanup() { ip netns del "$ns" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# --- rendering -----------------------------------------------------------------
for page in man/vpnpt.8 man/vpnpt.toml.5; do
  out=$(groff -man -Tutf8 -ww -z "$root/$page" 2>&1)
  [ -z "$out" ] && pass "groff -ww: $page renders without a warning" || fail "groff -ww $page: $out"
  text=$(MANWIDTH=80 man -l "$root/$page" 2>"$tmp/err")
  if grep -q '^NAME' <<<"$text" && [ ! -s "$tmp/err" ]; then pass "man -l $page"
  else fail "man -l $page: $(cat "$tmp/err")"; fi
done
grep -q '^\.\\" STATUS-JSON-SCHEMA' "$root/man/vpnpt.8" && pass "vpnpt.8 keeps the STATUS JSON marker" ||
  fail "vpnpt.8 lost the STATUS-JSON-SCHEMA marker"

# --- completeness ----------------------------------------------------------------
# Every key of the shipped config (live or commented out) has its own entry.
keys=$(sed -n 's/^#\{0,1\}\([a-z_]\{1,\}\) *=.*/\1/p' "$root/etc/vpnpt.toml" | sort -u)
missing=()
for k in $keys; do grep -q "^\.BR $k \"" "$root/man/vpnpt.toml.5" || missing+=("$k"); done
((${#missing[@]} == 0)) && pass "vpnpt.toml.5 documents all $(wc -w <<<"$keys") keys of etc/vpnpt.toml" ||
  fail "vpnpt.toml.5 lacks keys: ${missing[*]}"
# Every command and option the binary's --help lists is in vpnpt.8.
words=$("$vpnpt" --help; for c in check show apply status remove doctor; do "$vpnpt" "$c" --help; done) 2>/dev/null
missing=()
for w in check show apply status remove doctor $(grep -o -- '--[a-z-]\{2,\}' <<<"$words" | sort -u); do
  grep -q -- "$(sed 's/-/\\\\-/g' <<<"$w")" "$root/man/vpnpt.8" || missing+=("$w")
done
((${#missing[@]} == 0)) && pass "vpnpt.8 documents every command and long option of --help" ||
  fail "vpnpt.8 lacks: ${missing[*]}"

# --- the examples ------------------------------------------------------------------
# Each .EX block of vpnpt.toml(5) is a config or a fragment of one; fragments
# get the [wan]/[lan] of the first example.
awk -v d="$tmp" '/^\.EX/ {n++; on=1; next} /^\.EE/ {on=0; next} on {print > (d "/ex" n ".toml")}' \
  "$root/man/vpnpt.toml.5"
printf '[wan]\ninterface = "eth0"\n\n[lan]\ninterfaces = ["br0"]\n\n' > "$tmp/head"
netns=0
if [ "$(id -u)" = 0 ] && ip netns add "$ns" 2>/dev/null; then
  ip -n "$ns" link add eth0 type veth peer name pk-mwan0 && ip -n "$ns" link add br0 type bridge &&
    ip -n "$ns" link set eth0 up && ip -n "$ns" link set br0 up && netns=1
fi
for f in "$tmp"/ex*.toml; do
  name=${f##*/}
  grep -q '^\[wan\]' "$f" || { cat "$tmp/head" "$f" > "$f.new"; mv "$f.new" "$f"; }
  "$vpnpt" --config "$f" --rules-dir "$root/rules" show > /dev/null 2> "$tmp/err" &&
    pass "example $name: vpnpt show" || fail "example $name: vpnpt show: $(cat "$tmp/err")"
  if grep -q '^esp = "mux"' "$f"; then
    echo "  ($name needs the vpnpt_esp module: check not run)"
  elif ((netns)); then
    ip netns exec "$ns" "$vpnpt" --config "$f" --rules-dir "$root/rules" check > /dev/null 2> "$tmp/err" &&
      pass "example $name: vpnpt check" || fail "example $name: vpnpt check: $(cat "$tmp/err")"
  else
    skip "example $name: vpnpt check needs root for a netns"
  fi
done
# ... and a wrong key is caught, so the cases above can fail.
{ cat "$tmp/head"; printf '[[forward]]\nservice = "wireguard"\nto = "192.168.1.10"\nto_prot = 1\n'; } > "$tmp/bad.toml"
"$vpnpt" --config "$tmp/bad.toml" --rules-dir "$root/rules" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc -eq 3 ] && grep -q 'bad.toml:[0-9]*: forward' "$tmp/err" &&
  pass "a misspelt key fails with exit 3: $(head -n1 "$tmp/err")" ||
  fail "a misspelt key gave exit $rc: $(cat "$tmp/err")"

echo "$npass passed, $nfail failed, $nskip skipped"
if ((nfail)); then exit 1; elif ((nskip)); then exit 4; fi
