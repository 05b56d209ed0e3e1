// SPDX-License-Identifier: GPL-2.0
/*
 * pernet.c: one struct mux per network namespace, its hooks, and the two
 * works that do what the packet path must not: expiry (every second),
 * flushing conntrack out of freed zones, and re-injecting held packets.
 *
 * Only where enabled: a namespace pays a struct vpnpt_pernet (net_generic)
 * and nothing else until the controller enables it (SET_PARAMS ENABLED=1).
 * Then its struct vpnpt_net comes (tables, hook, defrag, gc work); when it
 * is disabled the hook and defrag go at once, and the rest once no mapping
 * is left (at once, or when gc has expired them: remove + apply resumes
 * live tunnels), or when the namespace exits.
 *
 * Locking: pn->lock (mutex) serialises creating, enabling, disabling and
 * releasing vn, and FLUSH; vn is published and unpublished under RTNL too
 * (the netdev notifier reads it under RTNL); the hook and the netlink
 * readers find it under RCU, and it is freed a grace period after it was
 * unpublished.  The works never take pn->lock (release cancels them).
 */
#include <linux/jiffies.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>
#include <net/route.h>
#include <net/netns/generic.h>
#include <net/xfrm.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include "hooks.h"
#include "pernet.h"

static unsigned int vpnpt_net_id __read_mostly;

struct vpnpt_pernet *vpnpt_pernet(const struct net *net)
{
	return net_generic(net, vpnpt_net_id);
}

u64 vpnpt_now(void)
{
	return jiffies64_to_msecs(get_jiffies_64());
}

static bool is_local(void *ctx, __be32 addr)
{
	return inet_addr_type(ctx, addr) == RTN_LOCAL;
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

void vpnpt_net_housekeep(struct vpnpt_net *vn)
{
	drain_lists(vn);
	flush_dirty_zones(vn);
	vpnpt_net_kick(vn);
}

/* Nothing left to keep: no mapping, peer, host, held packet or zone to
 * flush.  A disabled namespace in this state is released by gc. */
static bool vn_idle(struct vpnpt_net *vn)
{
	return mux_idle(vn->mux) && list_empty_careful(&vn->mux->released) &&
	       list_empty_careful(&vn->mux->expired);
}

static void gc_work(struct work_struct *work)
{
	struct vpnpt_net *vn = container_of(to_delayed_work(work), struct vpnpt_net, gc);

	mux_gc(vn->mux, vpnpt_now());
	vpnpt_net_housekeep(vn);
	if (READ_ONCE(vn->exiting))
		return;
	/* disabled and empty: release_work frees it all (it cancels this
	 * work, so it cannot run in it) */
	if (!READ_ONCE(vn->mux->p.enabled) && vn_idle(vn)) {
		schedule_work(&vpnpt_pernet(vn->net)->release);
		return;
	}
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

/* vn under pn->lock (the notifier reads it under RTNL, which its writers
 * also hold; everyone else under RCU). */
static struct vpnpt_net *vn_locked(struct vpnpt_pernet *pn)
{
	return rcu_dereference_protected(pn->vn, lockdep_is_held(&pn->lock));
}

/* vn_create - the tables and works of @net, with parameters @p (enabled).
 * Not published yet.  Process context. */
static struct vpnpt_net *vn_create(struct net *net, struct vpnpt_pernet *pn,
				   const struct mux_params *p)
{
	struct vpnpt_net *vn;
	int ret = -ENOMEM;

	vn = kzalloc(sizeof(*vn), GFP_KERNEL);
	if (!vn)
		return ERR_PTR(-ENOMEM);
	vn->net = net;
	vn->mux = kvzalloc(sizeof(*vn->mux), GFP_KERNEL);
	if (!vn->mux)
		goto err_vn;
	ret = mux_init(vn->mux, p, get_random_u32());
	if (ret)
		goto err_mux;
	vn->mux->ops.local_spi = local_spi;
	vn->mux->ops.is_local = is_local;
	vn->mux->ops.ctx = net;
	vn->mux->dump_gen = pn->dump_gen;	/* a dump across two lives sees a change */
	INIT_DELAYED_WORK(&vn->gc, gc_work);
	INIT_WORK(&vn->reinject, reinject_work);
	flush_zone_range(vn);
	return vn;

err_mux:
	kvfree(vn->mux);
err_vn:
	kfree(vn);
	return ERR_PTR(ret);
}

/* vn_destroy - free @vn, unpublished and unhooked more than a grace period
 * ago (no hook, notifier or netlink reader can reach it).  Whatever it still
 * holds is dropped: held packets, mappings (their zones are flushed). */
static void vn_destroy(struct vpnpt_net *vn)
{
	LIST_HEAD(held);

	WRITE_ONCE(vn->exiting, true);
	cancel_delayed_work_sync(&vn->gc);
	cancel_work_sync(&vn->reinject);
	mux_flush(vn->mux, vpnpt_now());
	mux_take_released(vn->mux, &held);
	mux_take_expired(vn->mux, &held);
	vpnpt_hooks_drop(&held);
	flush_dirty_zones(vn);
	mux_destroy(vn->mux);
	kvfree(vn->mux);
	kfree(vn);
}

/* conntrack reassembles fragments at NF_IP_PRI_CONNTRACK_DEFRAG, before
 * this module's hook: make sure it does in this netns.  pn->lock held. */
static int vn_hook(struct vpnpt_net *vn)
{
	int ret;

	if (vn->hooked)
		return 0;
	ret = nf_defrag_ipv4_enable(vn->net);
	if (ret)
		return ret;
	ret = vpnpt_hooks_register(vn->net);
	if (ret) {
		nf_defrag_ipv4_disable(vn->net);
		return ret;
	}
	vn->hooked = true;
	return 0;
}

/* The hook goes; a packet already in it may still use vn: the caller waits
 * for a grace period (synchronize_net) before relying on none being there
 * (6.1's unregister does not wait for it).  pn->lock held. */
static void vn_unhook(struct vpnpt_net *vn)
{
	if (!vn->hooked)
		return;
	vpnpt_hooks_unregister(vn->net);
	nf_defrag_ipv4_disable(vn->net);
	vn->hooked = false;
}

/* vn_release - give everything of @pn's vn back (unhooked, a grace period
 * ago).  Its parameters stay for GET_PARAMS and the next enable. */
static void vn_release(struct vpnpt_pernet *pn)
{
	struct vpnpt_net *vn = vn_locked(pn);

	lockdep_assert_held(&pn->lock);
	mux_params_get(vn->mux, &pn->p);
	pn->p.wan_ifindex = 0;
	WRITE_ONCE(pn->dump_gen, vn->mux->dump_gen + 1);
	rtnl_lock();
	RCU_INIT_POINTER(pn->vn, NULL);		/* the notifier reads it under RTNL */
	rtnl_unlock();
	synchronize_rcu();			/* netlink readers under RCU */
	vn_destroy(vn);
}

static void release_work(struct work_struct *work)
{
	struct vpnpt_pernet *pn = container_of(work, struct vpnpt_pernet, release);
	struct vpnpt_net *vn;

	mutex_lock(&pn->lock);
	vn = vn_locked(pn);
	if (!vn || pn->exiting)
		goto out;
	if (READ_ONCE(vn->mux->p.enabled) || !vn_idle(vn)) {
		/* enabled again, or something came since gc looked */
		schedule_delayed_work(&vn->gc, HZ);
		goto out;
	}
	vn_release(pn);
out:
	mutex_unlock(&pn->lock);
}

void vpnpt_net_params_get(struct net *net, struct mux_params *p)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(net);
	struct vpnpt_net *vn;

	mutex_lock(&pn->lock);
	vn = vn_locked(pn);
	if (vn) {
		mux_params_get(vn->mux, p);
	} else {
		struct net_device *dev;

		*p = pn->p;
		rcu_read_lock();
		dev = p->wan_name[0] ? dev_get_by_name_rcu(net, p->wan_name) : NULL;
		p->wan_ifindex = dev && dev->reg_state == NETREG_REGISTERED ? dev->ifindex : 0;
		rcu_read_unlock();
	}
	mutex_unlock(&pn->lock);
}

/* Enabling a namespace never enabled (or released): its tables, sized for
 * @p, then the hook and gc.  pn->lock held. */
static int vn_enable_new(struct net *net, struct vpnpt_pernet *pn, struct mux_params *p)
{
	struct vpnpt_net *vn;
	int ret;

	lockdep_assert_held(&pn->lock);
	vn = vn_create(net, pn, p);
	if (IS_ERR(vn))
		return PTR_ERR(vn);
	/* the name's index now; the netdev notifier follows it from here
	 * (RTNL orders this against it) */
	rtnl_lock();
	p->wan_ifindex = vpnpt_net_wan_lookup(net, p->wan_name);
	mux_wan_ifindex_set(vn->mux, p->wan_ifindex);
	rcu_assign_pointer(pn->vn, vn);
	rtnl_unlock();
	ret = vn_hook(vn);
	if (ret) {
		rtnl_lock();
		RCU_INIT_POINTER(pn->vn, NULL);
		rtnl_unlock();
		synchronize_rcu();
		vn_destroy(vn);
		return ret;
	}
	schedule_delayed_work(&vn->gc, HZ);
	return 0;
}

int vpnpt_net_params_set(struct net *net, const struct mux_params *new)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(net);
	struct mux_params p = *new, old;
	struct vpnpt_net *vn;
	bool hooked;
	int ret;

	if (!mux_params_valid(&p))
		return -EINVAL;
	mutex_lock(&pn->lock);
	vn = vn_locked(pn);
	if (!vn) {
		ret = 0;
		if (p.enabled)
			ret = vn_enable_new(net, pn, &p);
		else
			pn->p = p;	/* nothing to allocate while disabled */
		goto out;
	}

	mux_params_get(vn->mux, &old);
	/* hooked before the tables say enabled: until then it passes all */
	hooked = vn->hooked;
	if (p.enabled) {
		ret = vn_hook(vn);
		if (ret)
			goto out;
	}
	rtnl_lock();
	p.wan_ifindex = vpnpt_net_wan_lookup(net, p.wan_name);
	ret = mux_params_set(vn->mux, &p);
	rtnl_unlock();
	if (ret) {
		if (!hooked && vn->hooked) {
			vn_unhook(vn);
			synchronize_net();
		}
		goto out;
	}
	if (old.zone_base != p.zone_base || old.zone_count != p.zone_count)
		flush_zone_range(vn);
	if (p.enabled) {
		/* switched on again, or onto another interface: it did not
		 * see what crossed meanwhile */
		if (p.wan_ifindex && (!old.enabled || old.wan_ifindex != p.wan_ifindex))
			mux_blind_end(vn->mux, vpnpt_now());
		schedule_delayed_work(&vn->gc, HZ);	/* gc may have stopped */
		goto out;
	}
	/* disabled: the hook goes now; the tables stay while they hold
	 * mappings (remove + apply resumes live tunnels), gc releases them */
	vn_unhook(vn);
	synchronize_net();
	vpnpt_net_housekeep(vn);
	if (vn_idle(vn))
		vn_release(pn);
out:
	mutex_unlock(&pn->lock);
	return ret;
}

void vpnpt_net_flush(struct net *net)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(net);
	struct vpnpt_net *vn;

	mutex_lock(&pn->lock);
	vn = vn_locked(pn);
	if (vn) {
		mux_flush(vn->mux, vpnpt_now());
		vpnpt_net_housekeep(vn);	/* drops held packets, flushes zones */
	}
	mutex_unlock(&pn->lock);
}

static int __net_init vpnpt_net_init(struct net *net)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(net);

	/* nothing allocated, hooked or scheduled until enabled */
	mutex_init(&pn->lock);
	mux_params_default(&pn->p);
	pn->dump_gen = 1;
	INIT_WORK(&pn->release, release_work);
	return 0;
}

static void __net_exit vpnpt_net_exit(struct net *net)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(net);
	struct vpnpt_net *vn;

	mutex_lock(&pn->lock);
	pn->exiting = true;
	vn = vn_locked(pn);
	if (vn) {
		vn_unhook(vn);
		/* a hook already running may still hold a packet or kick the
		 * re-inject work: wait for every CPU to leave it; whatever the
		 * works left in the lists is dropped by vn_destroy */
		synchronize_net();
		vn_release(pn);
	}
	mutex_unlock(&pn->lock);
	cancel_work_sync(&pn->release);		/* gc cannot queue it any more */
	mutex_destroy(&pn->lock);
}

u32 vpnpt_net_wan_lookup(struct net *net, const char *name)
{
	struct net_device *dev;

	ASSERT_RTNL();
	if (!name[0])
		return 0;
	dev = __dev_get_by_name(net, name);
	return dev && dev->reg_state == NETREG_REGISTERED ? dev->ifindex : 0;
}

/* The WAN interface is configured by name: a PPP link gets a new index each
 * time it comes up, and an interface may be renamed to the name after vpnpt
 * applied.  Follow the name; a device that goes away takes the index along. */
static int wan_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct vpnpt_net *vn;
	struct mux_params p;
	u32 idx;

	if (event != NETDEV_REGISTER && event != NETDEV_CHANGENAME && event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	/* published and unpublished under RTNL: none while never enabled,
	 * none once the namespace's exit began (devices go after us) */
	vn = rcu_dereference_rtnl(vpnpt_pernet(dev_net(dev))->vn);
	if (!vn)
		return NOTIFY_DONE;
	mux_params_get(vn->mux, &p);
	idx = vpnpt_net_wan_lookup(vn->net, p.wan_name);
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
	.size = sizeof(struct vpnpt_pernet),
};

int vpnpt_pernet_init(void)
{
	return register_pernet_subsys(&vpnpt_net_ops);
}

void vpnpt_pernet_uninit(void)
{
	unregister_pernet_subsys(&vpnpt_net_ops);
}
