/* SPDX-License-Identifier: GPL-2.0 */
/* hooks.h: the PRE_ROUTING hook that classifies ESP and IKE into zones. */
#ifndef VPNPT_HOOKS_H
#define VPNPT_HOOKS_H

#include <linux/netfilter.h>

struct vpnpt_net;

int vpnpt_hooks_init(void);		/* per-cpu conntrack templates */
void vpnpt_hooks_uninit(void);
int vpnpt_hooks_register(struct net *net);
void vpnpt_hooks_unregister(struct net *net);
void vpnpt_hooks_reinject(struct vpnpt_net *vn, struct list_head *held);
void vpnpt_hooks_drop(struct list_head *held);

#endif
