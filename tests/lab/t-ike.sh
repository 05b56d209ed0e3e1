#!/bin/bash
# t-ike.sh: IKEv2 on UDP 500 and NAT-T on UDP 4500 from two LAN hosts to one
# server.
#
#   lan1 (.2) --\                          /-- srv1 203.0.113.2: IKE responder
#                router (vpnpt, eth0 masq)      on 500 and 4500
#   lan2 (.3) --/
#
# Each host sends IKE_SA_INIT from source port 500, then IKE_AUTH from 4500
# with the non-ESP marker; the server answers both. What happens to source
# port 500 (printed, and checked):
#   one host:  masquerade keeps it: the server sees WAN:500.
#   two hosts: the first keeps 500; the second's mapping clashes and
#              masquerade picks another port, below 512 (the kernel keeps
#              ports < 1024 privileged and < 512 in 1..511). IKE still works
#              because the responder answers whatever port it saw and both
#              ends float to 4500 after NAT detection (RFC 7296 2.23), where
#              the second host gets an arbitrary public port as well.
# Plain masquerade carries all of that, so the feature-off case is about
# what vpnpt adds: with [ipsec] enabled = false the mappings age out on the
# kernel's UDP timeouts (30/120 s) instead of ike_timeout (600 s).
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbike}"
lab_need_vpnpt
lab_create 2 1
R=$(lab_router) S=$(lab_srv 1) SIP=$(lab_srv_ip 1)

lab_peer_bg "$S" "$LAB_DIR/ike.log" ike server
lab_ready "$LAB_DIR/ike.log" || exit 1

# initiate NAME HOST...: IKE from the given LAN hosts at once, each keeping
# its NAT-T mapping busy for $HOLD seconds; exit statuses
# in RC[host]; the server's log of this run in $LAB_DIR/NAME-srv.log.
declare -A RC
initiate() {
	local name=$1 from h; shift
	declare -A pid
	from=$(wc -l <"$LAB_DIR/ike.log")
	for h; do
		lab_peer_bg "$(lab_lan "$h")" "$LAB_DIR/$name-h$h.log" ike client "$SIP" --hold "${HOLD:-0}"
		pid[$h]=$LAB_LAST_PID
	done
	for h; do wait "${pid[$h]}"; RC[$h]=$?; done
	tail -n +"$((from + 1))" "$LAB_DIR/ike.log" >"$LAB_DIR/$name-srv.log"
}
# srv NAME EV: the server's events EV of run NAME (natt_ike: IKE_AUTH only).
srv() { jq -c "select(.ev == \"$2\" and (.exchange // 35) == 35)" "$LAB_DIR/$1-srv.log"; }
# ports NAME EV: public source ports seen, sorted.
ports() { srv "$1" "$2" | jq -r '.peer | split(":")[1]' | sort -n | tr '\n' ' '; }
# port_of NAME HOST EV: the public source port the server saw for HOST's SA.
port_of() {
	local spi
	spi=$(jq -r 'select(.ev == "ike_sa_init") | .spi_i' "$LAB_DIR/$1-h$2.log")
	srv "$1" "$3" | jq -r --arg spi "$spi" 'select(.spi_i == $spi) | .peer | split(":")[1]'
}
all_from_wan() { ! srv "$1" "$2" | jq -r '.peer | split(":")[0]' | grep -vqx "$LAB_WAN_IP"; }
count() { test "$(srv "$1" "$2" | wc -l)" = "$3"; }
# mapping_timeout HOST PORT: seconds left on HOST's conntrack entry to PORT.
mapping_timeout() {
	lab_ns "$R" conntrack -L -p udp -s "$(lab_lan_ip "$1")" --dport "$2" 2>/dev/null | awk '{print $3; exit}'
}
long_mapping() { local t; t=$(mapping_timeout "$1" "$2"); echo "timeout $t" >&2; [[ -n $t ]] && ((t > 300)); }

# ---- on (the shipped config) --------------------------------------------------
lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/default.toml"

initiate one 1
lab_check "one host: IKE and NAT-T answered" test "${RC[1]}" = 0
lab_check "one host: source port 500 kept (server saw WAN:500)" test "$(ports one ike_sa_init)" = "500 "
lab_check "one host: server detected the NAT" test "$(srv one ike_sa_init | jq -r .nat_detected)" = true

# The kernel gives a UDP flow its long ("replied") timeout only once it has
# been busy for 2 s, so the clients keep NAT-T up for 3 s with keep-alives
# and INFORMATIONAL exchanges, as a real tunnel does.
HOLD=3 initiate two 1 2
lab_log "two hosts: public ports for 500: $(ports two ike_sa_init); for 4500: $(ports two natt_ike)"
lab_check "two hosts: host 1's IKE and NAT-T answered" test "${RC[1]}" = 0
lab_check "two hosts: host 2's IKE and NAT-T answered" test "${RC[2]}" = 0
lab_check "two hosts: both IKE_SA_INITs from the WAN address" all_from_wan two ike_sa_init
lab_check "two hosts: both NAT-T messages from the WAN address" all_from_wan two natt_ike
lab_check "two hosts: server got 2 IKE_SA_INIT and 2 NAT-T IKE_AUTH" \
	eval 'count two ike_sa_init 2 && count two natt_ike 2'
lab_check "two hosts: host 1 still has 500" test "$(port_of two 1 ike_sa_init)" = 500
lab_check "two hosts: host 2 was moved to another port below 512" \
	eval 'p=$(port_of two 2 ike_sa_init); [[ -n $p ]] && ((p != 500 && p < 512))'
lab_check "two hosts: distinct public ports for 4500" \
	test "$(srv two natt_ike | jq -r .peer | sort -u | wc -l)" = 2
lab_check "host 1's NAT-T mapping kept for ike_timeout (> 300 s)" long_mapping 1 4500
lab_check "host 2's NAT-T mapping kept for ike_timeout (> 300 s)" long_mapping 2 4500
lab_check "named counter ipsec_ike counted IKE both ways" test "$(lab_counter ipsec_ike)" -ge 6
lab_check "named counter ipsec_nat_t counted NAT-T both ways" test "$(lab_counter ipsec_nat_t)" -ge 6

# ---- feature off: [ipsec] enabled = false --------------------------------------
lab_ns "$R" conntrack -F 2>/dev/null
lab_config "$LAB_DIR/ipsec-off.toml" ipsec enabled false
lab_check "vpnpt apply ([ipsec] enabled = false)" lab_apply "$LAB_DIR/ipsec-off.toml"
HOLD=3 initiate off 1 2
lab_check "ipsec off: masquerade alone still answers both hosts" test "${RC[1]}${RC[2]}" = 00
lab_check_not "ipsec off: host 1's NAT-T mapping ages out on the kernel's UDP timeout (<= 300 s)" long_mapping 1 4500
lab_check_not "ipsec off: host 2's NAT-T mapping ages out on the kernel's UDP timeout (<= 300 s)" long_mapping 2 4500

lab_done
