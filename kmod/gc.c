// SPDX-License-Identifier: GPL-2.0
/*
 * gc.c: expiry (every second, from pernet.c's work), FLUSH, and the end of
 * a blind period.  Windows first, then pending SAs whose window is over,
 * idle and drained SAs, idle IKE SAs, unused pairs, peers and hosts.
 */
#include "objects.h"

/* ------------------------------------------------------------ expiry, gc */

void mux_gc(struct mux *m, u64 now)
{
	struct mux_sa *sa, *sat;
	struct mux_ike *ik, *ikt;
	struct mux_pair *pr, *prt;
	struct mux_peer *pe, *pet;
	struct mux_host *ho, *hot;
	struct mux_held *h, *ht;
	u64 idle = MS(m->p.idle_timeout), pend = MS(m->p.pending_timeout);
	u64 drain = MS(m->p.drain_timeout);

	mux_lock(&m->lock);
	/* windows first: a pending SA whose window just ended expires now */
	list_for_each_entry_safe(pe, pet, &m->peers, list) {
		mux_window_check(m, pe, now);
		list_for_each_entry_safe(h, ht, &pe->held, node) {
			if (now >= h->expires) {
				mux_held_move(m, pe, h, &m->expired);
				mux_count(m, VPNPT_ESP_C_HOLD_EXPIRED);
			}
		}
	}
	list_for_each_entry_safe(sa, sat, &m->sas, list) {
		u64 seen = READ_ONCE(sa->last_seen);

		switch (sa->state) {
		case VPNPT_ESP_STATE_PENDING:
			/* The peer did not answer within the window the SA was
			 * made in, so by the binding rule it never will (a
			 * stale or hostile host).  Neither its age nor its
			 * host's own packets keep it: a pending SA makes every
			 * other host's bind at this peer ambiguous.  The host's
			 * next packet asks for a new window, behind the others. */
			if (mux_sa_window_over(sa)) {
				mux_count(m, VPNPT_ESP_C_EXPIRED_PENDING);
				mux_sa_free(m, sa, true);
			}
			break;
		case VPNPT_ESP_STATE_BOUND:
			if (mux_since(now, seen) >= idle) {
				mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
				mux_sa_free(m, sa, false);
			}
			break;
		case VPNPT_ESP_STATE_DRAINING:
			if (mux_since(now, sa->drain_start) < drain)
				break;
			if (mux_since(now, seen) < drain / 2) {
				/* still carrying traffic: a parallel child SA,
				 * not the one the rekey replaced */
				WRITE_ONCE(sa->state, VPNPT_ESP_STATE_BOUND);
				mux_count(m, VPNPT_ESP_C_DRAIN_REVIVED);
			} else {
				mux_count(m, VPNPT_ESP_C_DRAINED);
				mux_sa_free(m, sa, true);
			}
			break;
		}
	}
	list_for_each_entry_safe(ik, ikt, &m->ikes, list) {
		if (mux_since(now, ik->last_seen) >= idle) {
			mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
			mux_ike_free(m, ik);
		}
	}
	list_for_each_entry_safe(pr, prt, &m->pairs, list) {
		if (pr->n_sa || pr->n_ike || mux_since(now, pr->last_seen) < pend ||
		    pr->pe->owner == pr->host)
			continue;
		mux_pair_free(m, pr, now);
	}
	list_for_each_entry_safe(pe, pet, &m->peers, list) {
		/* kept only while it remembers orphans, idle_timeout at most */
		if (!mux_peer_unused(pe, now) || (pe->remembers && mux_since(now, pe->last_seen) < idle))
			continue;
		mux_peer_free(m, pe);
	}
	list_for_each_entry_safe(ho, hot, &m->hosts, list) {
		if (ho->n_pairs || ho->n_held)
			continue;
		mux_host_free(m, ho);
	}
	mux_unlock(&m->lock);
}

bool mux_idle(struct mux *m)
{
	bool idle;

	mux_lock(&m->lock);
	idle = !m->n_sa && !m->n_ike && !m->n_pairs && !m->n_peers && !m->n_hosts &&
	       !m->n_held && !m->zdirty_len && !m->zflushing;
	mux_unlock(&m->lock);
	return idle;
}

/* mux_flush - forget every mapping; held packets are dropped. */
void mux_flush(struct mux *m, u64 now)
{
	u64 old = now - MS(m->p.pending_timeout) - 1;
	struct mux_sa *sa, *sat;
	struct mux_ike *ik, *ikt;
	struct mux_held *h, *ht;
	struct mux_pair *pr;
	struct mux_peer *pe;

	mux_lock(&m->lock);
	list_for_each_entry_safe(sa, sat, &m->sas, list)
		mux_sa_free(m, sa, true);
	list_for_each_entry_safe(ik, ikt, &m->ikes, list)
		mux_ike_free(m, ik);
	list_for_each_entry(pe, &m->peers, list) {
		pe->owner = 0;
		pe->want = 0;
		pe->installed = false;
		list_for_each_entry_safe(h, ht, &pe->held, node)
			mux_held_move(m, pe, h, &m->expired);
		/* exchanges in flight finish unseen now, as in a WAN outage:
		 * the peer is kept and binds nothing for a while, so that
		 * its new SAs show up as orphans first (mux_blind_end) */
		mux_peer_contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
	}
	/* pairs, peers and hosts are unused now: let gc free them at once */
	list_for_each_entry(pr, &m->pairs, list)
		pr->last_seen = old;
	mux_unlock(&m->lock);
	mux_gc(m, now);
}

/*
 * mux_blind_end - the module starts seeing the WAN again (the interface came
 * back or changed, or multiplexing was switched on again): SAs negotiated
 * meanwhile were never seen, and their first ESP would be bound to whichever
 * host owns a window when it arrives.  Every known peer binds nothing for a
 * while, so that those SPIs show up and are remembered as orphans first.
 */
void mux_blind_end(struct mux *m, u64 now)
{
	struct mux_peer *pe;

	mux_lock(&m->lock);
	list_for_each_entry(pe, &m->peers, list)
		mux_peer_contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
	mux_unlock(&m->lock);
}
