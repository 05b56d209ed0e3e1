# shellcheck shell=bash
# tests/lab/lab.sh: a VPN-passthrough lab in network namespaces. Source it.
#
#   $P-lan1           $P-lan2            ...  (LAN hosts, 192.168.1.2, .3, ...;
#   eth0 .2           eth0 .3                  default route via 192.168.1.1)
#      \                /
#       lan1        lan2        veths enslaved to br0
#   +------------------------+
#   |  br0  192.168.1.1/24   |  $P-router: vpnpt is applied here; ip_forward on;
#   |                        |  the shipped etc/vpnpt.toml applies unchanged
#   |  eth0 203.0.113.1/24   |  (wan eth0 masqueraded, lan br0 192.168.1.0/24)
#   +------------------------+
#              |
#   +------------------------+
#   |  br0 (switch only)     |  $P-wan: the WAN segment, a bridge with no address
#   +------------------------+
#       |               |
#   eth0 .2          eth0 .3         ...
#   $P-srv1          $P-srv2              (WAN servers, 203.0.113.2, .3, ...)
#
# Only 192.168.1.0/24 and 203.0.113.0/24 (TEST-NET-3) are used, and only inside
# these namespaces. Every namespace is named "$P-<role>" so several labs with
# different prefixes coexist; interface names exist only inside them.
#
# Use:
#   . tests/lab/lab.sh
#   lab_init lbpptp          # prefix; installs the cleanup trap
#   lab_create 2 1           # LAN hosts, WAN servers
#   lab_check "what holds" some command ...
#   lab_done                 # prints the summary, exits 0 pass / 1 fail
# Exit 4 (lab_skip) when this machine cannot run the lab at all.

LAB_PREFIX=
LAB_LOCK_FD=       # flock held while this lab exists (see lab_init)
LAB_NETNS=()       # every namespace created, in creation order
LAB_PIDS=()        # background processes started with lab_bg
LAB_DIR=           # logs and captures of this run
LAB_PASS=0
LAB_FAIL=0
LAB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_PY=${LAB_PY:-/usr/bin/python3}
LAB_PEERS=$LAB_TOP/tests/peers

# ---- output -----------------------------------------------------------------

lab_log()  { printf '# %s\n' "$*" >&2; }
# pp: print a command, then run it (the WireGuard netns.sh habit).
pp()       { printf '+ %s\n' "$*" >&2; "$@"; }

lab_skip() { printf 'SKIP: %s\n' "$*"; exit 4; }

# ---- names ------------------------------------------------------------------

lab_router() { echo "$LAB_PREFIX-router"; }
lab_lan()    { echo "$LAB_PREFIX-lan$1"; }
lab_srv()    { echo "$LAB_PREFIX-srv$1"; }
lab_lan_ip() { echo "192.168.1.$(($1 + 1))"; }
lab_srv_ip() { echo "203.0.113.$(($1 + 1))"; }
LAB_WAN_IP=203.0.113.1
LAB_LAN_GW=192.168.1.1

# lab_ns NS CMD...: run CMD in namespace NS.
lab_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# lab_bg NS LOG CMD...: start CMD in NS in the background, output to LOG.
# `ip netns exec` execs CMD, so the pid recorded is CMD's own.
lab_bg() {
	local ns=$1 log=$2; shift 2
	printf '+ [%s] %s &\n' "$ns" "$*" >&2
	ip netns exec "$ns" "$@" >"$log" 2>&1 {LAB_LOCK_FD}>&- &
	LAB_PIDS+=("$!")
	LAB_LAST_PID=$!
}

# lab_peer NS PEER ARGS...: run a protocol peer from tests/peers in NS.
lab_peer() { local ns=$1 peer=$2; shift 2; printf '+ [%s] %s.py %s\n' "$ns" "$peer" "$*" >&2;
	ip netns exec "$ns" "$LAB_PY" -B "$LAB_PEERS/$peer.py" "$@"; }
lab_peer_bg() { local ns=$1 log=$2 peer=$3; shift 3
	lab_bg "$ns" "$log" "$LAB_PY" -B -u "$LAB_PEERS/$peer.py" "$@"; }

# lab_stop PID: stop one background process started by lab_bg and reap it.
lab_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# ---- polling and assertions -------------------------------------------------

# lab_poll SECONDS CMD...: run CMD every 0.1 s until it succeeds or the
# deadline passes. Returns CMD's last status.
lab_poll() {
	local deadline=$((SECONDS + $1)); shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		((SECONDS >= deadline)) && { "$@" >/dev/null 2>&1; return; }
		sleep 0.1
	done
}

# lab_check DESC CMD...: one case that must hold. Prints PASS/FAIL.
lab_check() {
	local desc=$1; shift
	if "$@"; then
		printf 'PASS: %s\n' "$desc"; LAB_PASS=$((LAB_PASS + 1))
	else
		printf 'FAIL: %s\n' "$desc"; LAB_FAIL=$((LAB_FAIL + 1))
	fi
}

# lab_check_not DESC CMD...: one case whose command must fail (feature off);
# DESC says what is expected, i.e. the failure.
lab_check_not() {
	local desc=$1; shift
	if "$@"; then
		printf 'FAIL: %s\n' "$desc"; LAB_FAIL=$((LAB_FAIL + 1))
	else
		printf 'PASS: %s\n' "$desc"; LAB_PASS=$((LAB_PASS + 1))
	fi
}

# lab_count FILE PATTERN: number of lines of FILE matching the ERE PATTERN.
lab_count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# lab_ready LOG: wait until a peer server logged that it listens.
lab_ready() { lab_poll 10 grep -q '"ev": "listen"' "$1" || { lab_log "not ready: $1"; cat "$1" >&2; return 1; }; }

# ---- captures -----------------------------------------------------------------

# lab_capture_start NS DEV FILE FILTER: capture on DEV in NS with tshark until
# lab_capture_stop; returns once tshark is capturing.
# dumpcap (tshark's capture engine) starts in a fraction of tshark's time.
lab_capture_start() {
	command -v tshark >/dev/null || lab_skip "tshark not found (run scripts/setup)"
	local cap=dumpcap
	command -v dumpcap >/dev/null || cap=tshark
	lab_bg "$1" "$3.log" "$cap" -q -i "$2" -f "$4" -w "$3"
	LAB_CAPTURE_PID=$LAB_LAST_PID
	lab_poll 10 grep -q "Capturing on" "$3.log" || { cat "$3.log" >&2; return 1; }
}
# lab_capture_stop: stop the capture and let tshark finish the file.
lab_capture_stop() { kill -INT "$LAB_CAPTURE_PID" 2>/dev/null; wait "$LAB_CAPTURE_PID" 2>/dev/null; return 0; }
# lab_capture_read FILE FIELD...: one line per packet, fields tab-separated.
lab_capture_read() {
	local f=$1 a=(); shift
	for x; do a+=(-e "$x"); done
	tshark -r "$f" -T fields "${a[@]}" 2>/dev/null
}

# ---- vpnpt in the router ----------------------------------------------------

# lab_config OUT [SECTION KEY VALUE]...: write OUT as the shipped config with
# KEY set to VALUE inside [SECTION] (uncommenting "#KEY = ..." when present).
lab_config() {
	local out=$1; shift
	cp "$LAB_TOP/etc/vpnpt.toml" "$out"
	while (($# >= 3)); do
		awk -v sec="[$1]" -v key="$2" -v val="$3" '
			/^\[/ { if (in_sec && !done) { print key " = " val; done = 1 }
			        in_sec = ($0 == sec) }
			in_sec && !done && $0 ~ "^#?" key " *=" { print key " = " val; done = 1; next }
			{ print }
			END { if (!done) { if (!in_sec) print sec; print key " = " val } }' \
			"$out" >"$out.new" && mv "$out.new" "$out"
		shift 3
	done
}

# lab_vpnpt ARGS...: run the controller in the router namespace.
lab_vpnpt() {
	printf '+ [%s] vpnpt %s\n' "$(lab_router)" "$*" >&2
	ip netns exec "$(lab_router)" "$VPNPT" --run-dir "$LAB_RUN_DIR" "$@"
}

# lab_apply CONFIG: apply CONFIG in the router. Development aid: with
# LAB_RULESET_DIR set, load $LAB_RULESET_DIR/<config name>.nft with nft
# instead (a hand-written ruleset, to tell kernel from controller problems).
lab_apply() {
	if [[ -n ${LAB_RULESET_DIR:-} ]]; then
		lab_ns "$(lab_router)" nft delete table inet vpnpt 2>/dev/null
		pp lab_ns "$(lab_router)" nft -f "$LAB_RULESET_DIR/$(basename "$1" .toml).nft"
		return
	fi
	LAB_CONFIG=$1
	lab_vpnpt --config "$1" apply
}

# lab_status ARGS...: "vpnpt status" in the router for the config applied last.
lab_status() { lab_vpnpt --config "${LAB_CONFIG:-$LAB_TOP/etc/vpnpt.toml}" status "$@"; }

# lab_remove CONFIG: "vpnpt remove" in the router (LAB_RULESET_DIR: nft).
lab_remove() {
	if [[ -n ${LAB_RULESET_DIR:-} ]]; then
		pp lab_ns "$(lab_router)" nft delete table inet vpnpt
		return
	fi
	lab_vpnpt --config "$1" remove
}

# lab_need_vpnpt: the controller binary named by $VPNPT must exist.
lab_need_vpnpt() {
	[[ -n ${LAB_RULESET_DIR:-} || -n ${VPNPT:-} && -x $VPNPT ]] ||
		lab_skip "VPNPT is not set to the vpnpt binary (ctest sets it; or VPNPT=build/vpnpt)"
}

# lab_counter NAME: packets of named counter NAME in table inet vpnpt.
lab_counter() {
	local n
	n=$(lab_ns "$(lab_router)" nft list counter inet vpnpt "$1" 2>/dev/null |
		sed -n 's/.*packets \([0-9]*\).*/\1/p')
	echo "${n:-0}"
}

# ---- build and teardown -----------------------------------------------------

lab_require() {
	((EUID == 0)) || lab_skip "must run as root (network namespaces)"
	local t
	for t in ip nft conntrack "$LAB_PY"; do
		command -v "$t" >/dev/null || lab_skip "$t not found (run scripts/setup)"
	done
}

# lab_init PREFIX: name this lab and install the cleanup trap. A lab with the
# same prefix left over by a killed run is removed first.
lab_init() {
	LAB_PREFIX=$1
	lab_require
	LAB_DIR=$(mktemp -d "/tmp/lab-$LAB_PREFIX.XXXXXX")
	# vpnpt keeps its lock and applied-state per network namespace (by inode,
	# which the kernel reuses): keep this lab's apart from the machine's.
	LAB_RUN_DIR=${LAB_RUN_DIR:-$LAB_DIR/run}
	# One run per prefix at a time: a second run of the same test waits for
	# the first instead of taking its namespaces away. Once we hold the
	# lock, namespaces with our prefix are leftovers of a killed run.
	local lock=/run/lock
	[[ -d $lock ]] || lock=/tmp
	exec {LAB_LOCK_FD}>"$lock/vpnpt-lab-$LAB_PREFIX.lock"
	flock -w 300 "$LAB_LOCK_FD" || { echo "lab $LAB_PREFIX: another run holds $lock/vpnpt-lab-$LAB_PREFIX.lock" >&2; exit 1; }
	trap lab_teardown EXIT
	trap 'exit 1' INT TERM
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$LAB_PREFIX-"); do
		lab_log "removing leftover namespace $ns"
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns"
	done
}

lab_netns_add() {
	pp ip netns add "$1" || return 1
	LAB_NETNS+=("$1")
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

# lab_link_wait NS DEV: wait until DEV in NS is operationally up.
lab_link_wait() {
	lab_poll 5 lab_link_up "$1" "$2" || { lab_log "$1: $2 is not up"; return 1; }
}
lab_link_up() { ip -n "$1" -o link show dev "$2" | grep -q 'state UP'; }

# lab_create NLAN NSRV: build the topology pictured above.
lab_create() {
	local nlan=$1 nsrv=$2 i r w
	r=$(lab_router) w=$LAB_PREFIX-wan
	lab_netns_add "$r" || exit 1
	lab_netns_add "$w" || exit 1
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1

	pp ip -n "$w" link add br0 type bridge
	ip -n "$w" link set br0 up
	pp ip -n "$r" link add eth0 type veth peer name router netns "$w"
	ip -n "$w" link set router master br0 up
	ip -n "$r" addr add "$LAB_WAN_IP/24" dev eth0
	ip -n "$r" link set eth0 up

	pp ip -n "$r" link add br0 type bridge
	ip -n "$r" addr add "$LAB_LAN_GW/24" dev br0
	ip -n "$r" link set br0 up

	for ((i = 1; i <= nlan; i++)); do
		lab_netns_add "$(lab_lan "$i")" || exit 1
		pp ip -n "$r" link add "lan$i" type veth peer name eth0 netns "$(lab_lan "$i")"
		ip -n "$r" link set "lan$i" master br0 up
		ip -n "$(lab_lan "$i")" addr add "$(lab_lan_ip "$i")/24" dev eth0
		ip -n "$(lab_lan "$i")" link set eth0 up
		ip -n "$(lab_lan "$i")" route add default via "$LAB_LAN_GW"
	done
	for ((i = 1; i <= nsrv; i++)); do
		lab_netns_add "$(lab_srv "$i")" || exit 1
		pp ip -n "$w" link add "srv$i" type veth peer name eth0 netns "$(lab_srv "$i")"
		ip -n "$w" link set "srv$i" master br0 up
		ip -n "$(lab_srv "$i")" addr add "$(lab_srv_ip "$i")/24" dev eth0
		ip -n "$(lab_srv "$i")" link set eth0 up
		# No route back to the LAN: a server only ever answers the router's
		# WAN address, as on the internet.
	done
	# Ready once every veth end is up (the bridges run no STP, so their
	# ports forward at once). There is no ping on a minimal Debian.
	for ((i = 1; i <= nlan; i++)); do
		lab_link_wait "$(lab_lan "$i")" eth0 && lab_link_wait "$r" "lan$i" || exit 1
	done
	for ((i = 1; i <= nsrv; i++)); do
		lab_link_wait "$(lab_srv "$i")" eth0 && lab_link_wait "$w" "srv$i" || exit 1
	done
	lab_link_wait "$r" eth0 && lab_link_wait "$w" router || exit 1
	# Forget the conntrack entries of those pings.
	ip netns exec "$r" conntrack -F 2>/dev/null
	return 0
}

# lab_teardown: stop what we started, delete what we created, and check that
# nothing is left. Runs from the EXIT trap, also when a test fails.
lab_teardown() {
	local rc=$? pid ns left
	trap - EXIT
	for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for ((i = ${#LAB_NETNS[@]} - 1; i >= 0; i--)); do
		ns=${LAB_NETNS[i]}
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	left=$(ip netns list | awk '{print $1}' | grep "^$LAB_PREFIX-" || true)
	if [[ -n $left ]]; then
		printf 'FAIL: namespaces left behind: %s\n' "$left"
		((rc == 0 || rc == 4)) && rc=1
	fi
	if [[ -n $LAB_DIR && -d $LAB_DIR ]]; then
		if ((rc == 0 || rc == 4)); then rm -rf "$LAB_DIR"
		else lab_log "logs kept in $LAB_DIR"; fi
	fi
	exit "$rc"
}

# lab_done: print the summary and exit 0 when every case passed, else 1.
lab_done() {
	printf '%s: %d passed, %d failed\n' "$LAB_PREFIX" "$LAB_PASS" "$LAB_FAIL"
	((LAB_FAIL == 0)) && exit 0
	exit 1
}
