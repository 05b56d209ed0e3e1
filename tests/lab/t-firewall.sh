#!/bin/bash
# t-firewall.sh: vpnpt beside a real router firewall, the shipped example
# etc/examples/router-firewall.nft (table inet router: input and forward
# policy drop, established/related accepted, LAN -> WAN accepted, its own
# masquerade), loaded as it is in the router namespace. The traffic: LAN
# clients of PPTP, IKE/NAT-T, L2TP and raw ESP, and a WAN client of forwards
# to LAN servers (fw-traffic.sh has the picture).
#
# Firewall variants, all made from the one shipped file:
#   full         the file as shipped: everything crosses
#   bare         without its "vpnpt" lines: what only a DNAT brings in (the
#                forwards, the LNS answering from 1702) is dropped by the
#                forward policy; the LAN clients still cross (replies and
#                PPTP's GRE are established/related)
#   narrow       without the wholesale LAN -> WAN accept: the "vpnpt" lines
#                alone carry the LAN clients
#   narrow-bare  without both: nothing crosses
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbfw}"
lab_need_vpnpt
lab_create 4 3
. "$LAB_TOP/tests/lab/fw-traffic.sh"
FW=$LAB_TOP/etc/examples/router-firewall.nft

fw_servers || exit 1

# ---- the firewall -------------------------------------------------------------
FW_LAN_WAN=$'\t\tiifname $LAN oifname $WAN accept'   # the line, as in the file
# fw_variant NAME: write $LAB_DIR/NAME.nft from the shipped file.
fw_variant() {
	local out=$LAB_DIR/$1.nft
	case $1 in
	full)        cp "$FW" "$out" ;;
	bare)        grep -v 'comment "vpnpt"' "$FW" >"$out" ;;
	narrow)      grep -vxF "$FW_LAN_WAN" "$FW" >"$out" ;;
	narrow-bare) grep -v 'comment "vpnpt"' "$FW" | grep -vxF "$FW_LAN_WAN" >"$out" ;;
	esac
}
# fw_load NAME: (re)load variant NAME in the router, as "nft -f" does it.
fw_load() { fw_variant "$1" && pp lab_ns "$R" nft -f "$LAB_DIR/$1.nft"; }
# fw_rules: the forward chain's rules as loaded, one line each.
fw_rules() { lab_ns "$R" nft list chain inet router forward | sed -n 's/^\t\t//p' | grep -v '^type '; }
fw_has() { fw_rules | grep -qxF "$1"; }
fw_vpnpt_lines() { fw_rules | grep -c 'comment "vpnpt"'; }
LAN_WAN='iifname "br0" oifname "eth0" accept'
router_table() { lab_ns "$R" nft -s list table inet router; }

# ---- the docs show this very file ------------------------------------------------
# man_example / readme_example: the file as vpnpt.8 and packaging/README.md
# show it, each after its marker.
man_example() {
	awk '/^\.\\" ROUTER-FIREWALL-EXAMPLE/ {m = 1} m && /^\.EE/ {exit} m && on {print} m && /^\.EX/ {on = 1}' \
		"$LAB_TOP/man/vpnpt.8" | sed 's/\\-/-/g; s/\\e/\\/g'
}
readme_example() {
	awk '/^<!-- etc\/examples\/router-firewall.nft verbatim/ {m = 1; next}
	     m && /^```$/ {exit} m && on {print} m && /^```nft$/ {on = 1}' "$LAB_TOP/packaging/README.md"
}
lab_check "vpnpt.8 shows etc/examples/router-firewall.nft verbatim" eval 'man_example | cmp -s - "$FW"'
lab_check "packaging/README.md shows etc/examples/router-firewall.nft verbatim" \
	eval 'readme_example | cmp -s - "$FW"'

# ---- the firewall as shipped, loaded first (as at boot), then vpnpt ------------
lab_check "the shipped firewall loads" fw_load full
lab_check "it has its four \"vpnpt\" lines" test "$(fw_vpnpt_lines)" = 4
router_table >"$LAB_DIR/router-before"
lab_check "vpnpt apply beside it (shipped config, esp \"single\")" lab_apply "$LAB_DIR/clients.toml"
lab_check "vpnpt apply left table inet router as it was" \
	eval 'router_table | cmp -s - "$LAB_DIR/router-before"'

run_all full "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check "full: ${WHAT[$p]}" ok "$p"; done

lab_check "vpnpt apply (the forwards added)" lab_apply "$LAB_DIR/forwards.toml"
run_all full "${FWD_PROBES[@]}"
for p in "${FWD_PROBES[@]}"; do lab_check "full: ${WHAT[$p]}" ok "$p"; done
lab_check "full: named counter forwarded counted the forwarded flows" \
	test "$(lab_counter forwarded)" -ge 10

# ---- control: the firewall without the "vpnpt" lines -----------------------------
vpnpt_table >"$LAB_DIR/vpnpt-before"
lab_check "the firewall without its \"vpnpt\" lines reloads" fw_load bare
lab_check "no \"vpnpt\" line left in it" test "$(fw_vpnpt_lines)" = 0
lab_check "reloading the firewall left table inet vpnpt as it was" \
	eval 'vpnpt_table | cmp -s - "$LAB_DIR/vpnpt-before"'
run_all bare "${FWD_PROBES[@]}"
for p in "${FWD_PROBES[@]}"; do lab_check_not "bare: dropped: ${WHAT[$p]}" ok "$p"; done
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/clients.toml"
run_all bare "${LAN_PROBES[@]}"
for p in pptp1 pptp2 ike l2tp esp; do lab_check "bare: still crosses: ${WHAT[$p]}" ok "$p"; done
lab_check_not "bare: dropped: ${WHAT[l2tp1702]}" ok l2tp1702

# ---- LAN -> WAN not accepted wholesale: the "vpnpt" lines carry the clients ------
lab_check "the firewall without LAN -> WAN accept loads" fw_load narrow
lab_check "no wholesale LAN -> WAN accept in it" eval '! fw_has "$LAN_WAN"'
run_all narrow "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check "narrow: ${WHAT[$p]}" ok "$p"; done

lab_check "the firewall without LAN -> WAN accept nor \"vpnpt\" lines loads" fw_load narrow-bare
run_all narrow-bare "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check_not "narrow-bare: dropped: ${WHAT[$p]}" ok "$p"; done

lab_done
