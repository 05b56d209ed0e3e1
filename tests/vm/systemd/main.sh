#!/bin/bash
# tests/vm/systemd/main.sh lab|test: vpnpt as installed, under systemd as PID 1.
#
# Runs inside the VM that tests/vm/run --systemd boots twice with the same
# disk as the overlay's upper layer (tests/vm/init installs the units):
#   lab   (vpnpt-vmlab.service, every boot, before vpnpt.service): the lab of
#         lib.sh with the VM's own namespace as the router: br0 (LAN, one
#         host vm-h1), eth0 (WAN, server vm-s)
#   test  (vpnpt-vmtest.service, once the boot is done):
#     boot 1: dpkg -i the vpnpt and vpnpt-dkms .debs (DKMS builds the module
#             for this kernel), enable Debian's nftables.service with its
#             default /etc/nftables.conf, set esp = "mux" in the conffile,
#             systemctl enable vpnpt, reboot
#     boot 2: the table after nftables' ruleset, the module in mux mode, a
#             PPTP call through the router, then restart/reload nftables,
#             reload vpnpt (the table back each time, the call still carries
#             traffic), stop vpnpt (only its table goes),
#             systemd-analyze security vpnpt, apply --confirm's
#             transient systemd timer (reverts unconfirmed, keeps confirmed),
#             and a libreswan IKEv2 peer (raw ESP through the module) from
#             the LAN host to the server
# Output on the console, for tests/vm/run: "VPNPT_VM_RESULT PASS|FAIL NAME",
# "VPNPT_VM_REBOOT" before the reboot, "VPNPT_VM_RC=<n>" at the end.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
. "$VPNPT_VM_TESTS/lib.sh"   # (its vpnpt() is the lab's build: the installed one is /usr/sbin/vpnpt here)
trap - EXIT   # the lab stays up for the whole boot
cd /

if [ "${1:-}" = lab ]; then
	LAB_ROUTER_PID=1
	lab_up 1 || { echo "vm-lab: lab_up failed"; exit 1; }
	echo "vm-lab: router = the VM's namespace (br0 192.168.1.1, eth0 $WAN_R), server vm-s, host vm-h1"
	exit 0
fi

state=/var/lib/vpnpt-vmtest   # on the overlay's upper layer: survives the reboot
mkdir -p "$state"
pass=0 nfail=0
res() {   # res PASS|FAIL NAME [why]
	if [ "$1" = PASS ]; then pass=$((pass + 1)); else nfail=$((nfail + 1)); fi
	echo "VPNPT_VM_RESULT $1 $2${3:+ ($3)}"
}
finish() {   # finish poweroff|reboot
	echo "VPNPT_VM_SUMMARY $pass passed, $nfail failed"
	if [ "$1" = reboot ]; then
		echo "VPNPT_VM_REBOOT"
	else
		echo "VPNPT_VM_RC=$(( nfail > 0 ? 1 : 0 ))"
	fi
	systemctl "$1" --no-block
	exit 0
}

boot=1
[ -e "$state/installed" ] && boot=2
read -r up_s _ < /proc/uptime
echo "VPNPT_VM_BOOTED kernel=$(uname -r) boot=$boot uptime=${up_s}s pid1=$(cat /proc/1/comm)"
sysstate=$(timeout 300 systemctl is-system-running --wait 2>&1)
read -r up_s _ < /proc/uptime
log "system $sysstate at uptime ${up_s}s"
[ "$sysstate" = running ] || systemctl --failed --no-pager --plain | sed 's/^/  /'

have_table() { nft list tables | grep -qx "table $1"; }
tables() { nft list tables | tr '\n' ' '; }

if [ $boot = 1 ]; then
	# -- boot 1: install, configure, enable ----------------------------
	rm -f /var/lib/man-db/auto-update   # no man-db index rebuild under TCG
	# A first install: what this machine's root may hold of vpnpt (tests/pkg
	# installs and purges it there) goes first, in the VM's overlay only.
	if dpkg-query -W -f '${db:Status-Abbrev}\n' vpnpt vpnpt-dkms 2>/dev/null | grep -qv '^un'; then
		log "this machine's root holds vpnpt packages: purging them in the VM first"
		# (half-removed there, its prerm fails: drop the maintainer scripts)
		DEBIAN_FRONTEND=noninteractive dpkg --purge vpnpt vpnpt-dkms > /tmp/purge.out 2>&1 || {
			rm -f /var/lib/dpkg/info/vpnpt.p* /var/lib/dpkg/info/vpnpt-dkms.p*
			DEBIAN_FRONTEND=noninteractive dpkg --purge vpnpt vpnpt-dkms >> /tmp/purge.out 2>&1
		} || sed 's/^/  /' /tmp/purge.out
		rm -rf /var/lib/dkms/vpnpt /usr/src/vpnpt-* /etc/vpnpt
	fi
	# This machine's root may carry a policy-rc.d (tests/vm/run's install
	# guard); a router does not, and it would stop deb-systemd-invoke.
	rm -f /usr/sbin/policy-rc.d
	t0=$(date +%s)
	log "dpkg -i $(cd "$VPNPT_WORK/debs" && echo vpnpt_*.deb vpnpt-dkms_*.deb)"
	if DEBIAN_FRONTEND=noninteractive dpkg -i "$VPNPT_WORK"/debs/vpnpt_*.deb "$VPNPT_WORK"/debs/vpnpt-dkms_*.deb 2>&1 |
		while IFS= read -r l; do echo "  $(date +%T) $l"; done; [ "${PIPESTATUS[0]}" = 0 ]; then
		mod=$(modinfo -n vpnpt_esp 2>/dev/null)
		log "dpkg -i took $(( $(date +%s) - t0 ))s; modinfo -n vpnpt_esp: ${mod:-none}; dkms status: $(dkms status 2>&1 | tr '\n' ' ')"
		case "$mod" in
		/lib/modules/"$(uname -r)"/updates/dkms/vpnpt_esp.ko*) res PASS install ;;
		*) res FAIL install "DKMS did not install vpnpt_esp for $(uname -r)" ;;
		esac
	else
		res FAIL install "dpkg -i failed"
	fi
	log "/etc/nftables.conf (Debian's default):"; sed 's/^/  /' /etc/nftables.conf
	cfg=/etc/vpnpt/vpnpt.toml
	sed -i 's/^#esp = "auto"/esp = "mux"/' "$cfg"
	if ! grep -qx 'flush ruleset' /etc/nftables.conf; then
		res FAIL configure "/etc/nftables.conf has no 'flush ruleset'"
	elif ! grep -qx 'esp = "mux"' "$cfg"; then
		res FAIL configure "cannot set esp = \"mux\" in $cfg"
	elif ! run /usr/sbin/vpnpt check; then
		res FAIL configure "vpnpt check on $cfg"
	elif ! run systemctl enable nftables.service vpnpt.service; then
		res FAIL configure "systemctl enable"
	else
		log "enabled: nftables $(systemctl is-enabled nftables), vpnpt $(systemctl is-enabled vpnpt)"
		res PASS configure
	fi
	[ $nfail = 0 ] || finish poweroff
	touch "$state/installed"
	sync
	finish reboot
fi

# -- boot 2: as installed ---------------------------------------------------
mono() { systemctl show -P "$2" "$1"; }
nft_up=$(mono nftables.service ActiveEnterTimestampMonotonic)
vp_start=$(mono vpnpt.service ExecMainStartTimestampMonotonic)
log "nftables: $(systemctl is-active nftables) (active at ${nft_up}us), vpnpt: $(systemctl is-active vpnpt) (started at ${vp_start}us); tables: $(tables)"
if ! systemctl is-active -q nftables.service || ! systemctl is-active -q vpnpt.service; then
	journalctl -b -u vpnpt -u nftables --no-pager | tail -n 20
	res FAIL boot "nftables.service and vpnpt.service not both active after the reboot"
elif ! have_table "inet filter" || ! have_table "inet vpnpt"; then
	res FAIL boot "after the reboot: $(tables)(want inet filter and inet vpnpt)"
elif [ "${vp_start:-0}" -lt "${nft_up:-0}" ] || [ "${nft_up:-0}" = 0 ]; then
	res FAIL boot "vpnpt started at ${vp_start}us, before nftables' ruleset (${nft_up}us)"
else
	res PASS boot
fi

st=$(/usr/sbin/vpnpt status --json 2>/dev/null)
log "vpnpt status --json: table $(jq -c .table <<<"$st"), esp $(jq -c '.esp | {configured, module_loaded, effective}' <<<"$st")"
if [ "$(jq -r .esp.effective <<<"$st")" = mux ] && [ "$(jq -r .esp.module_loaded <<<"$st")" = true ] &&
	grep -q '^vpnpt_esp ' /proc/modules; then
	res PASS mux
else
	/usr/sbin/vpnpt status 2>&1 | sed 's/^/  /'
	res FAIL mux "the module is not loaded and enabled for esp = \"mux\" after boot"
fi

# A PPTP call from the LAN host to the server, through the router.
call_ok() {
	local got
	got=$(n "$(host 1)" ping -q -c 5 -i 0.2 -W 1 10.9.0.1 | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	log "$1: ${got:-0}/5 replies from 10.9.0.1 over the PPTP call"
	[ "${got:-0}" -ge 4 ]
}
call=0
if pptp_server_up && pptp_client_up 1 && wait_for 60 ppp_addr 1; then
	log "host 1: ppp0 $(ppp_addr 1)"
	if call_ok "after boot"; then call=1; res PASS pptp; else pptp_show_logs; res FAIL pptp "no traffic over the call"; fi
else
	pptp_show_logs
	journalctl -b --no-pager -t pptpd -t pptp -t pppd | tail -n 20
	res FAIL pptp "no ppp link through the router"
fi

# back NAME: the table is back after the step, inet filter is there, the call still works.
back() {
	if ! wait_for 30 have_table "inet vpnpt"; then
		res FAIL "$1" "table inet vpnpt missing after it: $(tables)"
	elif ! have_table "inet filter"; then
		res FAIL "$1" "nftables' table inet filter missing: $(tables)"
	elif [ $call = 1 ] && ! call_ok "after $1"; then
		res FAIL "$1" "the PPTP call stopped carrying traffic"
	else
		res PASS "$1"
	fi
}
run systemctl restart nftables.service; back restart-nftables
run systemctl reload nftables.service; back reload-nftables
run nft delete table inet vpnpt
run systemctl reload vpnpt.service; back reload-vpnpt

run systemctl stop vpnpt.service
if have_table "inet vpnpt"; then
	res FAIL stop "table inet vpnpt still there after systemctl stop vpnpt"
elif ! have_table "inet filter"; then
	res FAIL stop "systemctl stop vpnpt removed nftables' table too: $(tables)"
else
	log "after stop: $(tables)"
	res PASS stop
fi

# Control: the same unit without PartOf=nftables.service (an override in
# /etc): restarting nftables flushes the ruleset and nothing puts the table
# back, which is what restart-nftables above would catch.
sed '/^PartOf=/d' /lib/systemd/system/vpnpt.service > /etc/systemd/system/vpnpt.service
run systemctl daemon-reload
run systemctl start vpnpt.service
if ! wait_for 10 have_table "inet vpnpt"; then
	res FAIL control-no-partof "vpnpt did not start with the override: $(tables)"
else
	run systemctl restart nftables.service
	if wait_for 10 have_table "inet vpnpt"; then
		res FAIL control-no-partof "the table came back without PartOf=: the restart check proves nothing"
	else
		log "control: without PartOf=, after systemctl restart nftables: $(tables)(vpnpt $(systemctl is-active vpnpt))"
		res PASS control-no-partof
	fi
fi
rm -f /etc/systemd/system/vpnpt.service
systemctl daemon-reload

log "systemd-analyze security vpnpt.service:"
if systemd-analyze security --no-pager vpnpt.service > /tmp/security.out 2>&1; then
	sed 's/^/VPNPT_SECURITY /' /tmp/security.out
	res PASS security
else
	cat /tmp/security.out
	res FAIL security "systemd-analyze security failed"
fi
# apply --confirm under systemd: the revert is a transient timer
# (systemd-run --on-active), which outlives the session that ran apply.
# Unconfirmed, the timer's service restores the table byte for byte, also
# when the config it came from is no longer readable; confirmed, the table
# is kept after the timer has fired.
confirm_by_timer() {
	local a=/tmp/confirm-a.nft b=/tmp/confirm-b.nft cfg=/tmp/confirm-b.toml out unit t0
	local vp=/usr/sbin/vpnpt
	# stateless (-s): a packet that a counter of the table counts between
	# two listings is not a change of the table (a CI run failed on one)
	cbt_table() { nft -s list table inet vpnpt 2>&1; }
	cbt_same_as() { cbt_table | cmp -s - "$1"; }
	cbt_timer_state() { systemctl show -P SubState "$1.timer"; }
	cbt_timer_done() { case "$(cbt_timer_state "$1")" in elapsed | dead) return 0 ;; esac; return 1; }
	cbt_changed_config() {
		cp /etc/vpnpt/vpnpt.toml $cfg
		printf '[[forward]]\nservice = "wireguard"\nto = "192.168.1.10"\n' >> $cfg
	}
	cbt_arm() {   # apply --confirm 5 of the changed config; sets unit
		cbt_changed_config
		out=$($vp -c $cfg apply --confirm 5 2>&1) || { echo "$out"; return 1; }
		echo "$out" | sed 's/^/  /'
		unit=$(sed -n 's/.*(systemd timer \(vpnpt-revert-[0-9a-f]*\)\.timer).*/\1/p' <<<"$out")
		[ -n "$unit" ]
	}
	run $vp apply > /dev/null || { res FAIL confirm-timer "vpnpt apply"; return; }
	cbt_table > $a

	t0=$(date +%s)
	if ! cbt_arm; then
		res FAIL confirm-timer "apply --confirm 5 did not arm a systemd timer"; return
	fi
	log "armed: $unit.timer $(cbt_timer_state "$unit") (ActiveState $(systemctl show -P ActiveState "$unit.timer"))"
	cbt_table > $b
	if [ "$(cbt_timer_state "$unit")" != waiting ]; then
		systemctl status --no-pager "$unit.timer" 2>&1 | head -5
		res FAIL confirm-timer "the transient timer $unit.timer is not waiting: $(cbt_timer_state "$unit")"
	elif cmp -s $a $b || ! grep -q 51820 $b; then
		res FAIL confirm-timer "the changed config is not what is loaded after apply --confirm"
	elif echo 'this is not TOML' > $cfg && ! wait_for 20 cbt_same_as $a; then
		diff $a <(cbt_table) | head -20
		res FAIL confirm-timer "not confirmed: the table was not restored within 20 s"
	elif $vp confirm > /tmp/confirm.out 2>&1 || [ $? != 4 ]; then
		cat /tmp/confirm.out
		res FAIL confirm-timer "vpnpt confirm after the revert: want exit 4 (nothing pending)"
	else
		log "not confirmed: restored byte for byte after $(( $(date +%s) - t0 ))s (timer $(cbt_timer_state "$unit"))"
		res PASS confirm-timer-revert
	fi

	if ! cbt_arm; then
		res FAIL confirm-timer "apply --confirm 5 (second) did not arm a systemd timer"; return
	fi
	cbt_table > $b
	if ! run $vp confirm; then
		res FAIL confirm-timer "vpnpt confirm"
	elif ! wait_for 20 cbt_timer_done "$unit"; then
		res FAIL confirm-timer "the timer $unit.timer did not fire within 20 s: $(cbt_timer_state "$unit")"
	elif ! cbt_same_as $b; then
		diff $b <(cbt_table) | head -20
		res FAIL confirm-timer "confirmed, but the table changed once the timer fired"
	else
		log "confirmed: the table kept after $unit.timer fired ($(cbt_timer_state "$unit"))"
		res PASS confirm-timer-kept
	fi
	run $vp apply > /dev/null
	rm -f $a $b $cfg /tmp/confirm.out
}
confirm_by_timer

# A real IPsec peer through the installed router, as t-ike-libreswan.sh:
# libreswan (IKEv2, PSK, NAT-T off, so ESP stays raw and crosses
# vpnpt_esp in mux mode) between host 1 and the server. vpnpt.service is
# restarted first, so that the table is the unit's.
tunnel_answers() { [ "$(tunnel_ping 1 1)" = 1 ]; }
ipsec_peer() {
	local got want m
	run systemctl restart vpnpt.service
	if ! wait_for 10 have_table "inet vpnpt"; then
		res FAIL ipsec "vpnpt.service did not load its table: $(tables)"; return
	fi
	if ! esp_ready || ! ls_lab_up 1; then
		ls_show_logs; res FAIL ipsec "libreswan peers did not start"; return
	fi
	run ls_initiate_all 1
	if ! wait_for 60 ls_established 1; then
		ls_show_logs; res FAIL ipsec "host 1: IKE did not install a child SA in 60s"; return
	fi
	# The initiator installs its SAs before the responder has finished.
	wait_for 20 tunnel_answers
	got=$(tunnel_ping 1 10)
	want=$(printf '0x%x' "$(ls_spi_in 1)")
	m=$(/usr/sbin/vpnpt status --json 2>/dev/null | jq -r --arg h "$(host_ip 1)" \
		'.esp.mappings[]? | select(.host == $h and (.state | ascii_downcase) == "bound" and .spi_in != 0) | .spi_in' |
		while read -r v; do printf '0x%x ' "$v"; done)
	log "host 1: $got/10 replies through its libreswan tunnel; pluto's inbound SPI $want; bound in vpnpt_esp: ${m:-none}"
	if [ "${got:-0}" -lt 8 ]; then
		ls_show_logs; res FAIL ipsec "host 1: $got/10 through the IPsec tunnel"
	elif ! grep -qw -- "$want" <<<"$m"; then
		/usr/sbin/vpnpt status 2>&1 | sed 's/^/  /'; res FAIL ipsec "host 1: its inbound SPI $want is not bound to it"
	else
		res PASS ipsec
	fi
}
ipsec_peer
finish poweroff
