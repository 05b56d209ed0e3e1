#!/bin/bash
# t-confirm.sh: apply --confirm restores the previous table byte for byte
# unless vpnpt confirm comes in time, also when the session that ran it dies.
#
#   router (vpnpt; eth0, br0)     no hosts: only the table is looked at
#
# This machine's PID 1 is not systemd (and the router is a namespace of its
# own), so what arms the revert here is the detached process (double fork,
# setsid, SIGHUP ignored); apply names it and its pid.
# Exit: 0 pass, 1 fail, 4 skip.

. "$(dirname "$0")/lab.sh"

lab_init "${LAB_PREFIX_OVERRIDE:-lbconfirm}"
lab_need_vpnpt
lab_create 0 0
R=$(lab_router)

lab_config "$LAB_DIR/a.toml"
lab_config "$LAB_DIR/b.toml" ipsec ike_timeout 900
cat >>"$LAB_DIR/b.toml" <<'TOML'
[[forward]]
service = "wireguard"
to = "192.168.1.10"
TOML
lab_config "$LAB_DIR/c.toml" pptp enabled false

table() { lab_ns "$R" nft -s list table inet vpnpt 2>&1; }
same_as() { table | cmp -s - "$1"; }
# waiter LOG: the pid of the detached process apply LOG names.
waiter() { sed -n 's/.*(detached process, pid \([0-9]*\)).*/\1/p' "$1"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

lab_check "vpnpt apply a.toml" lab_apply "$LAB_DIR/a.toml"
table >"$LAB_DIR/a.nft"

# ---- not confirmed: restored byte for byte, whatever became of the config -----
lab_vpnpt -c "$LAB_DIR/b.toml" apply --confirm 2 >"$LAB_DIR/1.log" 2>&1
cat "$LAB_DIR/1.log"
table >"$LAB_DIR/b.nft"
lab_check "apply --confirm says by when and what reverts" grep -q '^confirm within 2 s with "vpnpt confirm"' "$LAB_DIR/1.log"
lab_check "the detached process is the one armed here (no systemd as PID 1)" test -n "$(waiter "$LAB_DIR/1.log")"
lab_check "b.toml is loaded meanwhile" eval '! cmp -s "$LAB_DIR/a.nft" "$LAB_DIR/b.nft" && grep -q 51820 "$LAB_DIR/b.nft"'
echo 'this is not TOML' >"$LAB_DIR/b.toml"   # the restore must not need it
lab_check "not confirmed: table restored byte for byte" lab_poll 10 same_as "$LAB_DIR/a.nft"
lab_check "the detached process is gone" lab_poll 5 gone "$(waiter "$LAB_DIR/1.log")"
lab_check "status: no drift after the revert (the applied record is restored too)" eval 'lab_status --json | jq -e ".table.drift == \"none\"" >/dev/null'
lab_vpnpt confirm >"$LAB_DIR/late.log" 2>&1
lab_check "confirm with nothing pending: exit 4" test $? = 4
lab_check "and says so" grep -q 'no apply --confirm is waiting' "$LAB_DIR/late.log"

# ---- confirmed: kept ------------------------------------------------------------
lab_config "$LAB_DIR/b.toml" ipsec ike_timeout 900
cat >>"$LAB_DIR/b.toml" <<'TOML'
[[forward]]
service = "wireguard"
to = "192.168.1.10"
TOML
lab_vpnpt -c "$LAB_DIR/b.toml" apply --confirm 2 >"$LAB_DIR/2.log" 2>&1
W=$(waiter "$LAB_DIR/2.log")
lab_check "vpnpt confirm" lab_vpnpt confirm
lab_check "the detached process ends once confirmed" lab_poll 5 gone "$W"
lab_check "confirmed: b.toml's table kept" same_as "$LAB_DIR/b.nft"

# ---- the session that ran apply --confirm dies ----------------------------------
# apply runs in a session and process group of its own (as under sshd), whose
# leader then waits; the whole group gets SIGHUP and SIGKILL, as when the SSH
# connection drops.
session() {
	lab_ns "$R" setsid bash -c "echo session \$\$; \"$VPNPT\" --run-dir \"$LAB_RUN_DIR\" -c \"$2\" apply --confirm $3; sleep 60" \
		>"$LAB_DIR/$1.log" 2>&1 {LAB_LOCK_FD}>&- &
	local bg=$!
	lab_poll 10 grep -q '^confirm within' "$LAB_DIR/$1.log"
	SESSION=$(sed -n 's/^session //p' "$LAB_DIR/$1.log")
	W=$(waiter "$LAB_DIR/$1.log")
	lab_log "session $SESSION (its leader waits), reverting process $W"
	pp kill -HUP -- -"$SESSION"; kill -KILL -- -"$SESSION" 2>/dev/null; wait "$bg" 2>/dev/null
	lab_poll 5 gone "$SESSION"
}
lab_apply "$LAB_DIR/a.toml" >/dev/null
session 3 "$LAB_DIR/b.toml" 4
lab_check "session killed: the detached process lives on" eval '! gone "$W"'
lab_check "session killed: vpnpt confirm still works" lab_vpnpt confirm
lab_check "session killed, confirmed: b.toml's table kept" eval 'lab_poll 5 gone "$W" && same_as "$LAB_DIR/b.nft"'

lab_apply "$LAB_DIR/a.toml" >/dev/null
session 4 "$LAB_DIR/b.toml" 2
lab_check "session killed, not confirmed: table restored byte for byte" lab_poll 10 same_as "$LAB_DIR/a.nft"
lab_check "and the detached process is gone" lab_poll 5 gone "$W"

# ---- a second apply --confirm keeps the first snapshot ---------------------------
lab_vpnpt -c "$LAB_DIR/b.toml" apply --confirm 30 >"$LAB_DIR/5.log" 2>&1
lab_vpnpt -c "$LAB_DIR/c.toml" apply --confirm 2 >"$LAB_DIR/6.log" 2>&1
cat "$LAB_DIR/6.log"
lab_check "the second says it keeps the first snapshot" grep -q 'restored as before the first apply --confirm' "$LAB_DIR/6.log"
lab_check "the first one's process gives way" lab_poll 5 gone "$(waiter "$LAB_DIR/5.log")"
lab_check "not confirmed: the table from before the first is restored" lab_poll 10 same_as "$LAB_DIR/a.nft"

lab_done
