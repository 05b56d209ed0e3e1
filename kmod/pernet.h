/* SPDX-License-Identifier: GPL-2.0 */
/* pernet.h: the state vpnpt_esp keeps in each network namespace. */
#ifndef VPNPT_PERNET_H
#define VPNPT_PERNET_H

#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include "table.h"

struct vpnpt_net {
	struct net *net;
	struct mux *mux;
	struct delayed_work gc;		/* expiry, held-packet timeouts, zone flushes */
	struct work_struct reinject;	/* re-inject released held packets */
	bool exiting;
	bool wan_tracked;		/* the netdev notifier may touch mux (RTNL) */
};

struct vpnpt_net *vpnpt_net(const struct net *net);
u64 vpnpt_now(void);
void vpnpt_net_kick(struct vpnpt_net *vn);	/* released packets waiting */
void vpnpt_net_housekeep(struct vpnpt_net *vn);	/* after flush / params */
void vpnpt_net_zones_changed(struct vpnpt_net *vn);	/* new zone range: flush it */

/* The index of the interface named @name in vn's netns, 0 if none.  RTNL. */
u32 vpnpt_net_wan_lookup(struct vpnpt_net *vn, const char *name);

int vpnpt_pernet_init(void);
void vpnpt_pernet_uninit(void);
int vpnpt_wan_notifier_init(void);	/* follows the WAN interface by name */
void vpnpt_wan_notifier_uninit(void);

#endif
