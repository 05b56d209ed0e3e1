#!/bin/bash
# t-remove.sh: "vpnpt remove" stops passthrough and touches no other table.
#
#   lan1 (.2) --\                          /-- srv1 203.0.113.2: PPTP PAC
#                router (vpnpt + two tables of "someone else")
#   lan2 (.3) --/
#
# Before: two hosts' PPTP calls work (the t-pptp case, shortened). After
# remove: table inet vpnpt is gone, the other tables list exactly as before,
# and a new call no longer crosses the router (no masquerade: the server
# never sees it from the WAN address). The "before" half is what proves the
# "after" half can fail.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbrm}"
lab_need_vpnpt
lab_create 2 1
R=$(lab_router) S=$(lab_srv 1) SIP=$(lab_srv_ip 1)

lab_peer_bg "$S" "$LAB_DIR/pac.log" pptp server
lab_ready "$LAB_DIR/pac.log" || exit 1

# Someone else's tables: an inet filter and an ip nat table of their own.
pp lab_ns "$R" nft -f - <<'EOF' || exit 1
table inet lbother {
	set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
	chain filter_fwd {
		type filter hook forward priority 10; policy accept;
		ip saddr @blocked drop
	}
}
table ip lbnat {
	chain pre {
		type nat hook prerouting priority dstnat + 10; policy accept;
		iifname "eth0" tcp dport 2222 dnat to 192.168.1.3:22
	}
}
EOF
others() { lab_ns "$R" nft -s list table inet lbother; lab_ns "$R" nft -s list table ip lbnat; }
others >"$LAB_DIR/others.before"
same_others() { others >"$LAB_DIR/others.after" && diff -u "$LAB_DIR/others.before" "$LAB_DIR/others.after"; }

# calls NAME: a call from each LAN host; exit statuses in RC1 RC2, and the
# number of calls the server saw from the WAN address in WANCALLS.
calls() {
	local from p1 p2
	from=$(wc -l <"$LAB_DIR/pac.log")
	lab_peer_bg "$(lab_lan 1)" "$LAB_DIR/$1-h1.log" pptp client "$SIP" --tag h1 --count 1 --timeout 3; p1=$LAB_LAST_PID
	lab_peer_bg "$(lab_lan 2)" "$LAB_DIR/$1-h2.log" pptp client "$SIP" --tag h2 --count 1 --timeout 3; p2=$LAB_LAST_PID
	wait "$p1"; RC1=$?
	wait "$p2"; RC2=$?
	WANCALLS=$(tail -n +"$((from + 1))" "$LAB_DIR/pac.log" |
		jq -r --arg wan "$LAB_WAN_IP:" 'select(.ev == "ocrq" and (.peer | startswith($wan))) | .peer' | wc -l)
}

lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/default.toml"
lab_check "the other tables are untouched by apply" same_others
calls before
lab_check "before remove: both hosts' calls work" test "$RC1$RC2:$WANCALLS" = 00:2

lab_check "vpnpt remove" lab_remove "$LAB_DIR/default.toml"
vpnpt_table() { lab_ns "$R" nft list table inet vpnpt >/dev/null 2>&1; }
lab_check_not "table inet vpnpt is gone" vpnpt_table
lab_check "the other tables list exactly as before" same_others
lab_ns "$R" conntrack -F 2>/dev/null
calls after
lab_check "after remove: no call reaches the server from the WAN address" test "$WANCALLS" = 0
lab_check "after remove: neither host's call works" test "$RC1" != 0 -a "$RC2" != 0

lab_remove "$LAB_DIR/default.toml"
lab_check "a second remove leaves the other tables alone too" same_others

lab_done
