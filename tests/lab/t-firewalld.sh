#!/bin/bash
# t-firewalld.sh: vpnpt beside firewalld (Debian 12: 1.3, nftables backend,
# table inet firewalld), run in the router namespace on a D-Bus system bus of
# its own, with a configuration directory of its own: nothing of this
# machine's firewalld, bus or /etc/firewalld is used or touched.
#
# The router set up as firewalld's documentation has it: eth0 in zone
# "external" (which masquerades), br0 in zone "internal", a policy
# internal -> external with target ACCEPT; all permanent, then --reload.
# Traffic as in t-firewall.sh (fw-traffic.sh): LAN clients of PPTP, IKE/NAT-T,
# L2TP and raw ESP, and a WAN client of forwards to LAN servers.
#
#   router     the policy above: everything crosses. The forwards and the LNS
#              answering from 1702 need nothing: firewalld's own forward
#              chain accepts "ct status dnat" before its zones.
#   vpn-only   a policy internal -> external that lets only the VPN
#              protocols out (GRE, ESP, TCP 1723, UDP 500/1701/4500): the
#              LAN clients still cross.
#   control    no policy: none of the LAN clients crosses; the forwards
#              still do.
# Also: starting and reloading firewalld leaves table inet vpnpt as it was,
# and vpnpt apply leaves table inet firewalld as it was.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbfwld}"
lab_need_vpnpt
for t in firewalld firewall-cmd dbus-daemon; do
	command -v "$t" >/dev/null || lab_skip "$t not found (run scripts/setup)"
done
lab_create 4 3
. "$LAB_TOP/tests/lab/fw-traffic.sh"
fw_servers || exit 1

# ---- firewalld on a bus of its own ----------------------------------------------
FWD=$LAB_DIR/firewalld
mkdir -p "$FWD/etc"
# The settings this test relies on, spelled out (Debian's defaults).
cat >"$FWD/etc/firewalld.conf" <<EOF
DefaultZone=public
FirewallBackend=nftables
CleanupOnExit=yes
FlushAllOnReload=yes
IndividualCalls=no
LogDenied=off
EOF
cat >"$FWD/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$FWD/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$FWD/bus
lab_bg "$R" "$FWD/dbus.log" dbus-daemon --config-file="$FWD/bus.conf" --nofork --nopidfile
lab_poll 10 test -S "$FWD/bus" || { cat "$FWD/dbus.log" >&2; exit 1; }

# fwcmd ARGS...: firewall-cmd in the router, on that bus.
fwcmd() { printf '+ [%s] firewall-cmd %s\n' "$R" "$*" >&2; lab_ns "$R" firewall-cmd "$@" >&2; }
fwd_running() { lab_ns "$R" firewall-cmd --state 2>/dev/null | grep -qx running; }
firewalld_table() { lab_ns "$R" nft -s list table inet firewalld; }

lab_check "vpnpt apply first (shipped config, esp \"single\")" lab_apply "$LAB_DIR/clients.toml"
vpnpt_table >"$LAB_DIR/vpnpt-before"
lab_bg "$R" "$FWD/firewalld.log" firewalld --nofork --nopid --system-config "$FWD/etc" --log-target console
lab_check "firewalld runs in the router namespace" lab_poll 30 fwd_running ||
	{ cat "$FWD/firewalld.log" >&2; lab_done; }
lab_log "firewalld $(lab_ns "$R" firewall-cmd --version)"
lab_check "firewalld's start left table inet vpnpt as it was" \
	eval 'vpnpt_table | cmp -s - "$LAB_DIR/vpnpt-before"'

# ---- the router: zones and a LAN -> WAN policy ----------------------------------
# The commands exactly as vpnpt.8 and packaging/README.md show them (checked
# below), one firewall-cmd each.
FWD_ROUTER=(
	"--permanent --zone=external --add-interface=eth0"
	"--permanent --zone=internal --add-interface=br0"
	"--permanent --new-policy=lan-to-wan"
	"--permanent --policy=lan-to-wan --add-ingress-zone=internal"
	"--permanent --policy=lan-to-wan --add-egress-zone=external"
	"--permanent --policy=lan-to-wan --set-target=ACCEPT"
	"--reload"
)
FWD_VPN_ONLY=(
	"--permanent --new-policy=lan-vpn"
	"--permanent --policy=lan-vpn --add-ingress-zone=internal"
	"--permanent --policy=lan-vpn --add-egress-zone=external"
	"--permanent --policy=lan-vpn --add-protocol=gre"
	"--permanent --policy=lan-vpn --add-protocol=esp"
	"--permanent --policy=lan-vpn --add-port=1723/tcp"
	"--permanent --policy=lan-vpn --add-port=500/udp"
	"--permanent --policy=lan-vpn --add-port=1701/udp"
	"--permanent --policy=lan-vpn --add-port=4500/udp"
	"--reload"
)
# fwcmds CMD...: run each CMD (words of firewall-cmd arguments); stop at the
# first that fails.
fwcmds() {
	local c
	for c; do
		# shellcheck disable=SC2086 # each CMD is split into its arguments
		fwcmd $c || return 1
	done
}
# docs_show CMD...: vpnpt.8 and packaging/README.md show these commands.
docs_show() {
	local c
	for c; do
		grep -qxF "firewall-cmd $c" "$LAB_TOP/packaging/README.md" ||
			{ lab_log "README.md lacks: firewall-cmd $c"; return 1; }
		grep -qxF "firewall\-cmd ${c//-/\\-}" "$LAB_TOP/man/vpnpt.8" ||
			{ lab_log "vpnpt.8 lacks: firewall-cmd $c"; return 1; }
	done
}
lab_check "vpnpt.8 and README.md show the router's commands" docs_show "${FWD_ROUTER[@]}"
lab_check "vpnpt.8 and README.md show the vpn-only commands" docs_show "${FWD_VPN_ONLY[@]}"

lab_check "firewalld: zones external (eth0) and internal (br0), policy lan-to-wan" fwcmds "${FWD_ROUTER[@]}"
lab_check "firewalld --reload left table inet vpnpt as it was" \
	eval 'vpnpt_table | cmp -s - "$LAB_DIR/vpnpt-before"'
lab_ns "$R" nft list ruleset >"$LAB_DIR/ruleset-router.txt"   # kept when a case fails
run_all router "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check "router: ${WHAT[$p]}" ok "$p"; done
firewalld_table >"$LAB_DIR/firewalld-before"
lab_check "vpnpt apply (the forwards added)" lab_apply "$LAB_DIR/forwards.toml"
lab_check "vpnpt apply left table inet firewalld as it was" \
	eval 'firewalld_table | cmp -s - "$LAB_DIR/firewalld-before"'
run_all router "${FWD_PROBES[@]}"
for p in "${FWD_PROBES[@]}"; do lab_check "router: ${WHAT[$p]}" ok "$p"; done

# ---- vpn-only: LAN -> WAN only for the VPN protocols -----------------------------
lab_check "firewalld: policy lan-to-wan deleted" fwcmd --permanent --delete-policy=lan-to-wan
lab_check "firewalld: policy lan-vpn (GRE, ESP, 1723, 500, 1701, 4500)" fwcmds "${FWD_VPN_ONLY[@]}"
lab_check "vpnpt apply (shipped config)" lab_apply "$LAB_DIR/clients.toml"
run_all vpn-only "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check "vpn-only: ${WHAT[$p]}" ok "$p"; done

# ---- control: no policy from internal to external ----------------------------------
lab_check "firewalld: policy lan-vpn deleted" \
	eval 'fwcmd --permanent --delete-policy=lan-vpn && fwcmd --reload'
run_all control "${LAN_PROBES[@]}"
for p in "${LAN_PROBES[@]}"; do lab_check_not "control: rejected: ${WHAT[$p]}" ok "$p"; done
lab_check "vpnpt apply (the forwards added)" lab_apply "$LAB_DIR/forwards.toml"
run_all control "${FWD_PROBES[@]}"
for p in "${FWD_PROBES[@]}"; do lab_check "control: still crosses: ${WHAT[$p]}" ok "$p"; done

lab_done
