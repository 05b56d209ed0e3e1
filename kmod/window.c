// SPDX-License-Identifier: GPL-2.0
/*
 * window.c: a peer's bind window and what waits for it.  At most one LAN
 * host owns a peer's window at a time; other hosts' child-SA requests and
 * new outbound ESP to that peer are held (bounded per peer, per host and
 * per netns) and released, oldest host first, when it closes.  A window
 * lives pending_timeout once installed and at most MUX_WINDOW_MAX_FACTOR x
 * pending_timeout from its opening.  SPIs a peer sent while no window could
 * have produced them are remembered in its orphan ring.
 */
#include "objects.h"

/* ----------------------------------------------------------- bind window */

/* held_move - a held packet leaves @pe's queue (released or expired).
 * Caller holds m->lock. */
void mux_held_move(struct mux *m, struct mux_peer *pe, struct mux_held *h, struct list_head *to)
{
	lockdep_assert_held(&m->lock);
	list_move_tail(&h->node, to);
	pe->n_held--;
	h->ho->n_held--;
	WRITE_ONCE(m->n_held, m->n_held - 1);
	WRITE_ONCE(m->held_bytes, m->held_bytes - h->truesize);
	mux_obj_uncount(m, h, sizeof(*h));
}

/* The last moment @pe's window may live: MUX_WINDOW_MAX_FACTOR x
 * pending_timeout from its opening, whatever its owner sends after. */
u64 mux_window_cap(const struct mux *m, const struct mux_peer *pe)
{
	return pe->wopen + MUX_WINDOW_MAX_FACTOR * MS(m->p.pending_timeout);
}

/* window_extend - keep @pe's window until @until, never past its cap. */
void mux_window_extend(struct mux *m, struct mux_peer *pe, u64 until)
{
	u64 cap = mux_window_cap(m, pe);

	pe->deadline = until < cap ? until : cap;
}

/* window_close - close @pe's window and hand it to the oldest held host:
 * that host owns the window from now and its held packets are released.
 * Caller holds m->lock. */
void mux_window_close(struct mux *m, struct mux_peer *pe, u64 now)
{
	struct mux_held *h, *tmp;
	__be32 next;

	lockdep_assert_held(&m->lock);
	pe->owner = 0;
	pe->want = 0;
	pe->installed = false;
	if (list_empty(&pe->held))
		return;
	h = list_first_entry(&pe->held, struct mux_held, node);
	next = h->host;
	pe->owner = next;
	pe->wreason = h->reason;
	/* an esp-first window expects the one SA its ESP belongs to; an IKE
	 * window counts the exchanges as their (released) requests pass */
	pe->want = h->reason == VPNPT_ESP_REASON_ESP_FIRST ? 1 : 0;
	pe->installed = h->reason == VPNPT_ESP_REASON_ESP_FIRST;
	pe->wopen = now;
	pe->deadline = now + MS(m->p.pending_timeout);
	mux_count(m, VPNPT_ESP_C_WINDOW_OPENED);
	list_for_each_entry_safe(h, tmp, &pe->held, node) {
		if (h->host != next)
			continue;
		mux_held_move(m, pe, h, &m->released);
		mux_count(m, VPNPT_ESP_C_RELEASED);
	}
}

/* window_check - close @pe's window if it is over: at its deadline, or at
 * its cap as the parameters in force now compute it (a lower
 * pending_timeout shortens the windows already open). */
void mux_window_check(struct mux *m, struct mux_peer *pe, u64 now)
{
	u64 cap = mux_window_cap(m, pe);

	if (pe->owner && (now >= pe->deadline || now >= cap)) {
		mux_count(m, VPNPT_ESP_C_WINDOW_EXPIRED);
		if (now >= cap)
			mux_count(m, VPNPT_ESP_C_WINDOW_CAPPED);
		mux_window_close(m, pe, now);
	}
}

void mux_window_open(struct mux *m, struct mux_peer *pe, __be32 host, u8 reason, u64 now)
{
	pe->owner = host;
	pe->wreason = reason;
	pe->want = 0;
	pe->installed = reason == VPNPT_ESP_REASON_ESP_FIRST;	/* manual keys */
	pe->wopen = now;
	pe->deadline = now + MS(m->p.pending_timeout);
	mux_count(m, VPNPT_ESP_C_WINDOW_OPENED);
}

/* No unknown SPI of @pe is bound before @until (never shortened). */
void mux_peer_contend(struct mux_peer *pe, u64 until)
{
	if (until > pe->contended_until)
		pe->contended_until = until;
}

bool mux_orphan_seen(const struct mux_peer *pe, u32 spi)
{
	int i;

	for (i = 0; i < MUX_ORPHANS; i++)
		if (pe->orphan[i] == spi)
			return true;
	return false;
}

/* orphan_note - remember an unbound SPI of a peer a LAN host talks to
 * (unsolicited ESP from a peer no host talks to allocates nothing: it has no
 * peer object). */
void mux_orphan_note(struct mux_peer *pe, u32 spi)
{
	if (!spi || mux_orphan_seen(pe, spi))
		return;
	pe->remembers = true;
	pe->orphan[pe->orphan_next] = spi;
	pe->orphan_next = (pe->orphan_next + 1) % MUX_ORPHANS;
}

static u32 hold_per_host(const struct mux *m)
{
	return m->p.hold_max / 4 ? m->p.hold_max / 4 : 1;
}

/* hold - keep a packet of @ho until @pe's window is free for it.  Bounded
 * per peer (hold_max), per host (a quarter of it: one host cannot fill a
 * peer's queue) and per netns in packets and bytes. */
enum mux_verdict mux_hold(struct mux *m, struct mux_peer *pe, struct mux_host *ho, u8 reason,
			     const struct mux_pkt *pkt, u64 now, void *cookie, void *aux)
{
	struct mux_held *h;

	lockdep_assert_held(&m->lock);
	if (!cookie || pe->n_held >= m->p.hold_max) {
		mux_count(m, VPNPT_ESP_C_HOLD_FULL);
		return MUX_DROP;
	}
	if (ho->n_held >= hold_per_host(m)) {
		mux_count(m, VPNPT_ESP_C_QUOTA_HOST_HELD);
		return MUX_DROP;
	}
	if (m->n_held >= MUX_HELD_MAX || m->held_bytes + pkt->truesize > MUX_HELD_BYTES_MAX) {
		mux_count(m, VPNPT_ESP_C_HELD_LIMIT);
		return MUX_DROP;
	}
	h = mux_obj_alloc(m, sizeof(*h));
	if (unlikely(!h))
		return MUX_DROP;
	h->host = ho->addr;
	h->ho = ho;
	h->reason = reason;
	/* outlives the windows of the hosts queued before it */
	h->expires = now + (MUX_INFLIGHT_FACTOR + 1) * MS(m->p.pending_timeout);
	h->truesize = pkt->truesize;
	h->cookie = cookie;
	h->aux = aux;
	list_add_tail(&h->node, &pe->held);
	pe->n_held++;
	ho->n_held++;
	WRITE_ONCE(m->n_held, m->n_held + 1);
	WRITE_ONCE(m->held_bytes, m->held_bytes + pkt->truesize);
	mux_count(m, VPNPT_ESP_C_HELD);
	return MUX_HOLD;
}

/* A pending SA whose window is over: the binding rule says its peer answers
 * within that window, so this one is a stray (a host whose SA the peer does
 * not have), and no longer counts. */
bool mux_sa_window_over(const struct mux_sa *sa)
{
	const struct mux_peer *pe = sa->pair->pe;

	return pe->owner != sa->pair->host || pe->wopen != sa->wopen;
}

void mux_take_released(struct mux *m, struct list_head *out)
{
	mux_lock(&m->lock);
	list_splice_tail_init(&m->released, out);
	mux_unlock(&m->lock);
}

void mux_take_expired(struct mux *m, struct list_head *out)
{
	mux_lock(&m->lock);
	list_splice_tail_init(&m->expired, out);
	mux_unlock(&m->lock);
}
