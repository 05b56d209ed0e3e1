#!/bin/bash
# vm-timeout: 60
# vpnpt doctor's flowtable check on a kernel that has flowtables (this
# machine's test kernel has none, so netns.doctor.FlowtableOffloadingUdp
# skips there): a foreign table that offloads every UDP flow (`flow add @f`)
# is found as flowtable-offload (exit 7), the nftables fix doctor prints is
# run as printed, and doctor then finds nothing (exit 0).
#
#   vm-r: eth0 (a veth, WAN), br0 (LAN), table inet vpnpt, table inet ft
# (PPTP off: its helper modules are not what this is about, and each
# lookup costs time under TCG.)
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
ns_add $R || fail "netns"
ip -n $R -batch - <<-EOF || fail "links"
	link add eth0 type veth peer name eth0p
	link add br0 type bridge
	link set eth0 up
	link set br0 up
EOF
CFG=$(vpnpt_config single) || fail "config"
sed -i '/^\[pptp\]/a enabled = false' "$CFG"
run vpnpt --config "$CFG" apply || fail "vpnpt apply"
run n $R nft -f - <<-EOF || fail "a flowtable on eth0 and br0 (CONFIG_NF_FLOW_TABLE)"
	table inet ft {
		flowtable f { hook ingress priority 0; devices = { eth0, br0 }; }
		chain forward {
			type filter hook forward priority filter;
			meta l4proto { tcp, udp } flow add @f
		}
	}
EOF

vpnpt --config "$CFG" doctor --json > /tmp/doctor.json
rc=$?
# The number of flowtable-offload findings, the first one's text, its nftables
# fix (a file: the VM has no /dev/fd for <(...)).
jq -r '[.findings[] | select(.check == "flowtable-offload")] |
	(length | tostring), .[0].found, (.[0].fixes[] | select(.tool == "nftables") | .fix)' /tmp/doctor.json > /tmp/ft.txt
mapfile -t ft < /tmp/ft.txt
[ $rc = 7 ] && [ "${ft[0]}" = 1 ] || { cat /tmp/doctor.json; fail "doctor: exit $rc, want 7 with one flowtable-offload finding"; }
log "found: ${ft[1]}"
[[ ${ft[1]} == *"IKE (UDP 500)"* ]] || fail "the finding does not name IKE (UDP 500)"
ok "doctor finds the flowtable that offloads IKE, NAT-T and L2TP"

[[ ${ft[2]:-} == "nft "* ]] || fail "no nft command in the finding's nftables fix"
for line in "${ft[@]:2}"; do
	# shellcheck disable=SC2086 # the printed command, split as a shell would
	run n $R $line || fail "the printed fix failed: $line"
done
vpnpt --config "$CFG" doctor --json > /tmp/doctor.json
rc=$?
[ $rc = 0 ] || { cat /tmp/doctor.json; fail "doctor after the printed fix: exit $rc (want 0)"; }
ok "after the printed fix: doctor exit 0"
exit 0
