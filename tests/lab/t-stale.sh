#!/bin/bash
# t-stale.sh: VPN sessions that began before vpnpt's rules are cleared by
# apply, and nothing else is.
#
#   lan1 (.2) ---- router (vpnpt, eth0 masq) ---- srv1 203.0.113.2: PPTP PAC,
#                                                  IKE responder, TCP 80, UDP 53
#
# The router first runs a config with [pptp] and [ipsec] off (masquerade
# only). lan1 opens a PPTP call and an IKE/NAT-T tunnel and keeps both busy,
# plus a TCP 80 connection and a UDP 53 flow. Then the shipped config is
# applied: the PPTP control connection has no helper and its GRE no master,
# the IKE/NAT-T mappings have the kernel's short UDP timeout, and since each
# flow keeps its entry alive they would stay so. apply must delete exactly
# those entries (by conntrack id) and leave TCP 80 and UDP 53 alone; the
# NAT-T mapping the tunnel then makes has the long timeout and a new PPTP
# call gets the helper. A second apply clears nothing; --keep-sessions keeps
# them.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbstale}"
lab_need_vpnpt
lab_create 1 1
R=$(lab_router) S=$(lab_srv 1) SIP=$(lab_srv_ip 1) L=$(lab_lan 1)

lab_peer_bg "$S" "$LAB_DIR/pac.log" pptp server
lab_ready "$LAB_DIR/pac.log" || exit 1
lab_peer_bg "$S" "$LAB_DIR/ike.log" ike server
lab_ready "$LAB_DIR/ike.log" || exit 1
# Unrelated flows: a TCP 80 listener that holds connections, a UDP 53 sink.
lab_bg "$S" "$LAB_DIR/http.log" "$LAB_PY" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(4); c = []
while True: c.append(s.accept()[0])'
lab_bg "$S" "$LAB_DIR/dns.log" "$LAB_PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 53))
while True: d, a = s.recvfrom(512); s.sendto(d, a)'

# ct ARGS...: conntrack entries in the router, with ids.
ct() { lab_ns "$R" conntrack -L "$@" -o id 2>/dev/null; }
# ids ARGS...: the ids of the entries that conntrack -L ARGS lists.
ids() { ct "$@" | sed -n 's/.*id=\([0-9]*\).*/\1/p' | sort -n | tr '\n' ' '; }
# has_id ID: an entry with this id that began before the last mark. A flow
# that goes on sending after its entry was deleted gets a new one, which can
# take the freed one's memory and so its id (nf_ct_get_id hashes the address
# and the tuples): that is not the old entry. delta-time needs
# nf_conntrack_timestamp, which apply turns on.
has_id() {
	local line d
	line=$(lab_ns "$R" conntrack -L -o id,ktimestamp 2>/dev/null | grep -m1 "id=$1\b") || return 1
	d=$(sed -n 's/.*delta-time=\([0-9]*\).*/\1/p' <<<"$line")
	[[ -z $d ]] || (($(date +%s) - d < MARK))
}
# mark: from the next second on, a new entry is told from one made before
# (delta-time counts whole seconds).
MARK=0
mark() { local t; t=$(date +%s); lab_poll 3 eval '(($(date +%s) > t))'; MARK=$(date +%s); }
all_gone() { local i; for i in $1; do has_id "$i" && { echo "id $i still there" >&2; return 1; }; done; [[ -n $1 ]]; }
all_there() { local i; for i in $1; do has_id "$i" || { echo "id $i gone" >&2; return 1; }; done; [[ -n $1 ]]; }
nonempty() { [[ -n $("$@") ]]; }
# mapping_timeout PORT: seconds left on lan1's entry to PORT (the newest).
mapping_timeout() { ct -p udp -s "$(lab_lan_ip 1)" --dport "$1" | awk '{print $3}' | sort -n | tail -1; }
long_mapping() { local t; t=$(mapping_timeout "$1"); [[ -n $t ]] && ((t > 300)); }

# sessions TAG: start lan1's busy sessions (PPTP call, IKE + NAT-T, TCP 80,
# UDP 53), wait until conntrack shows each, and note their ids.
sessions() {
	lab_peer_bg "$L" "$LAB_DIR/$1-pptp.log" pptp client "$SIP" --tag "$1" --hold 60 --timeout 3
	lab_peer_bg "$L" "$LAB_DIR/$1-ike.log" ike client "$SIP" --hold 60
	lab_bg "$L" "$LAB_DIR/$1-http.log" "$LAB_PY" -c "
import socket, time
s = socket.create_connection(('$SIP', 80)); time.sleep(90)"
	lab_bg "$L" "$LAB_DIR/$1-dns.log" "$LAB_PY" -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(90): s.sendto(b'q', ('$SIP', 53)); time.sleep(1)"
	lab_poll 10 grep -q gre-result "$LAB_DIR/$1-pptp.log" || return 1
	lab_poll 10 nonempty ct -p udp --dport 4500 || return 1
	lab_poll 10 nonempty ct -p tcp --dport 80 --state ESTABLISHED || return 1
	lab_poll 10 nonempty ct -p udp --dport 53 || return 1
	lab_poll 10 nonempty ct -p gre || return 1
	PPTP_IDS=$(ids -p tcp --dport 1723) GRE_IDS=$(ids -p gre)
	IKE_IDS="$(ids -p udp --dport 500)$(ids -p udp --dport 4500)"
	OTHER_IDS="$(ids -p tcp --dport 80)$(ids -p udp --dport 53)"
	lab_log "$1: pptp $PPTP_IDS gre $GRE_IDS ike $IKE_IDS other $OTHER_IDS"
	ct >&2
}

# ---- before: masquerade only, then the shipped config ------------------------
lab_config "$LAB_DIR/off.toml" pptp enabled false ipsec enabled false
lab_config "$LAB_DIR/default.toml"
lab_check "vpnpt apply ([pptp] and [ipsec] off)" lab_apply "$LAB_DIR/off.toml"
lab_check "sessions up before the rules" sessions before
lab_check "before: the PPTP control connection has no helper" \
	eval '! ct -p tcp --dport 1723 | grep -q helper=pptp'
lab_check "before: lan1's NAT-T mapping has the short UDP timeout" eval '! long_mapping 4500'

mark
lab_vpnpt --config "$LAB_DIR/default.toml" -v apply | tee "$LAB_DIR/apply.out"
cat "$LAB_DIR/apply.out" >&2
lab_check "apply says how many stale sessions it cleared" \
	grep -Eq '^stale sessions: [4-9] cleared \(.*pptp-control.*\)' "$LAB_DIR/apply.out"
lab_check "the stale PPTP control connection is gone" all_gone "$PPTP_IDS"
lab_check "its GRE without a master is gone" all_gone "$GRE_IDS"
lab_check "the stale IKE and NAT-T mappings are gone" all_gone "$IKE_IDS"
lab_check "TCP 80 and UDP 53 are untouched" all_there "$OTHER_IDS"
lab_check "the tunnel's next NAT-T mapping has ike_timeout (> 300 s)" lab_poll 5 long_mapping 4500
lab_peer_bg "$L" "$LAB_DIR/after-pptp.log" pptp client "$SIP" --tag after --hold 2 --timeout 3
lab_poll 10 grep -q gre-result "$LAB_DIR/after-pptp.log"
lab_check "a new PPTP call has the helper" eval 'ct -p tcp --dport 1723 | grep -q helper=pptp'
wait "$LAB_LAST_PID"
lab_check "and works" test $? = 0
NEW_IKE="$(ids -p udp --dport 4500)"

mark
lab_vpnpt --config "$LAB_DIR/default.toml" apply >"$LAB_DIR/apply2.out"
cat "$LAB_DIR/apply2.out" >&2
lab_check "a second apply finds nothing stale" grep -qx 'stale sessions: 0 cleared' "$LAB_DIR/apply2.out"
lab_check "and keeps the NAT-T mapping made under the rules" all_there "$NEW_IKE"

# ---- --keep-sessions ------------------------------------------------------------
lab_ns "$R" conntrack -F 2>/dev/null
lab_check "vpnpt apply ([pptp] and [ipsec] off), again" lab_apply "$LAB_DIR/off.toml"
lab_check "sessions up before the rules, again" sessions keep
mark
lab_vpnpt --config "$LAB_DIR/default.toml" apply --keep-sessions >"$LAB_DIR/apply3.out"
cat "$LAB_DIR/apply3.out" >&2
lab_check "--keep-sessions says so" grep -qx 'stale sessions: kept (--keep-sessions)' "$LAB_DIR/apply3.out"
lab_check "--keep-sessions: the PPTP control connection stays" all_there "$PPTP_IDS"
lab_check "--keep-sessions: the IKE and NAT-T mappings stay" all_there "$IKE_IDS"
mark
lab_vpnpt --config "$LAB_DIR/default.toml" apply >"$LAB_DIR/apply4.out"
cat "$LAB_DIR/apply4.out" >&2
lab_check "a later apply clears what --keep-sessions kept" eval 'all_gone "$PPTP_IDS" && all_gone "$IKE_IDS"'
lab_check "and still not TCP 80 or UDP 53" all_there "$OTHER_IDS"

lab_done
