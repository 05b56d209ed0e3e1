#!/bin/bash
# t-forward.sh: a WAN client reaches VPN servers behind the router through
# [[forward]] entries.
#
#   lan1 (.2) PPTP PAC (TCP 1723 + GRE)  --\
#   lan2 (.3) IKE 500/4500 + raw ESP     ----  router 203.0.113.1  --  srv1 203.0.113.2:
#   lan3 (.4) OpenVPN 1194, WireGuard    --/   (vpnpt, forwards)       the WAN client
#             51820
#
# The client addresses the router's WAN address only. Forwards: service
# "pptp" (control DNATed, GRE follows through the PPTP helper's expectation),
# "ipsec" (500, 4500 and raw ESP, with esp = "single"), "openvpn",
# "wireguard", and protocol/port/to_port (UDP 11194 to 1194). Each exchange
# is checked by the client (the server's answer came back) and by the server
# (it saw the client's real address). Feature off: the shipped config, which
# forwards nothing: every client gets no answer.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbfwd}"
lab_need_vpnpt
lab_create 3 1
R=$(lab_router) C=$(lab_srv 1) CIP=$(lab_srv_ip 1)
PPTP_HOST=$(lab_lan_ip 1) IPSEC_HOST=$(lab_lan_ip 2) UDP_HOST=$(lab_lan_ip 3)

lab_peer_bg "$(lab_lan 1)" "$LAB_DIR/pptp.log" pptp server
lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/ike.log" ike server
lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/esp.log" esp server
lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/openvpn.log" openvpn server
lab_peer_bg "$(lab_lan 3)" "$LAB_DIR/wireguard.log" wireguard server
for s in pptp ike esp openvpn wireguard; do lab_ready "$LAB_DIR/$s.log" || exit 1; done

# probes NAME: every client at once from the WAN; exit statuses in RC[probe].
declare -A RC
probes() {
	local name=$1 p
	declare -A pid
	lab_peer_bg "$C" "$LAB_DIR/$name-pptp.log" pptp client "$LAB_WAN_IP" --tag wan --timeout 3
	pid[pptp]=$LAB_LAST_PID
	lab_peer_bg "$C" "$LAB_DIR/$name-ike.log" ike client "$LAB_WAN_IP"
	pid[ike]=$LAB_LAST_PID
	lab_peer_bg "$C" "$LAB_DIR/$name-esp.log" esp client "$LAB_WAN_IP" --tag wan
	pid[esp]=$LAB_LAST_PID
	lab_peer_bg "$C" "$LAB_DIR/$name-openvpn.log" openvpn client "$LAB_WAN_IP"
	pid[openvpn]=$LAB_LAST_PID
	lab_peer_bg "$C" "$LAB_DIR/$name-wireguard.log" wireguard client "$LAB_WAN_IP"
	pid[wireguard]=$LAB_LAST_PID
	lab_peer_bg "$C" "$LAB_DIR/$name-openvpn-moved.log" openvpn client "$LAB_WAN_IP" --port 11194
	pid[moved]=$LAB_LAST_PID
	for p in "${!pid[@]}"; do wait "${pid[$p]}"; RC[$p]=$?; done
}
# saw LOG EV: the server logged EV from the client's own address.
saw() { jq -e -s --arg ip "$CIP" "map(select(.ev == \"$2\" and ((.peer // .src) | startswith(\$ip)))) | length > 0" \
	"$LAB_DIR/$1.log" >/dev/null; }

# ---- forwards on --------------------------------------------------------------
lab_config "$LAB_DIR/forward.toml" ipsec esp '"single"'
cat >>"$LAB_DIR/forward.toml" <<EOF

[[forward]]
service = "pptp"
to = "$PPTP_HOST"

[[forward]]
service = "ipsec"
to = "$IPSEC_HOST"

[[forward]]
service = "openvpn"
to = "$UDP_HOST"

[[forward]]
service = "wireguard"
to = "$UDP_HOST"

[[forward]]
protocol = "udp"
port = 11194
to = "$UDP_HOST"
to_port = 1194
EOF
lab_check "vpnpt apply (five forwards, esp = \"single\")" lab_apply "$LAB_DIR/forward.toml"
probes on
lab_check "pptp: call and GRE echo through the router" test "${RC[pptp]}" = 0
lab_check "pptp: the PAC saw the call from the client's address" saw pptp ocrq
lab_check "pptp: the PAC got the client's GRE" saw pptp gre
lab_check "ipsec: IKE_SA_INIT on 500 and IKE_AUTH on 4500 answered" test "${RC[ike]}" = 0
lab_check "ipsec: the responder saw the client on 4500" saw ike natt_ike
lab_check "ipsec: raw ESP both ways (esp = \"single\")" test "${RC[esp]}" = 0
lab_check "ipsec: the LAN host got the client's ESP" saw esp esp
lab_check "openvpn: hard reset answered" test "${RC[openvpn]}" = 0
lab_check "wireguard: handshake initiation answered" test "${RC[wireguard]}" = 0
lab_check "udp 11194 -> 1194 (to_port): answered" test "${RC[moved]}" = 0
lab_check "named counter forwarded counted the forwarded flows" test "$(lab_counter forwarded)" -ge 12

# ---- feature off: no [[forward]] (the shipped config) -------------------------
lab_ns "$R" conntrack -F 2>/dev/null
lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply (shipped config: no forwards)" lab_apply "$LAB_DIR/default.toml"
probes off
for p in pptp ike esp openvpn wireguard moved; do
	lab_check_not "no forward: $p gets no answer" test "${RC[$p]}" = 0
done

lab_done
