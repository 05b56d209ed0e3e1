// SPDX-License-Identifier: GPL-2.0
/*
 * pernet.c: one struct mux per network namespace, its hooks, and the two
 * works that do what the packet path must not: expiry (every second),
 * flushing conntrack out of freed zones, and re-injecting held packets.
 */
#include <linux/jiffies.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>
#include <net/netns/generic.h>
#include <net/xfrm.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include "hooks.h"
#include "pernet.h"

static unsigned int vpnpt_net_id __read_mostly;

struct vpnpt_net *vpnpt_net(const struct net *net)
{
	return net_generic(net, vpnpt_net_id);
}

u64 vpnpt_now(void)
{
	return jiffies64_to_msecs(get_jiffies_64());
}

/* The router's own SA (daddr, spi): its ESP is never a LAN host's. */
static bool local_spi(void *ctx, __be32 daddr, u32 spi)
{
	struct net *net = ctx;
	xfrm_address_t a = { .a4 = daddr };
	struct xfrm_state *x;

	x = xfrm_state_lookup(net, 0, &a, htonl(spi), IPPROTO_ESP, AF_INET);
	if (!x)
		return false;
	xfrm_state_put(x);
	return true;
}

/* Freed zones flushed together: one walk of the conntrack table per batch,
 * not per zone (thousands of zones freed at once cost minutes that way). */
struct zone_batch {
	u32 n;
	u16 z[256];		/* sorted */
};

static int zone_in_batch(struct nf_conn *ct, void *data)
{
	const struct zone_batch *b = data;
	u16 id = nf_ct_zone_id(nf_ct_zone(ct), IP_CT_DIR_ORIGINAL);
	u32 lo = 0, hi = b->n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (b->z[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->z[lo] == id;
}

static int u16_cmp(const void *a, const void *b)
{
	return (int)*(const u16 *)a - (int)*(const u16 *)b;
}

/* Conntrack entries left in a freed pair's zone would hand the next pair's
 * replies to the old host: remove them before the zone is reused. */
static void flush_dirty_zones(struct vpnpt_net *vn)
{
	struct nf_ct_iter_data d = { .net = vn->net };
	struct zone_batch *b;
	u32 i;

	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return;		/* the zones stay dirty: tried again next second */
	d.data = b;
	while ((b->n = mux_zone_take_dirty(vn->mux, b->z, ARRAY_SIZE(b->z))) > 0) {
		sort(b->z, b->n, sizeof(b->z[0]), u16_cmp, NULL);
		nf_ct_iterate_cleanup_net(zone_in_batch, &d);
		for (i = 0; i < b->n; i++) {
			mux_zone_release(vn->mux, b->z[i]);
			mux_count(vn->mux, VPNPT_ESP_C_ZONE_FLUSHES);
		}
	}
	kfree(b);
}

static int zone_in_range(struct nf_conn *ct, void *data)
{
	const struct mux_params *p = data;
	u16 id = nf_ct_zone_id(nf_ct_zone(ct), IP_CT_DIR_ORIGINAL);

	return id >= p->zone_base && id - p->zone_base < p->zone_count;
}

/* Entries left in the module's zones by an earlier load (or another range)
 * would catch a new pair's replies: remove them before any pair exists. */
static void flush_zone_range(struct vpnpt_net *vn)
{
	struct nf_ct_iter_data d = { .net = vn->net };
	struct mux_params p;

	mux_params_get(vn->mux, &p);
	d.data = &p;
	nf_ct_iterate_cleanup_net(zone_in_range, &d);
}

static void drain_lists(struct vpnpt_net *vn)
{
	LIST_HEAD(expired);

	mux_take_expired(vn->mux, &expired);
	vpnpt_hooks_drop(&expired);
}

void vpnpt_net_zones_changed(struct vpnpt_net *vn)
{
	flush_zone_range(vn);
}

void vpnpt_net_housekeep(struct vpnpt_net *vn)
{
	drain_lists(vn);
	flush_dirty_zones(vn);
	vpnpt_net_kick(vn);
}

static void gc_work(struct work_struct *work)
{
	struct vpnpt_net *vn = container_of(to_delayed_work(work), struct vpnpt_net, gc);

	mux_gc(vn->mux, vpnpt_now());
	vpnpt_net_housekeep(vn);
	if (!READ_ONCE(vn->exiting))
		schedule_delayed_work(&vn->gc, HZ);
}

static void reinject_work(struct work_struct *work)
{
	struct vpnpt_net *vn = container_of(work, struct vpnpt_net, reinject);
	LIST_HEAD(released);

	mux_take_released(vn->mux, &released);
	if (READ_ONCE(vn->exiting))
		vpnpt_hooks_drop(&released);
	else
		vpnpt_hooks_reinject(vn, &released);
}

void vpnpt_net_kick(struct vpnpt_net *vn)
{
	if (!list_empty_careful(&vn->mux->released) && !READ_ONCE(vn->exiting))
		schedule_work(&vn->reinject);
}

static int __net_init vpnpt_net_init(struct net *net)
{
	struct vpnpt_net *vn = vpnpt_net(net);
	struct mux_params p;
	int ret;

	vn->net = net;
	vn->mux = kvzalloc(sizeof(*vn->mux), GFP_KERNEL);
	if (!vn->mux)
		return -ENOMEM;
	mux_params_default(&p);
	ret = mux_init(vn->mux, &p, get_random_u32());
	if (ret)
		goto err_mux;
	vn->mux->ops.local_spi = local_spi;
	vn->mux->ops.ctx = net;
	flush_zone_range(vn);
	rtnl_lock();
	vn->wan_tracked = true;
	rtnl_unlock();
	INIT_DELAYED_WORK(&vn->gc, gc_work);
	INIT_WORK(&vn->reinject, reinject_work);

	/* conntrack reassembles fragments at NF_IP_PRI_CONNTRACK_DEFRAG,
	 * before this module's hook: make sure it does in this netns */
	ret = nf_defrag_ipv4_enable(net);
	if (ret)
		goto err_defrag;
	ret = vpnpt_hooks_register(net);
	if (ret)
		goto err_hooks;
	schedule_delayed_work(&vn->gc, HZ);
	return 0;

err_hooks:
	nf_defrag_ipv4_disable(net);
err_defrag:
	rtnl_lock();
	vn->wan_tracked = false;
	rtnl_unlock();
	mux_destroy(vn->mux);
err_mux:
	kvfree(vn->mux);
	return ret;
}

static void __net_exit vpnpt_net_exit(struct net *net)
{
	struct vpnpt_net *vn = vpnpt_net(net);
	LIST_HEAD(held);

	rtnl_lock();
	vn->wan_tracked = false;	/* devices are unregistered after us */
	rtnl_unlock();
	WRITE_ONCE(vn->exiting, true);
	vpnpt_hooks_unregister(net);
	/* A hook already running may still hold a packet or kick the
	 * re-inject work (6.1's unregister does not wait for it): wait for
	 * every CPU to leave the hook, then stop the works; whatever they
	 * left in the lists is dropped below. */
	synchronize_net();
	cancel_delayed_work_sync(&vn->gc);
	cancel_work_sync(&vn->reinject);
	mux_flush(vn->mux, vpnpt_now());
	mux_take_released(vn->mux, &held);
	mux_take_expired(vn->mux, &held);
	vpnpt_hooks_drop(&held);
	flush_dirty_zones(vn);
	nf_defrag_ipv4_disable(net);
	synchronize_rcu();		/* no reader holds a table object */
	mux_destroy(vn->mux);
	kvfree(vn->mux);
}

u32 vpnpt_net_wan_lookup(struct vpnpt_net *vn, const char *name)
{
	struct net_device *dev;

	ASSERT_RTNL();
	if (!name[0])
		return 0;
	dev = __dev_get_by_name(vn->net, name);
	return dev && dev->reg_state == NETREG_REGISTERED ? dev->ifindex : 0;
}

/* The WAN interface is configured by name: a PPP link gets a new index each
 * time it comes up, and an interface may be renamed to the name after vpnpt
 * applied.  Follow the name; a device that goes away takes the index along. */
static int wan_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct vpnpt_net *vn = vpnpt_net(dev_net(dev));
	struct mux_params p;
	u32 idx;

	if (event != NETDEV_REGISTER && event != NETDEV_CHANGENAME && event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	if (!vn->wan_tracked)
		return NOTIFY_DONE;
	mux_params_get(vn->mux, &p);
	idx = vpnpt_net_wan_lookup(vn, p.wan_name);
	if (event == NETDEV_UNREGISTER && idx == dev->ifindex)
		idx = 0;
	if (idx != p.wan_ifindex) {
		mux_wan_ifindex_set(vn->mux, idx);
		if (idx && p.enabled)
			mux_blind_end(vn->mux, vpnpt_now());
	}
	return NOTIFY_DONE;
}

static struct notifier_block wan_notifier = {
	.notifier_call = wan_netdev_event,
};

int vpnpt_wan_notifier_init(void)
{
	return register_netdevice_notifier(&wan_notifier);
}

void vpnpt_wan_notifier_uninit(void)
{
	unregister_netdevice_notifier(&wan_notifier);
}

static struct pernet_operations vpnpt_net_ops = {
	.init = vpnpt_net_init,
	.exit = vpnpt_net_exit,
	.id = &vpnpt_net_id,
	.size = sizeof(struct vpnpt_net),
};

int vpnpt_pernet_init(void)
{
	return register_pernet_subsys(&vpnpt_net_ops);
}

void vpnpt_pernet_uninit(void)
{
	unregister_pernet_subsys(&vpnpt_net_ops);
}
