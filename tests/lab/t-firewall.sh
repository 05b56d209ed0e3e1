#!/bin/bash
# t-firewall.sh: vpnpt beside a real router firewall, the shipped example
# etc/examples/router-firewall.nft (table inet router: input and forward
# policy drop, established/related accepted, LAN -> WAN accepted, its own
# masquerade), loaded as it is in the router namespace.
#
#   lan1 (.2) PPTP call 1, IKE/NAT-T, L2TP   --\         /-- srv1 .2: PAC, IKE, ESP echo,
#   lan2 (.3) PPTP call 1, raw ESP, L2TP     ---\       /        LNS on 1701
#   lan3 (.4) forwarded: PAC, IKE, ESP echo  ---- router ---- srv2 .3: LNS answering from 1702
#   lan4 (.5) forwarded: LNS, WireGuard      --/  (firewall \-- srv3 .4: the WAN client of
#                                                  + vpnpt)         the forwards
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
R=$(lab_router) S1IP=$(lab_srv_ip 1) S2IP=$(lab_srv_ip 2) C=$(lab_srv 3)
FW=$LAB_TOP/etc/examples/router-firewall.nft

lab_peer_bg "$(lab_srv 1)" "$LAB_DIR/pac.log" pptp server
lab_peer_bg "$(lab_srv 1)" "$LAB_DIR/ike.log" ike server
lab_peer_bg "$(lab_srv 1)" "$LAB_DIR/esp.log" esp server
lab_peer_bg "$(lab_srv 1)" "$LAB_DIR/lns.log" l2tp server
lab_peer_bg "$(lab_srv 2)" "$LAB_DIR/lns1702.log" l2tp server --reply-port 1702
lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/fwd-pac.log" pptp server
lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/fwd-ike.log" ike server
lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/fwd-esp.log" esp server
lab_peer_bg "$(lab_lan 4)" "$LAB_DIR/fwd-lns.log" l2tp server
lab_peer_bg "$(lab_lan 4)" "$LAB_DIR/fwd-wg.log" wireguard server
for s in pac ike esp lns lns1702 fwd-pac fwd-ike fwd-esp fwd-lns fwd-wg; do
	lab_ready "$LAB_DIR/$s.log" || exit 1
done

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
vpnpt_table() { lab_ns "$R" nft list table inet vpnpt; }
router_table() { lab_ns "$R" nft list table inet router; }

# ---- vpnpt ---------------------------------------------------------------------
# The shipped config (esp "single": this kernel loads no module), and the
# same with forwards to the LAN servers.
lab_config "$LAB_DIR/clients.toml" ipsec esp '"single"'
cp "$LAB_DIR/clients.toml" "$LAB_DIR/forwards.toml"
cat >>"$LAB_DIR/forwards.toml" <<EOF

[[forward]]
service = "pptp"
to = "$(lab_lan_ip 3)"

[[forward]]
service = "ipsec"
to = "$(lab_lan_ip 3)"

[[forward]]
service = "l2tp"
to = "$(lab_lan_ip 4)"

[[forward]]
service = "wireguard"
to = "$(lab_lan_ip 4)"
EOF

# ---- the traffic ---------------------------------------------------------------
# run_all NAME PROBE...: start the probes at once, wait for all; exit
# statuses in RC[probe]. A probe is a word of: pptp1 pptp2 ike l2tp l2tp1702
# esp (LAN clients to the WAN servers) and fwd-pptp fwd-ike fwd-esp fwd-l2tp
# fwd-wg (srv3 to the router's WAN address, forwarded to lan3/lan4).
declare -A RC
run_all() {
	local name=$1 p log; shift
	declare -A pid
	lab_ns "$R" conntrack -F 2>/dev/null
	for p; do
		log=$LAB_DIR/$name-$p.log
		case $p in
		pptp1)    lab_peer_bg "$(lab_lan 1)" "$log" pptp client "$S1IP" --call-id 1 --tag h1 --timeout 3 ;;
		pptp2)    lab_peer_bg "$(lab_lan 2)" "$log" pptp client "$S1IP" --call-id 1 --tag h2 --timeout 3 ;;
		ike)      lab_peer_bg "$(lab_lan 1)" "$log" ike client "$S1IP" ;;
		l2tp)     lab_peer_bg "$(lab_lan 1)" "$log" l2tp client "$S1IP" --tag h1 --tid 101 ;;
		l2tp1702) lab_peer_bg "$(lab_lan 2)" "$log" l2tp client "$S2IP" --tag h2 --tid 102 ;;
		esp)      lab_peer_bg "$(lab_lan 2)" "$log" esp client "$S1IP" --tag h2 ;;
		fwd-pptp) lab_peer_bg "$C" "$log" pptp client "$LAB_WAN_IP" --tag wan --timeout 3 ;;
		fwd-ike)  lab_peer_bg "$C" "$log" ike client "$LAB_WAN_IP" ;;
		fwd-esp)  lab_peer_bg "$C" "$log" esp client "$LAB_WAN_IP" --tag wan ;;
		fwd-l2tp) lab_peer_bg "$C" "$log" l2tp client "$LAB_WAN_IP" --tag wan --tid 201 ;;
		fwd-wg)   lab_peer_bg "$C" "$log" wireguard client "$LAB_WAN_IP" ;;
		esac
		pid[$p]=$LAB_LAST_PID
	done
	for p; do wait "${pid[$p]}"; RC[$p]=$?; done
}
ok() { test "${RC[$1]}" = 0; }
LAN_PROBES=(pptp1 pptp2 ike l2tp l2tp1702 esp)
FWD_PROBES=(fwd-pptp fwd-ike fwd-esp fwd-l2tp fwd-wg)
declare -A WHAT=(
	[pptp1]="PPTP call (control + GRE) from lan1, Call ID 1"
	[pptp2]="PPTP call (control + GRE) from lan2, Call ID 1"
	[ike]="IKE on 500 and NAT-T on 4500 from lan1"
	[l2tp]="L2TP tunnel from lan1, server on 1701"
	[l2tp1702]="L2TP tunnel from lan2, server answering from 1702"
	[esp]="raw ESP from lan2 and back"
	[fwd-pptp]="forward pptp: WAN call (control + GRE) to lan3"
	[fwd-ike]="forward ipsec: WAN IKE 500 + NAT-T 4500 to lan3"
	[fwd-esp]="forward ipsec: WAN raw ESP to lan3 and back"
	[fwd-l2tp]="forward l2tp: WAN tunnel to lan4"
	[fwd-wg]="forward wireguard: WAN handshake to lan4"
)

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
