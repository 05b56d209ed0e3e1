// SPDX-License-Identifier: GPL-2.0
/*
 * dump.c: the mappings as netlink GET_MAPPINGS dumps them, one view each.
 */
#include "objects.h"

/* ------------------------------------------------------------------ dump */

u32 mux_dump(struct mux *m, u32 start, u64 now,
	     int (*fn)(void *ctx, const struct mux_view *v), void *ctx)
{
	struct mux_view v;
	struct mux_sa *sa;
	struct mux_ike *ik;
	u32 idx = 0;

	mux_lock(&m->lock);
	list_for_each_entry(sa, &m->sas, list) {
		if (idx++ < start)
			continue;
		memset(&v, 0, sizeof(v));
		v.kind = VPNPT_ESP_KIND_ESP;
		v.state = sa->state;
		v.reason = sa->reason;
		v.host = sa->pair->host;
		v.peer = sa->pair->peer;
		v.zone = sa->pair->zone;
		v.spi_out = sa->spi_out;
		v.spi_in = sa->spi_in;
		v.age_ms = now - sa->created;
		v.idle_ms = now - READ_ONCE(sa->last_seen);
		v.pkts_out = atomic64_read(&sa->pkts_out);
		v.pkts_in = atomic64_read(&sa->pkts_in);
		v.bytes_out = atomic64_read(&sa->bytes_out);
		v.bytes_in = atomic64_read(&sa->bytes_in);
		if (fn(ctx, &v))
			goto out;
	}
	list_for_each_entry(ik, &m->ikes, list) {
		if (idx++ < start)
			continue;
		memset(&v, 0, sizeof(v));
		v.kind = VPNPT_ESP_KIND_IKE;
		v.state = VPNPT_ESP_STATE_BOUND;
		v.reason = ik->reason;
		v.host = ik->pair->host;
		v.peer = ik->pair->peer;
		v.zone = ik->pair->zone;
		v.ike_version = ik->version;
		v.ispi = ik->ispi;
		v.rspi = ik->rspi;
		v.age_ms = now - ik->created;
		v.idle_ms = now - ik->last_seen;
		v.pkts_out = ik->pkts_out;
		v.pkts_in = ik->pkts_in;
		v.bytes_out = ik->bytes_out;
		v.bytes_in = ik->bytes_in;
		if (fn(ctx, &v))
			goto out;
	}
	idx++;
out:
	mux_unlock(&m->lock);
	return idx - 1;
}
