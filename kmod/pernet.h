/* SPDX-License-Identifier: GPL-2.0 */
/* pernet.h: the state vpnpt_esp keeps in each network namespace. */
#ifndef VPNPT_PERNET_H
#define VPNPT_PERNET_H

#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include "table.h"

/*
 * What every network namespace pays once the module is loaded: this struct
 * (net_generic), nothing else.  The tables, the hook, defrag and the gc work
 * exist only from the moment the controller enables the namespace
 * (SET_PARAMS with ENABLED) until it is disabled again and its mappings are
 * gone (gc releases it), or the namespace exits.
 */
struct vpnpt_pernet {
	struct vpnpt_net __rcu *vn;	/* NULL while never enabled / released */
	struct mutex lock;		/* serialises vn's creation and release */
	struct mux_params p;		/* the parameters while vn is NULL */
	u32 dump_gen;			/* carried across vn's lives (dumps) */
	struct work_struct release;	/* gc found vn disabled and empty */
	bool exiting;
};

/* The tables and works of an enabled namespace (or one that still holds
 * mappings after it was disabled). */
struct vpnpt_net {
	struct net *net;
	struct mux *mux;
	struct delayed_work gc;		/* expiry, held-packet timeouts, zone flushes */
	struct work_struct reinject;	/* re-inject released held packets */
	bool exiting;
	bool hooked;			/* hook and defrag registered (pn->lock) */
};

struct vpnpt_pernet *vpnpt_pernet(const struct net *net);
/* The namespace's tables, or NULL.  Under rcu_read_lock() (the hooks run
 * in one) or pn->lock; the object lives until a grace period after it is
 * unpublished. */
static inline struct vpnpt_net *vpnpt_net_rcu(const struct net *net)
{
	return rcu_dereference(vpnpt_pernet(net)->vn);
}

u64 vpnpt_now(void);
void vpnpt_net_kick(struct vpnpt_net *vn);	/* released packets waiting */
void vpnpt_net_housekeep(struct vpnpt_net *vn);	/* after flush / params */

/* The parameters of @net (the defaults before any SET_PARAMS). */
void vpnpt_net_params_get(struct net *net, struct mux_params *p);
/* Applies @p; enabling creates the tables, hook and works, disabling
 * unhooks and, once no mapping is left, releases them.  -errno. */
int vpnpt_net_params_set(struct net *net, const struct mux_params *p);
void vpnpt_net_flush(struct net *net);

/* The index of the interface named @name in @net, 0 if none.  RTNL. */
u32 vpnpt_net_wan_lookup(struct net *net, const char *name);

int vpnpt_pernet_init(void);
void vpnpt_pernet_uninit(void);
int vpnpt_wan_notifier_init(void);	/* follows the WAN interface by name */
void vpnpt_wan_notifier_uninit(void);

#endif
