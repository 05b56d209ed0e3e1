#!/bin/sh
# /etc/keepalived/pair-notify.sh: keepalived's notify script for a vpnpt
# router pair (keepalived.conf beside this file; vpnpt(8), ROUTER PAIR).
#
# Debian's /usr/share/doc/conntrackd/examples/sync/primary-backup.sh, plus a
# hold: while this router is backup (or faulty), it forwards no new flow.
# Without it, the first packets that reach a router taking over (right after
# keepalived's gratuitous ARP, before "conntrackd -c" has run) create fresh
# conntrack entries with fresh NAT mappings, and the commit of the synced
# entries for those flows then fails (they exist): the sessions that needed
# the synced mapping break. With the hold, those packets are dropped
# unconfirmed and the next ones match the committed entries.
#
#   pair-notify.sh primary|backup|fault
#
# keepalived runs notify scripts without waiting for the previous one: a
# router that is briefly master at start (both routers came up at once)
# runs "primary" and "backup" side by side, and a late "primary" would
# release the hold on a backup. So the runs take a lock, and "primary"
# acts only while this router holds an IPv4 address on the WAN interface
# (keepalived adds it before notify_master and removes it before
# notify_backup; it is also what "vpnpt status" calls the active role).
CONF=/etc/conntrackd/conntrackd.conf
WAN=eth0
LOCK=/run/lock/pair-notify.lock

hold() {
	nft -f - <<-'NFT'
	table inet vpnpt_hold {
		chain forward {
			type filter hook forward priority -300; policy accept;
			ct state new drop
		}
	}
	NFT
}
release() { nft delete table inet vpnpt_hold 2>/dev/null || true; }
ctd() { conntrackd -C "$CONF" "$@" || logger -t pair-notify "conntrackd $* failed"; }

exec 9>"$LOCK"
flock 9

case "$1" in
primary)
	if ! ip -4 -o addr show dev "$WAN" | grep -q ' inet '; then
		logger -t pair-notify "primary, but no address on $WAN (a later transition won): nothing done"
		exit 0
	fi
	ctd -c          # commit the external cache (the peer's entries) into the kernel
	release
	ctd -f          # flush the internal and external caches
	ctd -R          # resync the internal cache with the kernel table
	ctd -B          # send a bulk update to the backup
	;;
backup)
	hold
	conntrackd -C "$CONF" -s >/dev/null 2>&1 || ctd -d   # start conntrackd if needed
	ctd -t          # shorten the kernel's timers: drop entries left from being primary
	ctd -n          # ask the primary for a resync
	;;
fault)
	hold
	ctd -t
	;;
*)
	echo "usage: pair-notify.sh primary|backup|fault" >&2
	exit 1
	;;
esac
exit 0
