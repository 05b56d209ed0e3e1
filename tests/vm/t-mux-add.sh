#!/bin/bash
# vm-timeout: 120
# ADD_MAPPING / DEL_MAPPING over netlink (kmod/handover.c; the planned
# switchover of a router pair, kmod/DESIGN.md): refused while the netns is
# not enabled (ENETDOWN) and without CAP_NET_ADMIN (EPERM); an added mapping
# delivers the peer's ESP that the module otherwise leaves alone (the
# control: one packet on another SPI is esp_in_unknown); adding it again is
# success; a conflicting SPI, a zone out of range and an attribute ADD does
# not take are refused with an extack message; DEL forgets it once.
. "$VPNPT_VM_TESTS/lib.sh"

need_module
lab_up 1 || fail "lab"
rgenl() { n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" "$@"; }
H=$(host_ip 1)
M="kind=esp host=$H peer=$WAN_S spi_out=0x1001 spi_in=0x5001"
expect() {	# expect WORD command...: its output has WORD
	local want=$1 out
	shift
	out=$("$@" 2>&1)
	log "$* -> $out"
	grep -q -- "$want" <<<"$out" || fail "$*: expected '$want'"
}
counter() { rgenl counters | sed -n "s/^$1=//p"; }

run modprobe vpnpt_esp || fail "modprobe"
expect "error ENETDOWN add: .* -- .*not enabled" rgenl add $M zone=32770
run rgenl set-params wan_ifname=eth0 enabled=1 || fail "enable"
expect "error EPERM" n $R setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	/usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" add $M zone=32770
ok "refused while disabled (ENETDOWN) and without CAP_NET_ADMIN (EPERM)"

# the control: the peer's ESP on an SPI the module does not know
spi_sent() { [ "$(counter "$1")" -ge "$2" ]; }
run n $S /usr/bin/python3 "$VPNPT_VM_TESTS/spoof.py" esp --pps 0 --count 1 \
	--stream "ns=$S,dst=$WAN_R,spi=0x5002" > /dev/null || fail "spoof.py"
wait_for 10 spi_sent esp_in_unknown 1 || fail "the control packet was not seen as unknown"

expect "add ok" rgenl add $M zone=32770
expect "add ok" rgenl add $M zone=32770
expect "error EEXIST add: .* -- SPI_IN" rgenl add kind=esp host=192.168.1.3 peer=$WAN_S \
	spi_out=0x1002 spi_in=0x5001 zone=32771
expect "error ERANGE add: .* -- ZONE outside" rgenl add kind=esp host=$H peer=$WAN_S \
	spi_out=0x1003 spi_in=0x5003 zone=5
expect "error EINVAL" rgenl add $M zone=32770 age_ms=1
expect "error EINVAL add: .* -- ZONE missing" rgenl add $M
expect "spi_in=20481" rgenl dump
ok "added once, again is success, conflicts refused with a message"

run n $S /usr/bin/python3 "$VPNPT_VM_TESTS/spoof.py" esp --pps 0 --count 1 \
	--stream "ns=$S,dst=$WAN_R,spi=0x5001" > /dev/null || fail "spoof.py"
wait_for 10 spi_sent esp_in 2 || fail "the peer's ESP did not reach the module"
[ "$(counter esp_in_unknown)" = 1 ] || fail "the added SPI was not found: esp_in_unknown $(counter esp_in_unknown)"
ok "the peer's ESP on the added SPI is classified (esp_in 2, esp_in_unknown 1)"

expect "del ok" rgenl del $M
expect "error ENOENT" rgenl del $M
expect "mappings 0" rgenl dump
ok "deleted once"
exit 0
