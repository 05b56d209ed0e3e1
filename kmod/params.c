// SPDX-License-Identifier: GPL-2.0
/*
 * params.c: the table's parameters (netlink SET_PARAMS/GET_PARAMS): the
 * defaults, which sets are consistent, and applying a set, which sizes the
 * hash tables when the netns is enabled.
 */
#include "objects.h"

/* ---------------------------------------------------------------- basics */

void mux_params_default(struct mux_params *p)
{
	memset(p, 0, sizeof(*p));
#define MUX_DEFAULT(attr, name, def, lo, hi)	p->name = def;
	VPNPT_ESP_TUNABLES(MUX_DEFAULT)
#undef MUX_DEFAULT
	p->hold_max = 16;
	p->zone_base = 32768;
	p->zone_count = 4096;
	p->keep_ike_port = false;
	p->enabled = false;
}

/* The tunables' ranges are the uapi table's (vpnpt.toml takes the same). */
bool mux_params_valid(const struct mux_params *p)
{
#define MUX_IN_RANGE(attr, name, def, lo, hi)				\
	if (p->name < (lo) || p->name > (hi))				\
		return false;
	VPNPT_ESP_TUNABLES(MUX_IN_RANGE)
#undef MUX_IN_RANGE
	return p->idle_timeout >= p->pending_timeout &&
	       p->hold_max <= 1024 &&
	       p->zone_count >= 1 && p->zone_count <= MUX_ZONE_COUNT_MAX &&
	       p->zone_base >= 1 && (u32)p->zone_base + p->zone_count <= 65536;
}

/* ------------------------------------------------------------ parameters */

/* Field by field: the hooks read enabled and wan_ifindex, the fast path
 * idle_timeout, without the lock (READ_ONCE). */
void mux_params_store(struct mux *m, const struct mux_params *p)
{
	WRITE_ONCE(m->p.idle_timeout, p->idle_timeout);
	m->p.pending_timeout = p->pending_timeout;
	m->p.drain_timeout = p->drain_timeout;
	m->p.max_per_host = p->max_per_host;
	m->p.max_per_peer = p->max_per_peer;
	m->p.max_mappings = p->max_mappings;
	m->p.hold_max = p->hold_max;
	m->p.zone_base = p->zone_base;
	m->p.zone_count = p->zone_count;
	m->p.keep_ike_port = p->keep_ike_port;
	memcpy(m->p.wan_name, p->wan_name, sizeof(m->p.wan_name));
	m->p.wan_name[sizeof(m->p.wan_name) - 1] = 0;
	WRITE_ONCE(m->p.wan_ifindex, p->wan_ifindex);
	WRITE_ONCE(m->p.enabled, p->enabled);
}

/*
 * mux_params_set - new parameters.  Enabling (or changing max_mappings or
 * zone_count while enabled) sizes the hash tables for them: allocated
 * here, before the lock, and the old ones freed after a grace period.  A
 * disabled netns keeps its tables (and its mappings) as they are.
 */
int mux_params_set(struct mux *m, const struct mux_params *p)
{
	struct mux_htab *nt[MUX_T_NUM] = { NULL };
	bool resize = false;
	int ret;

	if (!mux_params_valid(p))
		return -EINVAL;
	if (p->enabled) {
		ret = mux_tabs_alloc(m, p, nt);
		if (ret < 0)
			goto out_free;
		resize = ret > 0;
	}
	ret = 0;
	mux_lock(&m->lock);
	if (p->zone_base != m->p.zone_base || p->zone_count != m->p.zone_count) {
		/* zones are handed out by index: only change them when empty */
		if (m->n_pairs || m->zdirty_len || m->zflushing) {
			ret = -EBUSY;
			mux_unlock(&m->lock);
			goto out_free;
		}
		mux_params_store(m, p);
		mux_zones_reset(m);
	} else {
		mux_params_store(m, p);
	}
	if (resize)
		mux_tabs_replace(m, nt);
	mux_unlock(&m->lock);
	if (resize)
		synchronize_rcu();	/* no reader is in an old table */
out_free:
	mux_tabs_free(nt);
	return ret;
}

void mux_wan_ifindex_set(struct mux *m, u32 ifindex)
{
	mux_lock(&m->lock);
	WRITE_ONCE(m->p.wan_ifindex, ifindex);
	mux_unlock(&m->lock);
}

void mux_params_get(struct mux *m, struct mux_params *p)
{
	mux_lock(&m->lock);
	*p = m->p;
	mux_unlock(&m->lock);
}
