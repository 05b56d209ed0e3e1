#!/bin/bash
# vm-timeout: 150
# Nothing where not enabled (issue 10): loading vpnpt_esp hooks, allocates
# and schedules nothing in a network namespace until the controller enables
# it there, and gives it all back when it is disabled.
#
#   vm-i1 ... vm-i100   idle namespaces: pings on lo pass PRE_ROUTING, and
#                       neither vpnpt_esp's hook nor conntrack defrag runs;
#                       no gc work runs; no memory beyond a small struct each
#   vm-r                eth0 (dummy) as the WAN; SET_PARAMS wan_ifname=eth0
#                       enabled=1 (genl.py): hook, defrag and gc run there;
#                       enabled=0: none of them any more, the tables freed,
#                       the parameters kept
#
# Which functions run is counted with kprobes (tracefs kprobe_profile):
# vpnpt_esp_hook, ipv4_conntrack_defrag, vpnpt_esp's gc_work. Debian's 6.1
# has no NETFILTER_NETLINK_HOOK, so `nft list hooks` cannot list them.
# Memory: the 100 idle namespaces (and the VM's own) before and after
# modprobe, unreclaimable slab (kmalloc, large kmalloc included) + per-cpu,
# from /proc/meminfo; the module's text is vmalloc and not counted. Printed;
# it must stay under 1 MB for all of them (about 4.6 MB before: 45 KB of
# tables and zone FIFOs per namespace).
. "$VPNPT_VM_TESTS/lib.sh"

NI=100
T=/sys/kernel/tracing
need_module
modprobe -r vpnpt_esp 2>/dev/null
grep -q '^vpnpt_esp ' /proc/modules && fail "vpnpt_esp is loaded before the test"
[ -e $T/kprobe_events ] || mount -t tracefs nodev $T || skip "no tracefs"

kmem() { awk '$1 == "SUnreclaim:" || $1 == "Percpu:" { s += $2 } END { print s }' /proc/meminfo; }
# Slab settles after RCU frees and namespace setup: two readings 0.3 s
# apart within 16 kB, at most 6 s.
settle() {
	local a b i
	a=$(kmem)
	for i in $(seq 1 20); do
		sleep 0.3
		b=$(kmem)
		[ $(( b > a ? b - a : a - b )) -le 16 ] && break
		a=$b
	done
}
probes=(kidle_hook kidle_defrag kidle_gc)
probes_on() {
	printf '%s\n' "p:kidle_hook vpnpt_esp:vpnpt_esp_hook" "p:kidle_defrag ipv4_conntrack_defrag" \
		"p:kidle_gc vpnpt_esp:gc_work" >> $T/kprobe_events || return 1
	for p in "${probes[@]}"; do echo 1 > $T/events/kprobes/$p/enable || return 1; done
}
probes_off() {
	local p
	for p in "${probes[@]}"; do
		[ -e $T/events/kprobes/$p/enable ] || continue
		echo 0 > $T/events/kprobes/$p/enable
		echo "-:$p" >> $T/kprobe_events
	done
}
hits() { awk -v e="$1" '$1 == e { print $2 }' $T/kprobe_profile; }
# hits of every probe as "hook defrag gc"
all_hits() { echo "$(hits kidle_hook) $(hits kidle_defrag) $(hits kidle_gc)"; }
lo_ping() { n "$1" ping -q -c 2 -i 0.2 127.0.0.1 > /dev/null; }
# the idle namespaces go in one batch (lab_down takes seconds per namespace)
idle_down() { for ((i = 1; i <= NI; i++)); do echo "netns del vm-i$i"; done | ip -batch - 2>/dev/null; }
trap 'rc=$?; probes_off; idle_down; lab_down; exit $rc' EXIT

{ for ((i = 1; i <= NI; i++)); do echo "netns add vm-i$i"; done; echo "netns add $R"; } |
	ip -batch - || fail "namespaces"
_lab_ns=($R)
for ((i = 1; i <= NI; i += 11)); do ip -n vm-i$i link set lo up; done
ip -n $R link set lo up
ip -n $R link add eth0 type dummy && ip -n $R link set eth0 up || fail "dummy WAN"

# vpnpt_esp's dependencies (nf_conntrack, nf_defrag_*) cost memory in
# every namespace too, as for any conntrack user: loaded apart, measured apart
settle
md=$(kmem)
deps=$(modinfo -F depends vpnpt_esp | tr , ' ')
for m in $deps; do modprobe "$m" || fail "modprobe $m"; done
settle
m0=$(kmem)
run modprobe vpnpt_esp || fail "modprobe"
settle
m1=$(kmem)
log "$NI idle namespaces + the VM's own, SUnreclaim+Percpu: ${md} kB, with $deps ${m0} kB" \
	"($((m0 - md)) kB), with vpnpt_esp too ${m1} kB: vpnpt_esp $((m1 - m0)) kB," \
	"$(( (m1 - m0) * 1024 / (NI + 2) )) B per namespace"
probes_on || fail "kprobes on vpnpt_esp_hook, ipv4_conntrack_defrag, gc_work"

h0=$(all_hits)
for ((i = 1; i <= NI; i += 11)); do lo_ping vm-i$i || fail "ping on lo in vm-i$i"; done
lo_ping $R || fail "ping on lo in $R"
h1=$(all_hits)
log "hits (hook defrag gc) before the pings: $h0, after pings in 10 idle namespaces: $h1"
[ "$h0" = "$h1" ] || fail "hook, defrag or gc ran where never enabled: $h0 -> $h1"
[ "$(hits kidle_gc)" = 0 ] || fail "gc work ran $(hits kidle_gc) times where never enabled"
ok "no hook, no defrag, no gc work in namespaces never enabled"
[ $((m1 - m0)) -le 1024 ] || fail "loading the module cost $((m1 - m0)) kB in $NI idle namespaces (limit 1024)"
ok "the module costs $((m1 - m0)) kB in $NI idle namespaces"

rgenl() { n $R /usr/bin/python3 "$VPNPT_VM_TESTS/genl.py" "$@"; }
run rgenl set-params wan_ifname=eth0 enabled=1 || fail "enable in $R"
settle
m2=$(kmem)
h2=$(all_hits)
lo_ping $R
h3=$(all_hits)
set -- $h2; set -- "$@" $h3
[ $4 -gt $1 ] && [ $5 -gt $2 ] || fail "hook or defrag not run where enabled: $h2 -> $h3"
gc_ran() { [ "$(hits kidle_gc)" -gt 0 ]; }
wait_for 5 gc_ran || fail "no gc work where enabled"
ok "enabled in $R: hook, defrag and gc run (+$((m2 - m1)) kB: the tables sized for the defaults)"

run rgenl set-params enabled=0 || fail "disable in $R"
settle
m3=$(kmem)
h4=$(all_hits)
lo_ping $R
sleep 1.2	# one gc period: it must not run any more
h5=$(all_hits)
[ "$h4" = "$h5" ] || fail "hook, defrag or gc still run after disable: $h4 -> $h5"
p=$(rgenl get-params)
log "params after disable: $p"
grep -q 'enabled=0' <<<"$p" && grep -q 'wan_ifname=eth0' <<<"$p" || fail "params not kept after disable"
# printed, not asserted: freed slab objects and per-cpu chunks stay with
# the allocators for a while (184 of 376 kB came back within the settle)
log "disabling gave back $((m2 - m3)) of $((m2 - m1)) kB"
ok "disabled: no hook, defrag or gc, $((m2 - m3)) kB given back ($((m3 - m1)) kB left), params kept"

# enabled again, the namespace deleted while enabled, then the module
run rgenl set-params enabled=1 || fail "enable again"
h6=$(all_hits)
lo_ping $R
[ "$(hits kidle_hook)" -gt "${h6%% *}" ] || fail "no hook after enabling again"
probes_off
ip netns del $R || fail "ip netns del $R"
_lab_ns=()
idle_down
run modprobe -r vpnpt_esp || fail "unload"
dmesg_clean || fail "kernel log shows a BUG/oops/warning"
ok "enabled again, netns deleted while enabled, module unloaded"
exit 0
