// SPDX-License-Identifier: GPL-2.0
/*
 * dump.c: the mappings as netlink GET_MAPPINGS dumps them, one view each.
 *
 * A dump takes many netlink messages, and the lock only while it fills one.
 * It walks the hash tables by bucket and resumes where the last message
 * ended (struct mux_dump_pos): the cost of a message does not grow with its
 * position in the dump.  Entries that enter or leave the tables between two
 * messages may be missed or taken twice; m->dump_gen says it happened
 * (netlink.c marks the dump NLM_F_DUMP_INTR, the reader may retry).
 */
#include "objects.h"

/* ------------------------------------------------------------------ dump */

static void view_sa(struct mux_view *v, const struct mux_sa *sa, u64 now)
{
	memset(v, 0, sizeof(*v));
	v->kind = VPNPT_ESP_KIND_ESP;
	v->state = sa->state;
	v->reason = sa->reason;
	v->host = sa->host;
	v->peer = sa->peer;
	v->zone = sa->zone;
	v->spi_out = sa->spi_out;
	v->spi_in = sa->spi_in;
	v->age_ms = mux_since(now, sa->created);
	v->idle_ms = mux_since(now, READ_ONCE(sa->last_seen));
	v->pkts_out = atomic64_read(&sa->pkts_out);
	v->pkts_in = atomic64_read(&sa->pkts_in);
	v->bytes_out = atomic64_read(&sa->bytes_out);
	v->bytes_in = atomic64_read(&sa->bytes_in);
}

static void view_ike(struct mux_view *v, const struct mux_ike *ik, u64 now)
{
	memset(v, 0, sizeof(*v));
	v->kind = VPNPT_ESP_KIND_IKE;
	v->state = VPNPT_ESP_STATE_BOUND;
	v->reason = ik->reason;
	v->host = ik->pair->host;
	v->peer = ik->pair->peer;
	v->zone = ik->pair->zone;
	v->ike_version = ik->version;
	v->ispi = ik->ispi;
	v->rspi = ik->rspi;
	v->age_ms = mux_since(now, ik->created);
	v->idle_ms = mux_since(now, ik->last_seen);
	v->pkts_out = ik->pkts_out;
	v->pkts_in = ik->pkts_in;
	v->bytes_out = ik->bytes_out;
	v->bytes_in = ik->bytes_in;
}

/* The view of the @i-th entry of @chain in @phase, if that entry is one the
 * phase dumps; false past the chain's end.  *@skip: not dumped here (an SA
 * with an outbound SPI in the inbound table: taken from the outbound one). */
static bool chain_entry(struct hlist_head *chain, u32 phase, u32 i, u64 now,
			struct mux_view *v, bool *skip)
{
	struct mux_sa *sa;
	struct mux_ike *ik;

	*skip = false;
	switch (phase) {
	case MUX_DUMP_OUT:
		hlist_for_each_entry(sa, chain, out_node)
			if (!i--) {
				view_sa(v, sa, now);
				return true;
			}
		return false;
	case MUX_DUMP_IN_ONLY:
		hlist_for_each_entry(sa, chain, in_node)
			if (!i--) {
				*skip = !hlist_unhashed(&sa->out_node);
				if (!*skip)
					view_sa(v, sa, now);
				return true;
			}
		return false;
	default:
		hlist_for_each_entry(ik, chain, hnode)
			if (!i--) {
				view_ike(v, ik, now);
				return true;
			}
		return false;
	}
}

static const enum mux_tab phase_tab[] = {
	[MUX_DUMP_OUT] = MUX_T_OUT,
	[MUX_DUMP_IN_ONLY] = MUX_T_IN,
	[MUX_DUMP_IKE] = MUX_T_IKE,
};

u32 mux_dump(struct mux *m, struct mux_dump_pos *pos, u64 now,
	     int (*fn)(void *ctx, const struct mux_view *v), void *ctx, u32 *gen)
{
	struct mux_view v;
	u32 taken = 0;
	bool skip;

	mux_lock(&m->lock);
	if (gen)
		*gen = m->dump_gen;
	while (pos->phase < MUX_DUMP_DONE) {
		struct mux_htab *h = mux_tab_locked(m, phase_tab[pos->phase]);

		while (pos->bucket < h->n) {
			/* the chain from its pos->skip-th entry; a chain holds
			 * about one entry (tables sized from max_mappings) */
			while (chain_entry(&h->b[pos->bucket], pos->phase, pos->skip, now, &v, &skip)) {
				if (!skip) {
					if (fn(ctx, &v))
						goto out;
					taken++;
				}
				pos->skip++;
			}
			pos->bucket++;
			pos->skip = 0;
		}
		pos->phase++;
		pos->bucket = 0;
	}
out:
	mux_unlock(&m->lock);
	return taken;
}
