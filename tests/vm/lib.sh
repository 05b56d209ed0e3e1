# tests/vm/lib.sh: sourced by tests/vm/t-*.sh, inside the VM only.
#
# The lab every test builds (fresh namespaces per test, removed on exit):
#
#   vm-h1 ─┐  LAN 192.168.1.0/24                      WAN 203.0.113.0/24
#   vm-h2 ─┼─ br0 [ vm-r: router, vpnpt applied ] eth0 ──── eth0 [ vm-s: server ]
#   vm-hN ─┘  .1                                  .1        .2
#   (hosts .2, .3, ... ; each host's eth0 is a veth whose peer lanN is a br0 port)
#
# Inner (tunnelled) addresses: host i has 10.1.i.1 (i up to 255), the server
# 10.0.0.1. The server routes 10.1.0.0/16 via the router's WAN address and has
# no route to the LAN: anything it reaches on the LAN went through the NAT.
#
# Exit codes as in the kernel selftests: 0 pass, 1 fail, 4 skip.
set -u
R=vm-r
S=vm-s
WAN_R=203.0.113.1
WAN_S=203.0.113.2
ksft_skip=4
VPNPT_BIN=${VPNPT_BIN:-}
_lab_ns=()
_lab_pids=()

_t0=$(date +%s)
_el() { echo "$(( $(date +%s) - _t0 ))s"; }
log() { echo "$(_el) $*"; }
# Echo a command, then run it.
run() { echo "$(_el) + $*"; "$@"; }
fail() { echo "$(_el) FAIL: $*"; exit 1; }
skip() { echo "$(_el) SKIP: $*"; exit $ksft_skip; }
ok() { echo "$(_el) ok: $*"; }
n() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
host() { echo "vm-h$1"; }
host_ip() { echo "192.168.1.$(($1 + 1))"; }
inner_ip() { echo "10.1.$1.1"; }

# Poll: wait_for SECONDS CMD... runs CMD every 0.2 s until it succeeds.
wait_for() {
	local deadline=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# Remember a background process so lab_down stops it.
bg_pid() { _lab_pids+=("$1"); }

# One ip -batch for the pids and one for the deletions: an exec per
# namespace costs a second or more for t-scale's 42 under TCG.
lab_down() {
	local p pids n
	for p in "${_lab_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ ${#_lab_ns[@]} -gt 0 ] || return 0
	# Until the namespaces hold no process: one can fork while the others
	# die (a pppd told to stop runs its ip-down scripts), and what forked
	# after the list was read outlived the test (the harness's leftover check).
	for ((n = 0; n < 50; n++)); do
		pids=$(printf 'netns pids %s\n' "${_lab_ns[@]}" | ip -force -batch - 2>/dev/null)
		[ -n "$pids" ] || break
		kill -9 $pids 2>/dev/null
	done
	printf 'netns del %s\n' "${_lab_ns[@]}" | ip -force -batch - 2>/dev/null
	_lab_ns=()
}
trap 'rc=$?; lab_down; exit $rc' EXIT

ns_add() { ip netns add "$1" && _lab_ns+=("$1") && ip -n "$1" link set lo up; }

# lab_up N: router, server and N LAN hosts as drawn above; forwarding on,
# no NAT yet. Every exec costs a lot under TCG, so one "ip -batch" per
# namespace; if LAB_HOST_EXTRA names a function, its output (ip batch lines,
# e.g. xfrm SAs) is added to host I's batch: "$LAB_HOST_EXTRA I".
# LAB_ROUTER_PID=P: the router is the network namespace of process P (1: the
# VM's own, where systemd starts vpnpt.service), named $R with "netns attach".
LAB_HOST_EXTRA=
LAB_ROUTER_PID=
lab_up() {
	local nh=$1 i b=/tmp/lab.batch
	{
		if [ -n "$LAB_ROUTER_PID" ]; then echo "netns attach $R $LAB_ROUTER_PID"; else echo "netns add $R"; fi
		echo "netns add $S"
		for ((i = 1; i <= nh; i++)); do echo "netns add vm-h$i"; done
	} > $b
	ip -batch $b || return 1
	_lab_ns+=($R $S)
	for ((i = 1; i <= nh; i++)); do _lab_ns+=("vm-h$i"); done
	{
		echo "link set lo up"
		echo "link add br0 type bridge"
		echo "link set br0 up"
		echo "addr add 192.168.1.1/24 dev br0"
		echo "link add eth0 type veth peer name eth0 netns $S"
		echo "link set eth0 up"
		echo "addr add $WAN_R/24 dev eth0"
		for ((i = 1; i <= nh; i++)); do
			echo "link add lan$i type veth peer name eth0 netns vm-h$i"
			echo "link set lan$i master br0 up"
		done
	} > $b
	ip -n $R -batch $b || return 1
	n $R sysctl -qw net.ipv4.ip_forward=1
	ip -n $S -batch - <<-EOF || return 1
		link set lo up
		link set eth0 up
		addr add $WAN_S/24 dev eth0
		addr add 10.0.0.1/32 dev lo
		route add 10.1.0.0/16 via $WAN_R
	EOF
	for ((i = 1; i <= nh; i++)); do
		{
			echo "link set lo up"
			echo "link set eth0 up"
			echo "addr add 192.168.1.$((i + 1))/24 dev eth0"
			echo "addr add 10.1.$i.1/32 dev lo"
			echo "route add default via 192.168.1.1"
			[ -z "$LAB_HOST_EXTRA" ] || $LAB_HOST_EXTRA "$i"
		} > $b
		ip -n "vm-h$i" -batch $b || return 1
	done
	# Every LAN port has carrier, host 1 reaches the router, the router the server.
	ports_up() { [ "$(ip -n $R -o link show master br0 up | grep -c LOWER_UP)" -eq "$nh" ]; }
	wait_for 20 ports_up || { echo "not all $nh LAN ports came up"; return 1; }
	wait_for 10 n vm-h1 ping -c1 -W1 192.168.1.1 || { echo "host 1 cannot reach the router"; return 1; }
	wait_for 10 n $R ping -c1 -W1 $WAN_S || { echo "router cannot reach the server"; return 1; }
}

# Plain masquerade on the router (the control case: what a router does today).
router_masquerade() {
	n $R nft -f - <<-EOF
		table ip vm_nat {
			chain post {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "eth0" masquerade
			}
		}
	EOF
}

# ---- IPsec with manual SAs (ip xfrm, tunnel mode, real AES-GCM) ----------
# SPIs: host i sends with 0x1000+i (+0x100*generation), receives 0x2000+i.
# Each direction of each tunnel has its own key, so a packet delivered to the
# wrong host can neither match an SA nor authenticate.
xfrm_key() { printf '0x%064x%08x' "$1" "$2"; }   # 32-byte key + 4-byte salt

esp_ready() {
	modprobe esp4 && modprobe drbg && modprobe xfrm_user
}

# tunnel_up I GEN: SAs and policies between host I and the server; GEN picks
# a new pair of SPIs and keys (a rekey). The server sees host I as $WAN_R.
tunnel_up() {
	local i=$1 gen=${2:-0} h hip in out
	h=$(host "$i"); hip=$(host_ip "$i")
	out=$(printf '0x%x' $((0x1000 + 0x100 * gen + i)))
	in=$(printf '0x%x' $((0x2000 + 0x100 * gen + i)))
	ip -n "$h" -batch - <<-EOF || return 1
		xfrm state add src $hip dst $WAN_S proto esp spi $out reqid $i mode tunnel aead 'rfc4106(gcm(aes))' $(xfrm_key $i $((gen * 2))) 128
		xfrm state add src $WAN_S dst $hip proto esp spi $in reqid $i mode tunnel aead 'rfc4106(gcm(aes))' $(xfrm_key $i $((gen * 2 + 1))) 128
	EOF
	ip -n $S -batch - <<-EOF || return 1
		xfrm state add src $WAN_R dst $WAN_S proto esp spi $out reqid $i mode tunnel aead 'rfc4106(gcm(aes))' $(xfrm_key $i $((gen * 2))) 128
		xfrm state add src $WAN_S dst $WAN_R proto esp spi $in reqid $i mode tunnel aead 'rfc4106(gcm(aes))' $(xfrm_key $i $((gen * 2 + 1))) 128
	EOF
	[ "$gen" = 0 ] || return 0   # policies stay; only the SAs change
	ip -n "$h" -batch - <<-EOF || return 1
		xfrm policy add dir out src $(inner_ip "$i")/32 dst 10.0.0.1/32 tmpl src $hip dst $WAN_S proto esp reqid $i mode tunnel
		xfrm policy add dir in src 10.0.0.1/32 dst $(inner_ip "$i")/32 tmpl src $WAN_S dst $hip proto esp reqid $i mode tunnel
	EOF
	ip -n $S -batch - <<-EOF || return 1
		xfrm policy add dir in src $(inner_ip "$i")/32 dst 10.0.0.1/32 tmpl src $WAN_R dst $WAN_S proto esp reqid $i mode tunnel
		xfrm policy add dir out src 10.0.0.1/32 dst $(inner_ip "$i")/32 tmpl src $WAN_S dst $WAN_R proto esp reqid $i mode tunnel
	EOF
}

# Remove generation GEN's SAs of host I (after a rekey).
tunnel_drop_gen() {
	local i=$1 gen=$2 out in
	out=$(printf '0x%x' $((0x1000 + 0x100 * gen + i)))
	in=$(printf '0x%x' $((0x2000 + 0x100 * gen + i)))
	n "$(host "$i")" ip xfrm state del src "$(host_ip "$i")" dst $WAN_S proto esp spi "$out"
	n "$(host "$i")" ip xfrm state del src $WAN_S dst "$(host_ip "$i")" proto esp spi "$in"
	n $S ip xfrm state del src $WAN_R dst $WAN_S proto esp spi "$out"
	n $S ip xfrm state del src $WAN_S dst $WAN_R proto esp spi "$in"
}

# Packets received by ping through host I's tunnel (COUNT sent, 0.2 s apart).
tunnel_ping() {
	local i=$1 count=${2:-5}
	n "$(host "$i")" ping -q -c "$count" -i 0.2 -W 1 -I "$(inner_ip "$i")" 10.0.0.1 2>/dev/null |
		sed -n 's/.* \([0-9]*\) received.*/\1/p'
}

# One xfrm_stat counter (per namespace), e.g. XfrmInNoStates.
xfrm_stat() { n "$1" awk -v k="$2" '$1 == k { print $2 }' /proc/net/xfrm_stat; }

# Packets an SA has processed, in namespace NS: sa_packets NS SPI
# (from the "lifetime current:" block of "ip -s xfrm state").
sa_packets() {
	n "$1" ip -s xfrm state list spi "$2" 2>/dev/null |
		awk '/lifetime current:/ { getline; sub(/\(packets\).*/, "", $2); print $2 + 0; exit }'
}
spi_out() { printf '0x%x' $((0x1000 + 0x100 * ${2:-0} + $1)); }   # host I -> server
spi_in() { printf '0x%x' $((0x2000 + 0x100 * ${2:-0} + $1)); }    # server -> host I

# ---- vpnpt (controller + module) -----------------------------------------
# need_vpnpt: skip unless the controller binary and the module both exist.
need_controller() {
	[ -n "$VPNPT_BIN" ] && [ -x "$VPNPT_BIN" ] || skip "no vpnpt binary in the build dir (build it first)"
}
need_module() {
	modinfo vpnpt_esp >/dev/null 2>&1 || skip "vpnpt_esp module not built (kmod/Makefile absent)"
}
need_vpnpt() { need_controller; need_module; }

# vpnpt_config ESP: the shipped config with [ipsec] esp set, written to /tmp.
vpnpt_config() {
	local f=/tmp/vpnpt-$1.toml
	sed "s/^#esp = \"auto\"/esp = \"$1\"/" "$VPNPT_WORK/etc/vpnpt.toml" > "$f"
	grep -q "^esp = \"$1\"" "$f" || { echo "cannot set esp = $1 in etc/vpnpt.toml" >&2; return 1; }
	[ -n "${2:-}" ] && printf '%s\n' "$2" >> "$f"
	echo "$f"
}

vpnpt() {
	local rd=()
	[ -d "$VPNPT_WORK/rules" ] && rd=(--rules-dir "$VPNPT_WORK/rules")
	n $R "$VPNPT_BIN" "${rd[@]}" "$@"
}

# ---- syslog (pptpd, pptp and pluto log only there) ------------------------
syslog_up() {
	busybox syslogd -n -O /tmp/syslog.log &
	bg_pid $!
	wait_for 5 test -S /dev/log
}
syslog_show() { echo "--- syslog ---"; tail -n "${1:-40}" /tmp/syslog.log 2>/dev/null; }

# ---- PPTP: pptpd on the server, pptp-linux + pppd on LAN hosts ------------
# Server end 10.9.0.1, clients get 10.9.0.10 and up.
pptp_server_up() {
	modprobe ppp_generic && modprobe ppp_async || return 1
	cat > /tmp/pptpd.conf <<-EOF
		option /tmp/pptpd-options
		localip 10.9.0.1
		remoteip 10.9.0.10-99
	EOF
	cat > /tmp/pptpd-options <<-EOF
		name vm-pptpd
		noauth
		nobsdcomp
		nodeflate
		novj
		noipv6
		nodefaultroute
		lcp-echo-interval 0
		logfile /tmp/pppd-server.log
	EOF
	n $S pptpd -f -c /tmp/pptpd.conf -p /tmp/pptpd.pid &
	bg_pid $!
	wait_for 10 sh -c "ip netns exec $S ss -Hltn 'sport = :1723' | grep -q 1723"
}

# pptp_client_up I: host I dials the server; pppd + pptp run in host I's
# namespace and in a mount namespace of their own (ip netns exec makes one)
# with a private /run/pptp, so hosts do not share pptp's call manager.
pptp_client_up() {
	local i=$1 h
	h=$(host "$i")
	n "$h" sh -c "mkdir -p /run/pptp && mount -t tmpfs pptp-$i /run/pptp &&
		exec pppd pty 'pptp $WAN_S --nolaunchpppd' name vm-h$i noauth nodetach \
			refuse-pap refuse-chap refuse-mschap refuse-mschap-v2 refuse-eap \
			nobsdcomp nodeflate novj noipv6 nodefaultroute noipdefault lcp-echo-interval 0 \
			maxfail 1 debug logfile /tmp/pppd-h$i.log" > /tmp/pppd-h$i.out 2>&1 &
	bg_pid $!
}

# The local address of host I's ppp0 once the link is up (IPCP done), else fails.
ppp_addr() {
	n "$(host "$1")" ip -4 -o addr show dev ppp0 2>/dev/null | awk '{ print $4 }' | grep .
}

pptp_show_logs() {
	local f
	for f in /tmp/pppd-*.log /tmp/pppd-*.out; do
		[ -s "$f" ] && { echo "--- $f ---"; tail -n 15 "$f"; }
	done
	syslog_show 30
}

# ---- L2TP: xl2tpd as LNS on the server, xl2tpd as LAC on LAN hosts --------
# Every xl2tpd runs in the foreground (-D) with its own config, control
# file and pid file under /tmp/l2tp; its log is /tmp/l2tp/<ns>.log, its
# pppd's /tmp/l2tp/pppd-<ns>.log. The LNS hands out 10.8.0.10 and up and is
# 10.8.0.1 on every ppp link. Each LAC dials once (autodial, no redial) from
# UDP port 1701, as every xl2tpd does.
L2TP_DIR=/tmp/l2tp

# l2tp_server_up [SPORT]: the LNS on the server. With SPORT (not 1701) the
# server answers from that port instead, as RFC 2661 section 8.1 allows:
# xl2tpd itself always answers from its own port, so a nat rule in the
# server rewrites the source port of what it sends (incoming L2TP is left
# untracked, so each reply is a new flow there and gets the rewrite).
l2tp_server_up() {
	local sport=${1:-1701}
	modprobe ppp_generic && modprobe l2tp_ppp || return 1
	mkdir -p $L2TP_DIR
	: > $L2TP_DIR/secrets
	cat > $L2TP_DIR/lns.conf <<-EOF
		[global]
		listen-addr = ${L2TP_LNS_ADDR:-$WAN_S}
		access control = no

		[lns default]
		ip range = 10.8.0.10-10.8.0.99
		local ip = 10.8.0.1
		require authentication = no
		length bit = yes
		pppoptfile = $L2TP_DIR/lns-options
	EOF
	cat > $L2TP_DIR/lns-options <<-EOF
		noauth
		nodefaultroute
		noccp
		novj
		noipv6
		lcp-echo-interval 0
		logfile $L2TP_DIR/pppd-lns.log
	EOF
	if [ "$sport" != 1701 ]; then
		n "${L2TP_LNS_NS:-$S}" nft -f - <<-EOF || return 1
			table ip vm_lns {
				chain pre {
					type filter hook prerouting priority raw; policy accept;
					udp dport 1701 notrack
				}
				chain post {
					type nat hook postrouting priority srcnat; policy accept;
					udp sport 1701 snat to ${L2TP_LNS_ADDR:-$WAN_S}:$sport
				}
			}
		EOF
	fi
	l2tp_run "${L2TP_LNS_NS:-$S}" lns || return 1
	wait_for 10 sh -c "ip netns exec ${L2TP_LNS_NS:-$S} ss -Hlun 'sport = :1701' | grep -q 1701"
}

# l2tp_run NS NAME: xl2tpd in NS with $L2TP_DIR/NAME.conf, in the background.
l2tp_run() {
	n "$1" xl2tpd -D -c "$L2TP_DIR/$2.conf" -s $L2TP_DIR/secrets -p "$L2TP_DIR/$2.pid" \
		-C "$L2TP_DIR/$2.ctl" > "$L2TP_DIR/$1.log" 2>&1 &
	bg_pid $!
}

# l2tp_client_up I [GLOBAL]: host I's LAC dials the LNS at $L2TP_LNS (the
# server by default); GLOBAL is added to its [global] section.
l2tp_client_up() { l2tp_lac_up "$(host "$1")" "${2:-}"; }
# l2tp_lac_up NS [GLOBAL]: the same for the LAC in namespace NS.
l2tp_lac_up() {
	local h=$1
	mkdir -p $L2TP_DIR
	: > $L2TP_DIR/secrets
	cat > "$L2TP_DIR/$h.conf" <<-EOF
		[global]
		access control = no
		${2:-}

		[lac lns]
		lns = ${L2TP_LNS:-$WAN_S}
		require authentication = no
		length bit = yes
		autodial = yes
		redial = no
		pppoptfile = $L2TP_DIR/$h-options
	EOF
	cat > "$L2TP_DIR/$h-options" <<-EOF
		name $h
		noauth
		refuse-pap
		refuse-chap
		refuse-mschap
		refuse-mschap-v2
		refuse-eap
		nodefaultroute
		noipdefault
		noccp
		novj
		noipv6
		lcp-echo-interval 0
		maxfail 1
		logfile $L2TP_DIR/pppd-$h.log
	EOF
	l2tp_run "$h" "$h"
}

# Replies to COUNT pings from host I to the LNS's end of its ppp link.
l2tp_ping() { l2tp_ping_ns "$(host "$1")" "${2:-5}"; }
l2tp_ping_ns() {
	n "$1" ping -q -c "$2" -i 0.2 -W 1 -I ppp0 10.8.0.1 2>/dev/null |
		sed -n 's/.* \([0-9]*\) received.*/\1/p'
}
l2tp_answers() { [ "$(l2tp_ping "$1" 1)" = 1 ]; }
# Host I's LAC gave up (its control connection got no answer).
l2tp_gave_up() { grep -q 'Maximum retries exceeded' "$L2TP_DIR/$(host "$1").log"; }

l2tp_show_logs() {
	local f
	for f in $L2TP_DIR/*.log; do
		[ -s "$f" ] && { echo "--- $f ---"; grep -v 'select timeout' "$f" | tail -n 15; }
	done
}

# mux_up ESP [TOML]: vpnpt applied on the router with [ipsec] esp = ESP (and
# TOML appended to the config). Sets $CFG. Skips without controller/module.
CFG=
mux_up() {
	need_controller
	if [ "$1" = mux ]; then run modprobe vpnpt_esp || fail "modprobe vpnpt_esp"; fi
	CFG=$(vpnpt_config "$1" "${2:-}") || fail "config"
	run vpnpt --config "$CFG" apply || fail "vpnpt apply (esp = $1)"
}

# The "esp" object of "vpnpt status --json".
esp_status() { vpnpt --config "$CFG" status --json 2>/dev/null | jq -c '.esp'; }
# Number of bound ESP mappings in vpnpt status (IKE SAs, listed with SPIs 0, not counted).
bound_count() {
	vpnpt --config "$CFG" status --json 2>/dev/null |
		jq '[.esp.mappings[]? | select((.state | ascii_downcase) == "bound" and .spi_in != 0)] | length'
}
bound_at_least() { [ "$(bound_count)" -ge "$1" ]; }
# "spi_out spi_in state" of the bound mapping of LAN host address IP (hex SPIs).
mapping_of() {
	vpnpt --config "$CFG" status --json 2>/dev/null | jq -r --arg h "$1" \
		'.esp.mappings[]? | select(.host == $h and ((.state | ascii_downcase) == "bound") and .spi_in != 0)
		 | "\(.spi_out) \(.spi_in) \(.state)"' | while read -r o i s; do printf '0x%x 0x%x %s\n' "$o" "$i" "$s"; done
}
show_status() { echo "--- vpnpt status ---"; vpnpt --config "$CFG" status 2>&1 | sed 's/^/  /'; }

# Crafted IKE (tests/vm/ike.py): the responder on the server.
ike_responder_up() {
	n $S /usr/bin/python3 "$VPNPT_VM_TESTS/ike.py" respond > /tmp/ike-responder.log 2>&1 &
	bg_pid $!
	wait_for 60 sh -c "ip netns exec $S ss -Hlun 'sport = :500' | grep -q 500"
}

# mux_two_up: the setup of the two-host mux tests: lab with two LAN hosts, ESP
# crypto, vpnpt applied with esp = "mux", both hosts' tunnels and the
# server's IKE responder.
mux_two_up() {
	need_vpnpt
	lab_up 2 || fail "lab"
	esp_ready || fail "esp4/drbg"
	mux_up mux
	tunnel_up 1 || fail "tunnel 1"
	tunnel_up 2 || fail "tunnel 2"
	ike_responder_up || fail "IKE responder"
}
# ike_exchange --init-auth|--create [--then CMD] NS...
ike_exchange() {
	/usr/bin/python3 "$VPNPT_VM_TESTS/ike.py" exchange --peer $WAN_S --state-dir /tmp "$@"
}

# No kernel oops/warning since the test started (guest-main clears dmesg).
dmesg_clean() {
	if dmesg | grep -E 'BUG:|Oops|WARNING:|general protection|RIP:|refcount_t'; then
		return 1
	fi
}

# ---- libreswan (real IKEv2): one pluto per namespace ----------------------
# Host I: conn "h" from its LAN address, inner 10.1.I.1/32, ID @hI; the
# server: one conn per host (right=%any, told apart by ID), inner 10.0.0.1.
# NAT-T off (encapsulation=no): IKE on UDP 500 through the NAT, raw ESP.
LS_PSK=vpnpt-vm-test-psk
LS_SETUP=   # a line added to "config setup"
ls_dir() { echo "/tmp/ls-$1"; }
ls_ctl() { echo "--ctlsocket $(ls_dir "$1")/run/pluto.ctl"; }

ls_conn() {   # ls_conn NAME LEFT LEFTID LEFTSUBNET RIGHT RIGHTID RIGHTSUBNET
	cat <<-END
		conn $1
		    ikev2=yes
		    authby=secret
		    encapsulation=no
		    type=tunnel
		    left=$2
		    leftid=$3
		    leftsubnet=$4
		    right=$5
		    rightid=$6
		    rightsubnet=$7
		    ike=aes256-sha2_256;dh19
		    esp=aes_gcm256
		    auto=add
	END
}

# ls_start NS CONFTEXT: NSS db, config, secrets, then pluto (no fork) in NS.
ls_start() {
	local ns=$1 d
	d=$(ls_dir "$ns")
	mkdir -p "$d/run"
	# An empty NSS db (PSK needs no certificates), made once per boot: initnss
	# is slow under TCG. Each pluto gets its own copy.
	if [ ! -f /run/vpnpt-vm-nss/cert9.db ]; then
		mkdir -p /run/vpnpt-vm-nss
		ipsec initnss --nssdir /run/vpnpt-vm-nss > /run/vpnpt-vm-nss.log 2>&1 ||
			{ cat /run/vpnpt-vm-nss.log; rm -rf /run/vpnpt-vm-nss; return 1; }
	fi
	cp -a /run/vpnpt-vm-nss "$d/nss" || return 1
	{ echo "config setup"; echo "    plutodebug=none"; [ -z "$LS_SETUP" ] || echo "    $LS_SETUP"; echo; echo "$2"; } > "$d/ipsec.conf"
	echo ": PSK \"$LS_PSK\"" > "$d/ipsec.secrets"
	n "$ns" ipsec pluto --nofork --config "$d/ipsec.conf" --rundir "$d/run" --nssdir "$d/nss" \
		--secretsfile "$d/ipsec.secrets" --logfile "$d/pluto.log" > "$d/pluto.out" 2>&1 &
	bg_pid $!
	wait_for 20 test -S "$d/run/pluto.ctl" || { echo "pluto in $ns: no control socket"; tail "$d/pluto.log"; return 1; }
}

ls_add() {   # ls_add NS CONN
	n "$1" ipsec auto $(ls_ctl "$1") --config "$(ls_dir "$1")/ipsec.conf" --add "$2"
}

# lab peers: server with conns h1..hN, each host with conn h.
ls_lab_up() {
	local nh=$1 i conf=
	for i in $(seq 1 "$nh"); do
		conf+=$(ls_conn "h$i" $WAN_S @server 10.0.0.1/32 %any "@h$i" "$(inner_ip "$i")/32")$'\n'
	done
	ls_start $S "$conf" || return 1
	for i in $(seq 1 "$nh"); do ls_add $S "h$i" > /dev/null || return 1; done
	for i in $(seq 1 "$nh"); do
		ls_start "$(host "$i")" "$(ls_conn h "$(host_ip "$i")" "@h$i" "$(inner_ip "$i")/32" $WAN_S @server 10.0.0.1/32)" || return 1
		ls_add "$(host "$i")" h > /dev/null || return 1
	done
}

# Start every host's IKE at the same moment, asynchronously.
ls_initiate_all() {
	local i pids=()
	for i in $(seq 1 "$1"); do
		n "$(host "$i")" ipsec whack $(ls_ctl "$(host "$i")") --name h --initiate --asynchronous > /dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# The inbound ESP SPI host I's pluto installed (hex), if any.
ls_spi_in() {
	n "$(host "$1")" ip xfrm state list dst "$(host_ip "$1")" proto esp 2>/dev/null |
		awk '/proto esp spi/ { print $4; exit }'
}
ls_established() { [ -n "$(ls_spi_in "$1")" ]; }

ls_show_logs() {
	local f
	for f in /tmp/ls-*/pluto.log; do echo "--- $f ---"; tail -n 12 "$f"; done
}

# ---- L2TP/IPsec as the built-in Windows, macOS and Android clients do it --
# IKEv1 main mode with a PSK, ESP in transport mode protecting only UDP
# L2TP (protoport 17/PORT), NAT-T (UDP 4500) as soon as a NAT is seen, then
# xl2tpd inside. The LNS side accepts any peer (right=%any, any port: Windows
# sends from 1701, macOS and iOS from another port) and drops L2TP that did
# not come through IPsec, so no tunnel can come up in clear.
# Libreswan 4.10 refuses IKEv1 conns unless "ikev1-policy=accept".
# ls_l2tp_conn NAME LEFT LEFTID LEFTPORT RIGHT RIGHTPORT
ls_l2tp_conn() {
	cat <<-END
		conn $1
		    ikev2=no
		    authby=secret
		    type=transport
		    left=$2
		    leftid=$3
		    leftprotoport=17/$4
		    right=$5
		    rightprotoport=17/$6
		    ike=aes256-sha2_256;modp2048
		    esp=aes256-sha2_256
		    nat-keepalive=no
		    auto=add
	END
}

# l2tp_ipsec_server_up NS ADDR [ID]: the L2TP/IPsec server in NS on ADDR
# (its IKE ID: ID, default ADDR): pluto, the LNS, plain L2TP dropped.
l2tp_ipsec_server_up() {
	local ns=$1 addr=$2 id=${3:-$2}
	n "$ns" nft -f - <<-EOF || return 1
		table ip vm_l2tp_ipsec {
			chain in {
				type filter hook input priority filter; policy accept;
				udp dport 1701 meta ipsec missing counter drop
			}
		}
	EOF
	LS_SETUP=ikev1-policy=accept ls_start "$ns" "$(ls_l2tp_conn l2tp "$addr" "$id" 1701 %any %any)" || return 1
	ls_add "$ns" l2tp > /dev/null || return 1
	L2TP_LNS_NS=$ns L2TP_LNS_ADDR=$addr l2tp_server_up
}
# Packets plain L2TP (no IPsec) the server in NS dropped.
l2tp_clear_drops() {
	n "$1" nft -j list table ip vm_l2tp_ipsec 2>/dev/null |
		jq '[.nftables[].rule?.expr[]?.counter?.packets // empty] | add // 0'
}

# l2tp_ipsec_client_up NS ADDR PEER PORT: the client in NS on ADDR, IKE to
# PEER (whose ID is its address), L2TP from UDP port PORT; initiated, and
# its xl2tpd started once the SA is in (autodial).
l2tp_ipsec_client_up() {
	local ns=$1 addr=$2 peer=$3 port=$4
	LS_SETUP=ikev1-policy=accept ls_start "$ns" "$(ls_l2tp_conn l2tp "$addr" "$addr" "$port" "$peer" 1701)" || return 1
	ls_add "$ns" l2tp > /dev/null || return 1
}
ls_initiate() {   # ls_initiate NS CONN: asynchronous
	n "$1" ipsec whack $(ls_ctl "$1") --name "$2" --initiate --asynchronous > /dev/null 2>&1
}
# An ESP SA towards NS (installed by its pluto), NAT-T encapsulated.
ls_natt_sa_in() {
	n "$1" ip xfrm state list dst "$2" proto esp 2>/dev/null | grep -q 'encap type espinudp'
}

# l2tp_ipsec_two_up ROUTER-CMD...: the two-host L2TP/IPsec lab (t-l2tp-ipsec
# and its control): two LAN hosts, ROUTER-CMD sets up the router, the
# server, both clients' IPsec (host 1's L2TP from port 1701 as Windows
# does, host 2's from 1702 as macOS does), then both LACs; both ppp links
# must carry pings. Then the router's own UDP timeouts are cut to
# $L2TP_IPSEC_UDP_TIMEOUT s so that an idle mapping can expire in a test (not
# before: a slow VM can leave a mapping idle that long while the links come
# up), and a ping over each link gives its flows the new timeout.
L2TP_IPSEC_UDP_TIMEOUT=10
L2TP_IPSEC_PORT2=1702
l2tp_ipsec_port() { if [ "$1" = 1 ]; then echo 1701; else echo $L2TP_IPSEC_PORT2; fi; }
l2tp_ipsec_two_up() {
	local i got pids=()
	lab_up 2 || fail "lab"
	esp_ready || fail "esp4/drbg"
	"$@" || fail "router: $*"
	l2tp_ipsec_server_up $S $WAN_S || { ls_show_logs; l2tp_show_logs; fail "L2TP/IPsec server"; }
	for i in 1 2; do
		l2tp_ipsec_client_up "$(host $i)" "$(host_ip $i)" $WAN_S "$(l2tp_ipsec_port $i)" || { ls_show_logs; fail "host $i: pluto"; }
	done
	for i in 1 2; do
		ls_initiate "$(host $i)" l2tp &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2; do
		wait_for 60 ls_natt_sa_in "$(host $i)" "$(host_ip $i)" || { ls_show_logs; fail "host $i: no NAT-T SA in 60s"; }
		log "host $i: NAT-T SA installed, inbound SPI $(ls_spi_in $i)"
	done
	l2tp_client_up 1
	l2tp_client_up 2 "port = $(l2tp_ipsec_port 2)"
	for i in 1 2; do
		wait_for 60 ppp_addr $i || { ls_show_logs; l2tp_show_logs; fail "host $i: no ppp link in 60s"; }
		log "host $i: ppp0 $(ppp_addr $i)"
	done
	for i in 1 2; do
		wait_for 20 l2tp_answers $i || { ls_show_logs; l2tp_show_logs; fail "host $i: no ping reply over L2TP/IPsec"; }
		got=$(l2tp_ping $i 10)
		log "host $i: $got/10 replies from the LNS over L2TP/IPsec"
		[ "${got:-0}" -ge 8 ] || { l2tp_show_logs; fail "host $i: $got/10 over L2TP/IPsec"; }
	done
	n $R sysctl -qw net.netfilter.nf_conntrack_udp_timeout=$L2TP_IPSEC_UDP_TIMEOUT \
		net.netfilter.nf_conntrack_udp_timeout_stream=$L2TP_IPSEC_UDP_TIMEOUT || fail "router: udp timeouts"
	for i in 1 2; do
		got=$(l2tp_ping $i 2)
		[ "${got:-0}" -ge 1 ] || { l2tp_show_logs; fail "host $i: no reply over L2TP/IPsec after the UDP timeouts were cut"; }
	done
	got=$(l2tp_clear_drops $S)
	[ "${got:-0}" -eq 0 ] || log "server dropped $got L2TP packets that came without IPsec"
	echo "--- router: NAT-T flows (conntrack) ---"
	n $R conntrack -L -p udp 2>/dev/null | grep 'dport=4500 ' | sed 's/^/  /'
}
# Number of NAT-T (UDP 4500) flows in the router's conntrack table.
natt_flows() { n $R conntrack -L -p udp --dport 4500 2>/dev/null | grep -c 'dport=4500'; }
natt_flows_gone() { [ "$(natt_flows)" -eq 0 ]; }
# Replies to COUNT pings from the server to host I's end of its ppp link.
server_ping_host() {
	n $S ping -q -c "${2:-5}" -i 0.2 -W 1 "$(ppp_addr "$1" | cut -d/ -f1)" 2>/dev/null |
		sed -n 's/.* \([0-9]*\) received.*/\1/p'
}

# For the scale test: LAB_PEERS peers, all in the server's namespace. Peer P
# is WAN address peer_wan P and inner (tunnel) address 10.0.P.1; peer 0 is
# $WAN_S, 10.0.0.1. Host I's tunnel to peer P: SPIs host -> peer
# 0x1000 + 0x10000 P + I, peer -> host 0x2000 + 0x10000 P + I, reqid and
# key I + 1000 P (so peer 0's are tunnel_up's); LAB_SA_CRYPT="null" keys
# them with ESP's null encryption instead (RFC 2410: no key, no integrity
# check), whose SAs cost next to nothing to set up: t-scale's lab of 4,000
# SAs took 58 s with AES-GCM under TCG (on a loaded machine), 13 s with null.
# Every SPI is unique per receiver, so a packet delivered to the wrong host
# still matches no SA.
LAB_PEERS=1
LAB_SA_CRYPT=aes
peer_wan() { if [ "$1" = 0 ]; then echo $WAN_S; else echo "203.0.113.$((100 + $1))"; fi; }
# tunnel_pair_lines host|server I P: the ip -batch lines of host I's tunnel
# to peer P on one side (the server sees host I as $WAN_R). printf -v, no
# $(...): this runs thousands of times, and a fork costs milliseconds under TCG.
tunnel_pair_lines() {
	local side=$1 i=$2 p=$3 peer=$WAN_S inner=10.0.$3.1 hip o in id ko ki dout=out din=in
	[ "$p" = 0 ] || peer=203.0.113.$((100 + p))
	if [ "$side" = host ]; then hip=192.168.1.$((i + 1)); else hip=$WAN_R dout=in din=out; fi
	id=$((i + 1000 * p))
	printf -v o '0x%x' $((0x1000 + 0x10000 * p + i))
	printf -v in '0x%x' $((0x2000 + 0x10000 * p + i))
	if [ "$LAB_SA_CRYPT" = null ]; then
		ko='enc cipher_null ""' ki=$ko
	else
		printf -v ko 'aead rfc4106(gcm(aes)) 0x%064x%08x 128' "$id" 0
		printf -v ki 'aead rfc4106(gcm(aes)) 0x%064x%08x 128' "$id" 1
	fi
	printf '%s\n' \
		"xfrm state add src $hip dst $peer proto esp spi $o reqid $id mode tunnel $ko" \
		"xfrm state add src $peer dst $hip proto esp spi $in reqid $id mode tunnel $ki" \
		"xfrm policy add dir $dout src 10.1.$i.1/32 dst $inner/32 tmpl src $hip dst $peer proto esp reqid $id mode tunnel" \
		"xfrm policy add dir $din src $inner/32 dst 10.1.$i.1/32 tmpl src $peer dst $hip proto esp reqid $id mode tunnel"
}
# Host I's SAs and policies to every peer (lab_up's LAB_HOST_EXTRA).
tunnel_host_lines() {
	local p
	for ((p = 0; p < LAB_PEERS; p++)); do tunnel_pair_lines host "$1" "$p"; done
}
# The server side of N hosts' tunnels to every peer, and the peers' addresses,
# in one batch.
tunnel_server_all() {
	local nh=$1 i p
	for ((p = 1; p < LAB_PEERS; p++)); do
		echo "addr add $(peer_wan $p)/24 dev eth0"
		echo "addr add 10.0.$p.1/32 dev lo"
	done > /tmp/server.batch
	for ((i = 1; i <= nh; i++)); do
		for ((p = 0; p < LAB_PEERS; p++)); do tunnel_pair_lines server "$i" "$p"; done
	done >> /tmp/server.batch
	ip -n $S -batch /tmp/server.batch
}

# ---- attacks (tests/vm/attack.py, t-attack-*) -----------------------------
# attack NS MODE ARGS...: crafted packets from namespace NS (foreground).
attack() {
	local ns=$1; shift
	n "$ns" /usr/bin/python3 "$VPNPT_VM_TESTS/attack.py" "$@"
}
# attack_bg NS MODE ARGS...: the same in the background until lab_down (or
# kill $ATTACK_PID); its lines go to /tmp/attack-NS.log.
ATTACK_PID=
attack_bg() {
	local ns=$1; shift
	# ip (not the n function) in the background: $! is then the process
	# that becomes python, so "kill $ATTACK_PID" stops the attack
	ip netns exec "$ns" /usr/bin/python3 "$VPNPT_VM_TESTS/attack.py" "$@" >> "/tmp/attack-$ns.log" 2>&1 &
	ATTACK_PID=$!
	bg_pid $ATTACK_PID
}

# Many peers: the router routes 198.18.0.0/15 (RFC 2544 benchmarking) to the
# server, which drops it silently (blackhole): thousands of remote addresses,
# all inside the VM.
lab_many_peers() {
	ip -n $R route add 198.18.0.0/15 via $WAN_S &&
	ip -n $S route add blackhole 198.18.0.0/15
}

# flood_lab_up: the setup of the flood tests (t-attack-many-destinations,
# -flood-memory): two LAN hosts, esp = "mux" with idle_timeout $FLOOD_IDLE
# (what a flood left must be gone soon after remove), 198.18/15 routed to
# the server, host 2's manual-key tunnel and the server's IKE responder.
# Sets pt (pending_timeout) and bound (mux_mem_bound() for the default
# zone_count and max_mappings, kmod/DESIGN.md).
FLOOD_IDLE=10
flood_lab_up() {
	need_vpnpt
	lab_up 2 || fail "lab"
	esp_ready || fail "esp4/drbg"
	mux_up mux $'[ipsec.mux]\nidle_timeout = '$FLOOD_IDLE
	pt=$(cfg_pending_timeout)
	bound=8585216
	lab_many_peers || fail "routes to 198.18.0.0/15"
	run tunnel_up 2 || fail "tunnel 2"
	run ike_responder_up || fail "IKE responder"
}

# pending_timeout of the applied config ($CFG); the module's default (5) if unset.
cfg_pending_timeout() {
	local v
	v=$(sed -n 's/^pending_timeout *= *\([0-9][0-9]*\).*/\1/p' "$CFG" | tail -1)
	echo "${v:-5}"
}

# esp_counter NAME: one vpnpt_esp counter (vpnpt status --json), 0 if absent.
esp_counter() {
	vpnpt --config "$CFG" status --json 2>/dev/null | jq -r --arg k "$1" '.esp.counters[$k] // 0'
}
counter_at_least() { [ "$(esp_counter "$1")" -ge "$2" ]; }
# With thousands of mappings one "vpnpt status --json" takes seconds under
# TCG, and so does jq reading it: esp_snapshot takes one and keeps it as
# lines in /tmp/esp.snap, "c NAME VALUE" per counter and "m KIND HOST STATE"
# per mapping; snap_counter NAME and snap_mappings [HOST] read those.
esp_snapshot() {
	vpnpt --config "$CFG" status --json 2>/dev/null | jq -r '
		(.esp.counters // {} | to_entries[] | "c \(.key) \(.value)"),
		(.esp.mappings // [] | .[] | "m \(.kind) \(.host) \(.state | ascii_downcase)")' > /tmp/esp.snap
}
snap_counter() { awk -v k="$1" '$1 == "c" && $2 == k { v = $3 } END { print v + 0 }' /tmp/esp.snap; }
snap_mappings() { awk -v h="${1:-}" '$1 == "m" && (h == "" || $3 == h) { n++ } END { print n + 0 }' /tmp/esp.snap; }
# The non-zero counters and the mappings by kind/state, one line each: what
# show_status says, short enough for tables of thousands of mappings.
show_counters() {
	echo "--- vpnpt_esp counters (non-zero), mappings by kind/state ---"
	esp_snapshot
	awk '$1 == "c" && $3 != 0 { c = c " " $2 "=" $3 } $1 == "m" { m[$2 "/" $4]++ }
		END { print "  counters:" c; printf "  mappings:"; for (k in m) printf " %s=%d", k, m[k]; print "" }' /tmp/esp.snap
}

# Memory of the whole VM (the module allocates from kmalloc caches; its peers
# are ~1.2 KB, so kmalloc-2k): "MemAvailable=… Slab=… kmalloc-2k=objects".
mem_line() {
	local k2
	k2=$(awk '$1 == "kmalloc-2k" { print $2 }' /proc/slabinfo 2>/dev/null)
	awk -v k2="${k2:-?}" '$1 == "MemAvailable:" || $1 == "Slab:" { sub(":", "", $1); printf "%s=%skB ", $1, $2 }
		END { printf "kmalloc-2k=%s\n", k2 }' /proc/meminfo
}
# A field of mem_line in kB (or objects): mem_get LINE KEY
mem_get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=\([0-9]*\).*/\1/p"; }

# tunnel_works_within SECS I: rounds of 10 pings through host I's tunnel (any
# keys) until one round gets at least 8 replies, rounds starting for SECS.
# Logs how long it took; fails if no round did.
tunnel_works_within() {
	local secs=$1 i=$2 t0 got=0 round=0
	t0=$(date +%s)
	while [ "$(date +%s)" -lt $((t0 + secs)) ]; do
		round=$((round + 1))
		got=$(tunnel_ping "$i" 10)
		if [ "${got:-0}" -ge 8 ]; then
			log "host $i: $got/10 replies through its tunnel, round $round, $(( $(date +%s) - t0 ))s after it started"
			return 0
		fi
	done
	log "host $i: no round of >= 8/10 replies within ${secs}s ($round rounds, last $got/10)"
	return 1
}

# ike_tunnel_within SECS I: host I's IKE exchange (IKE_SA_INIT + IKE_AUTH,
# crafted, on a new IKE SA) and its first echo reply through its manual-key
# tunnel within SECS, then a round of 10 pings with at least 8 replies.
ike_tunnel_within() {
	local secs=$1 i=$2 t0 got
	t0=$(date +%s)
	rm -f "/tmp/$(host "$i").json"
	if ! ike_exchange --init-auth --timeout "$secs" --ping-src '10.1.{i}.1' "$(host "$i")"; then
		log "host $i: no IKE answer or no echo reply through its tunnel within ${secs}s"
		return 1
	fi
	log "host $i: IKE exchange and first echo reply $(( $(date +%s) - t0 ))s after it started"
	got=$(tunnel_ping "$i" 10)
	log "host $i: $got/10 replies through its tunnel"
	[ "${got:-0}" -ge 8 ]
}

# No packet reached a host that has no SA for it (ESP cross-delivered).
hosts_no_stray_esp() {
	local i v rc=0
	for i in "$@"; do
		v=$(xfrm_stat "$(host "$i")" XfrmInNoStates)
		log "host $i: XfrmInNoStates=${v:-0}"
		[ "${v:-0}" -eq 0 ] || rc=1
	done
	return $rc
}

# ---- attacks (t-attack-peer-spoof, -userns, -restart, -teardown) ----------
# Crafted packets from hostile LAN hosts (spoof.py) and the module's netlink
# family spoken by hand (genl.py); see each file's header.
spoof() { /usr/bin/python3 "$VPNPT_VM_TESTS/spoof.py" "$@"; }
# spoof_bg OUT ARGS...: spoof.py in the background (its own pid in SPOOF_PID,
# so "kill $SPOOF_PID" reaches python itself), output to OUT.
SPOOF_PID=
spoof_bg() {
	local out=$1
	shift
	/usr/bin/python3 "$VPNPT_VM_TESTS/spoof.py" "$@" > "$out" 2>&1 &
	SPOOF_PID=$!
	bg_pid $SPOOF_PID
}
genl() { /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" "$@"; }

# esp_counters NAME...: "name=value ..." of the module's counters (vpnpt status).
esp_counters() {
	local j c
	j=$(vpnpt --config "$CFG" status --json 2>/dev/null)
	for c; do printf '%s=%s ' "$c" "$(jq -r --arg c "$c" '.esp.counters[$c] // "?"' <<<"$j")"; done
	echo
}

# nft_counter FAMILY TABLE NAME: packets of a named nft counter in the router.
nft_counter() {
	n $R nft -j list counter "$1" "$2" "$3" 2>/dev/null | jq '[.nftables[].counter.packets? // empty][0] // 0'
}

# rp_filter_of NS: "iface=value ..." of net.ipv4.conf.*.rp_filter in NS.
rp_filter_of() {
	n "$1" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do
		d=${f%/rp_filter}; printf "%s=%s " "${d##*/}" "$(cat "$f")"; done'
}

# tunnels_recover SECONDS I...: rounds of 5 pings through every listed host's
# tunnel at once (ike.py ping, 0.2 s apart) until each host got >= 4/5 in one
# round; logs when each did. Fails if one has not within SECONDS (at least two
# rounds: a round's python start alone can take seconds on a loaded TCG VM).
tunnels_recover() {
	local secs=$1 t0 i got nss still rounds=0
	shift
	local left=("$@")
	t0=$(date +%s)
	while :; do
		nss=() still=()
		for i in "${left[@]}"; do nss+=("$(host "$i")"); done
		/usr/bin/python3 "$VPNPT_VM_TESTS/ike.py" ping --src '10.1.{i}.1' --dst 10.0.0.1 \
			--count 5 --min 4 --wait 1 "${nss[@]}" > /tmp/recover.out 2>&1
		for i in "${left[@]}"; do
			got=$(awk -v h="$(host "$i")" '$1 == h { split($2, a, "/"); print a[1] }' /tmp/recover.out)
			if [ "${got:-0}" -ge 4 ]; then
				log "host $i: ${got}/5 replies, $(( $(date +%s) - t0 ))s after"
			else
				still+=("$i")
			fi
		done
		left=("${still[@]}")
		[ ${#left[@]} -eq 0 ] && return 0
		rounds=$((rounds + 1))
		if [ $(( $(date +%s) - t0 )) -ge "$secs" ] && [ $rounds -ge 2 ]; then
			log "no traffic within ${secs}s through the tunnel of host(s) ${left[*]}; last round: $(tr '\n' ';' < /tmp/recover.out)"
			return 1
		fi
	done
}

