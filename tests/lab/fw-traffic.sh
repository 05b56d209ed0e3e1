# shellcheck shell=bash
# tests/lab/fw-traffic.sh: the traffic of the firewall tests (t-firewall.sh,
# t-firewalld.sh). Source it after lab_create 4 3.
#
#   lan1 (.2) PPTP call 1, IKE/NAT-T, L2TP   --\         /-- srv1 .2: PAC, IKE, ESP echo,
#   lan2 (.3) PPTP call 1, raw ESP, L2TP     ---\       /        LNS on 1701
#   lan3 (.4) forwarded: PAC, IKE, ESP echo  ---- router ---- srv2 .3: LNS answering from 1702
#   lan4 (.5) forwarded: LNS, WireGuard      --/  (firewall \-- srv3 .4: the WAN client of
#                                                  + vpnpt)         the forwards
#
# fw_servers starts the servers; $LAB_DIR/clients.toml is the shipped config
# (esp "single": the lab kernel loads no module), $LAB_DIR/forwards.toml the
# same with forwards to lan3/lan4; run_all runs probes.

R=$(lab_router) S1IP=$(lab_srv_ip 1) S2IP=$(lab_srv_ip 2) C=$(lab_srv 3)

fw_servers() {
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
		lab_ready "$LAB_DIR/$s.log" || return 1
	done
}

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
# vpnpt_table: vpnpt's table as loaded in the router.
vpnpt_table() { lab_ns "$R" nft -s list table inet vpnpt; }
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

