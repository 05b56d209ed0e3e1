#!/bin/bash
# vm-timeout: 120
# Control for t-l2tp-xl2tpd: the same two xl2tpd LACs (source port 1701)
# and an LNS that answers from another port (1702, RFC 2661 section 8.1),
# with vpnpt applied but [l2tp] enabled = false: no rule remembers which
# host opened which tunnel, the LNS's replies match no conntrack flow and
# end at the router, and neither host gets a tunnel (each LAC gives up
# after its retries). (An LNS answering from 1701 needs no vpnpt rule:
# masquerade alone carries both hosts, round 1 of t-l2tp-xl2tpd.)
. "$VPNPT_VM_TESTS/lib.sh"

need_controller
lab_up 2 || fail "lab"
CFG=$(vpnpt_config off) || fail "config"
sed -i '/^\[l2tp\]/a enabled = false' "$CFG"
run vpnpt --config "$CFG" apply || fail "vpnpt apply ([l2tp] enabled = false)"
l2tp_server_up 1702 || { l2tp_show_logs; fail "xl2tpd LNS"; }
l2tp_client_up 1 "force userspace = yes"
l2tp_client_up 2 "force userspace = yes"
for i in 1 2; do
	wait_for 60 l2tp_gave_up $i || { l2tp_show_logs; fail "host $i: its LAC did not give up within 60s"; }
	! ppp_addr $i > /dev/null || { l2tp_show_logs; fail "host $i has a ppp link without [l2tp]: the control case no longer fails"; }
	log "host $i: no tunnel ($(grep -m1 -o 'Maximum retries exceeded.*' $L2TP_DIR/$(host $i).log))"
done
echo "--- router: L2TP flows (conntrack) ---"
n $R conntrack -L -p udp 2>/dev/null | grep -E 'sport=(1701|1702) ' | sed 's/^/  /'
ok "control: without vpnpt's [l2tp] rules, an LNS answering from another port reaches neither host"
exit 0
