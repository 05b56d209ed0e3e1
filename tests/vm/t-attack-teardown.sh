#!/bin/bash
# vm-timeout: 720
# Teardown under fire (issue 9, point 6).
#
#   vm-h1 ─┐  random-SPI ESP to 32 peers    [ vm-r: esp = "mux",       ] eth0 (dummy:
#   vm-h2 ─┴─ br0, both at once ──────────> [ pending_timeout = 1      ]  203.0.113.1/24,
#                                                                            peers .2-.33)
# 20 cycles of: load the module, the router with two LAN hosts, `vpnpt apply`
# with esp = "mux" (pending_timeout 1 s, so bind windows open, expire and pass
# between the hosts all the time), then both hosts flood ESP on new SPIs to
# the same 32 peers (200 packets a second each): whichever host speaks first
# at a peer owns its window and the other's packets are held (NF_STOLEN),
# released and re-injected when the window passes. While that runs, even
# cycles delete the router namespace (`ip netns del`), odd cycles unload the
# module (`modprobe -r`). Then everything left is removed. About 5 s a cycle
# on an idle machine; a loaded one (other VMs) makes it several times that.
# What must hold: no BUG/oops/warning in the kernel log, the module unloads
# every cycle (within 10 s), and the kernel's unreclaimable slab memory and
# skbuff_head_cache objects come back to the baseline taken after one
# warm-up cycle (SUnreclaim within 2048 kB, skbuff heads within 256): a held
# skb that is never freed, or a re-inject work run after its netns is gone,
# shows here. On 6.1 nf_unregister_net_hook does not wait for packets still
# in the hook, so such a race is possible but rare under TCG: the test
# reports what it saw either way.
. "$VPNPT_VM_TESTS/lib.sh"

need_vpnpt
cycles=20
CFG=$(vpnpt_config mux $'[ipsec.mux]\npending_timeout = 1\nidle_timeout = 60\nmax_per_host = 1024') || fail "config"

# The router and two hosts, one ip batch each (no server: the peers are
# beyond a dummy WAN link, the module sees every packet before routing).
tlab_up() {
	ip -batch - <<-EOF || return 1
		netns add $R
		netns add vm-h1
		netns add vm-h2
	EOF
	_lab_ns=($R vm-h1 vm-h2)
	ip -n $R -batch - <<-EOF || return 1
		link set lo up
		link add br0 type bridge
		link set br0 up
		addr add 192.168.1.1/24 dev br0
		link add eth0 type dummy
		link set eth0 up
		addr add $WAN_R/24 dev eth0
		link add lan1 type veth peer name eth0 netns vm-h1
		link add lan2 type veth peer name eth0 netns vm-h2
		link set lan1 master br0 up
		link set lan2 master br0 up
	EOF
	n $R sysctl -qw net.ipv4.ip_forward=1
	for i in 1 2; do
		ip -n vm-h$i -batch - <<-EOF || return 1
			link set lo up
			link set eth0 up
			addr add 192.168.1.$((i + 1))/24 dev eth0
			route add default via 192.168.1.1
		EOF
	done
}

# The namespaces of one cycle (the flood is not in them: it lives on).
tlab_down() {
	local ns p
	for ns in $R vm-h1 vm-h2; do
		for p in $(ip netns pids $ns 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del $ns 2>/dev/null
	done
	_lab_ns=()
}

unload() {
	local try
	for try in $(seq 1 50); do
		modprobe -r vpnpt_esp 2>/tmp/rmmod.err && return 0
		sleep 0.2
	done
	return 1
}

sunreclaim() { awk '$1 == "SUnreclaim:" { print $2 }' /proc/meminfo; }
skb_heads() { awk '$1 == "skbuff_head_cache" { print $2 }' /proc/slabinfo; }
# Wait until the slab settles (namespace cleanup and RCU frees are
# asynchronous): two readings 0.5 s apart within 64 kB, at most 15 s.
settle() {
	local a b i
	a=$(sunreclaim)
	for i in $(seq 1 30); do
		sleep 0.5
		b=$(sunreclaim)
		[ $(( b > a ? b - a : a - b )) -le 64 ] && break
		a=$b
	done
}

# One flood for every cycle (a python start costs seconds over 9p): with
# --follow it pauses while the hosts' namespaces are gone and resumes in the
# next ones; "up NS INODE" says it reached the current one.
spoof_bg /tmp/flood.out esp --follow --pps 400 \
	--stream "ns=vm-h1,dst=203.0.113.2,ndst=32,spi=random" \
	--stream "ns=vm-h2,dst=203.0.113.2,ndst=32,spi=random"
flood=$SPOOF_PID
flood_up() {
	local i
	for i in 1 2; do
		grep -q "^up vm-h$i $(stat -c %i /run/netns/vm-h$i)\$" /tmp/flood.out || return 1
	done
}

held_total=0
held_now() {
	held=$(vpnpt --config "$CFG" status --json 2>/dev/null | jq '.esp.counters.held // 0')
	[ "${held:-0}" -gt 0 ]
}
router_devs_gone() { ! n vm-h1 ip link show eth0 > /dev/null 2>&1; }
cycle() {
	local c=$1 how t=$(date +%s)
	held=-
	modprobe vpnpt_esp || fail "cycle $c: modprobe"
	tlab_up || fail "cycle $c: lab"
	vpnpt --config "$CFG" apply > /dev/null || fail "cycle $c: vpnpt apply"
	wait_for 20 flood_up || fail "cycle $c: the flood did not reach the new hosts"
	# Reading counters costs a controller run: every fifth cycle shows the
	# flood gets packets held (the others tear down at once).
	if [ $((c % 5)) = 0 ]; then
		wait_for 10 held_now || log "cycle $c: nothing held yet (held=$held)"
		held_total=$((held_total + ${held:-0}))
	fi
	if [ $((c % 2)) = 0 ]; then
		how="ip netns del"
		ip netns del $R || fail "cycle $c: ip netns del $R"
		# the flood goes on until the cleanup of vm-r has taken its veths
		wait_for 20 router_devs_gone || fail "cycle $c: vm-r's devices still there 20s after ip netns del"
		tlab_down
		unload || fail "cycle $c: the module does not unload after ip netns del: $(cat /tmp/rmmod.err)"
	else
		how="modprobe -r"
		unload || fail "cycle $c: the module does not unload under the flood: $(cat /tmp/rmmod.err)"
		tlab_down
	fi
	log "cycle $c: $how under the flood, held before: $held ($(( $(date +%s) - t ))s)"
}

# Warm-up: the first cycle loads veth, bridge, dummy, conntrack, nf_tables...
cycle 0
settle
m0=$(sunreclaim) s0=$(skb_heads)
log "baseline after warm-up: SUnreclaim ${m0} kB, skbuff_head_cache $s0 objects"
t0=$(date +%s)
for c in $(seq 1 $cycles); do
	cycle "$c"
	dmesg_clean > /dev/null || break
done
log "$cycles cycles in $(( $(date +%s) - t0 ))s; packets held in all (every fifth cycle): $held_total"
kill $flood; wait $flood 2>/dev/null   # its sockets keep the last namespaces alive
log "flood: $(tail -1 /tmp/flood.out)"
settle
m1=$(sunreclaim) s1=$(skb_heads)
log "after: SUnreclaim ${m1} kB ($((m1 - m0)) kB), skbuff_head_cache $s1 objects ($((s1 - s0)))"
grep -E '^(Slab|SReclaimable|SUnreclaim):' /proc/meminfo | tr -s ' ' | tr '\n' ' '; echo

dmesg_clean || fail "kernel log shows a BUG/oops/warning"
dmesg | grep -E 'unregister_netdevice: waiting|leak' && fail "kernel log: a device or object kept alive"
[ "$held_total" -gt 0 ] || fail "no packet was ever held: the cycles did not exercise the hold path"
[ $((m1 - m0)) -le 2048 ] || fail "unreclaimable slab grew by $((m1 - m0)) kB over $cycles cycles (limit 2048)"
[ $((s1 - s0)) -le 256 ] || fail "skbuff_head_cache grew by $((s1 - s0)) objects over $cycles cycles (limit 256)"
ok "$cycles teardowns under fire: clean log, module unloaded each time, memory back to baseline"
exit 0
