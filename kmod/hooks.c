// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.c: where vpnpt_esp sits in the IPv4 stack, and what it does there.
 *
 *   PRE_ROUTING:  -400 conntrack defrag   (fragments are whole from here on)
 *                 -300 raw                (nft "ct zone set" would run here)
 *                 -250 vpnpt_esp          <- this hook
 *                 -200 conntrack          (looks up / creates in our zone)
 *                 -100 DNAT, ... POST_ROUTING 100 SNAT/masquerade
 *
 * Every packet passes the LAN host's and the peer's ESP through PRE_ROUTING
 * on a router (forwarded both ways), so one hook sees both directions.  The
 * hook parses (parse.c) ESP (proto 50), IKE on UDP 500 and 4500 (4500
 * observed only: NAT-T is plain UDP to conntrack), and ICMP errors quoting
 * ESP, asks the tables (table.h) for a verdict and, for MUX_ZONE, attaches
 * a conntrack template carrying the zone, exactly as nft's "ct zone set"
 * does (per-cpu template, net/netfilter/nft_ct.c).  Conntrack then tracks and NATs the
 * (host, peer) flow in its own zone.  Packets already carrying a conntrack
 * or template (notrack, an admin's zone rule) are left alone, as is IPv6
 * (not registered) and traffic to or from the router itself (LOCAL_OUT is
 * not hooked; inbound SPIs of the router's own SAs are never bound).
 */
#include <linux/ip.h>
#include <linux/netdevice.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter_ipv4.h>
#include <net/ip.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include "hooks.h"
#include "parse.h"
#include "pernet.h"

#define VPNPT_HOOK_PRIORITY	(NF_IP_PRI_RAW + 50)	/* -250 */

static struct nf_conn __percpu **tmpl_pcpu;

/* zone_set - put @skb in conntrack zone @id (both directions). */
static bool zone_set(struct net *net, struct sk_buff *skb, u16 id)
{
	struct nf_conntrack_zone zone = { .id = id, .dir = NF_CT_DEFAULT_ZONE_DIR };
	struct nf_conn *ct = *this_cpu_ptr(tmpl_pcpu);

	if (likely(refcount_read(&ct->ct_general.use) == 1)) {
		refcount_inc(&ct->ct_general.use);
		nf_ct_zone_add(ct, &zone);
	} else {
		/* the previous skb is still queued somewhere with it */
		ct = nf_ct_tmpl_alloc(net, &zone, GFP_ATOMIC);
		if (!ct)
			return false;
		__set_bit(IPS_CONFIRMED_BIT, &ct->status);
	}
	nf_ct_set(skb, ct, IP_CT_NEW);
	return true;
}

static const void *header(void *pkt, u32 off, u32 len, void *buf)
{
	return skb_header_pointer(pkt, off, len, buf);
}

/* parse - fill @p from @skb (parse.c); false if the module leaves it alone. */
static bool parse(struct sk_buff *skb, const struct vpnpt_net *vn, struct mux_pkt *p)
{
	/* at PRE_ROUTING skb->data is the IPv4 header, checked by ip_rcv_core() */
	struct mux_parse_in in = {
		.header = header,
		.pkt = skb,
		.data = skb->data,
		.headlen = skb_headlen(skb),
		.len = skb->len,
		.iif = skb->dev->ifindex,
		.truesize = skb->truesize,
	};

	return mux_parse(vn->mux, &in, p) == MUX_PARSE_OURS;
}

static unsigned int vpnpt_esp_hook(void *priv, struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	/* registered only while the netns is enabled; nf_hook() holds the
	 * RCU read lock that keeps vn */
	struct vpnpt_net *vn = vpnpt_net_rcu(state->net);
	enum mux_verdict v;
	struct mux_pkt p;
	bool bridged;
	u16 zone = 0;

	/* _nfct, not skb_nfct(): an admin's notrack sets IP_CT_UNTRACKED
	 * with no conntrack pointer, and must be left alone too */
	if (skb->_nfct)
		return NF_ACCEPT;	/* tracked already, notrack, or an admin's template */
	if (unlikely(!vn) || !READ_ONCE(vn->mux->p.enabled))
		return NF_ACCEPT;	/* not asked to multiplex in this netns */
	if (!parse(skb, vn, &p))
		return NF_ACCEPT;
	/* Bumped by rt_cache_flush() on every change of an address or of a
	 * route a lookup used: what the kernel's own cached routes are checked
	 * against (rt_is_expired).  Read before mux_classify() asks is_local. */
	p.local_gen = (u32)rt_genid_ipv4(state->net);

	/* A bridged packet (br_netfilter) carries the bridge's state and okfn,
	 * with port devices we hold no reference on: it is never held (the
	 * table drops it instead, and IKE retransmits). */
	bridged = nf_bridge_info_exists(skb);
	v = mux_classify(vn->mux, &p, vpnpt_now(), bridged ? NULL : skb, state->okfn, &zone);
	if (unlikely(bridged && v == MUX_DROP))
		mux_count(vn->mux, VPNPT_ESP_C_BRIDGED_NOT_HELD);
	switch (v) {
	case MUX_ZONE:
		vpnpt_net_kick(vn);
		if (unlikely(!zone_set(state->net, skb, zone))) {
			mux_count(vn->mux, VPNPT_ESP_C_ALLOC_FAIL);
			return NF_DROP;
		}
		return NF_ACCEPT;
	case MUX_HOLD:
		vpnpt_net_kick(vn);
		return NF_STOLEN;	/* the table holds it; see vpnpt_hooks_reinject */
	case MUX_DROP:
		return NF_DROP;
	case MUX_NOT_OURS:
		return NF_ACCEPT;
	case MUX_PASS:
		vpnpt_net_kick(vn);
		return NF_ACCEPT;
	}
	return NF_ACCEPT;
}

static const struct nf_hook_ops vpnpt_hook_ops[] = {
	{
		.hook = vpnpt_esp_hook,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = VPNPT_HOOK_PRIORITY,
	},
};

int vpnpt_hooks_register(struct net *net)
{
	return nf_register_net_hooks(net, vpnpt_hook_ops, ARRAY_SIZE(vpnpt_hook_ops));
}

void vpnpt_hooks_unregister(struct net *net)
{
	nf_unregister_net_hooks(net, vpnpt_hook_ops, ARRAY_SIZE(vpnpt_hook_ops));
}

/*
 * vpnpt_hooks_reinject - continue held packets through PRE_ROUTING from
 * this module's hook on, as nf_reinject() does for NFQUEUE: the hook runs
 * again (now the window is the host's), then conntrack, NAT, routing.
 * Process context; takes the RCU read lock and disables BHs like the
 * receive path.
 */
void vpnpt_hooks_reinject(struct vpnpt_net *vn, struct list_head *held)
{
	struct mux_held *h, *tmp;

	list_for_each_entry_safe(h, tmp, held, node) {
		int (*okfn)(struct net *, struct sock *, struct sk_buff *) = h->aux;
		struct sk_buff *skb = h->cookie;
		const struct nf_hook_entries *e;
		struct nf_hook_state state;
		struct net_device *dev;
		unsigned int i;
		int ret;

		list_del(&h->node);
		mux_held_free(h);

		rcu_read_lock();
		local_bh_disable();
		/* the device may have gone while the packet waited */
		dev = dev_get_by_index_rcu(vn->net, skb->skb_iif);
		e = rcu_dereference(vn->net->nf.hooks_ipv4[NF_INET_PRE_ROUTING]);
		for (i = 0; e && i < e->num_hook_entries; i++)
			if (e->hooks[i].hook == vpnpt_esp_hook)
				break;
		if (!dev || !e || i == e->num_hook_entries) {
			kfree_skb(skb);
		} else {
			skb->dev = dev;
			nf_hook_state_init(&state, NF_INET_PRE_ROUTING, NFPROTO_IPV4, dev,
					   NULL, NULL, vn->net, okfn);
			ret = nf_hook_slow(skb, &state, e, i);
			if (ret == 1)
				okfn(vn->net, NULL, skb);
		}
		local_bh_enable();
		rcu_read_unlock();
	}
}

void vpnpt_hooks_drop(struct list_head *held)
{
	struct mux_held *h, *tmp;

	list_for_each_entry_safe(h, tmp, held, node) {
		list_del(&h->node);
		kfree_skb(h->cookie);
		mux_held_free(h);
	}
}

int vpnpt_hooks_init(void)
{
	struct nf_conntrack_zone zone = { .id = 0, .dir = NF_CT_DEFAULT_ZONE_DIR };
	struct nf_conn *ct;
	int cpu;

	tmpl_pcpu = alloc_percpu(struct nf_conn *);
	if (!tmpl_pcpu)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		ct = nf_ct_tmpl_alloc(&init_net, &zone, GFP_KERNEL);
		if (!ct) {
			vpnpt_hooks_uninit();
			return -ENOMEM;
		}
		__set_bit(IPS_CONFIRMED_BIT, &ct->status);
		*per_cpu_ptr(tmpl_pcpu, cpu) = ct;
	}
	return 0;
}

void vpnpt_hooks_uninit(void)
{
	struct nf_conn *ct;
	int cpu;

	if (!tmpl_pcpu)
		return;
	for_each_possible_cpu(cpu) {
		ct = *per_cpu_ptr(tmpl_pcpu, cpu);
		if (ct)
			nf_ct_put(ct);
	}
	free_percpu(tmpl_pcpu);
	tmpl_pcpu = NULL;
}
