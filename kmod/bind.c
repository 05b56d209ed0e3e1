// SPDX-License-Identifier: GPL-2.0
/*
 * bind.c: which LAN host an ESP packet belongs to, decided without guessing.
 *
 * ESP (RFC 4303) has no ports: the only demultiplexing field is the 32-bit
 * SPI, and it is chosen by the *receiver* of each direction.  A NAT in front
 * of two LAN hosts that talk to one peer R therefore sees:
 *
 *   H1 -> R  spi_out chosen by R (unique at R)
 *   R  -> H1 spi_in  chosen by H1 (H2 may choose the same value!)
 *
 * Nothing in an ESP packet from R says which LAN host negotiated its SPI; the
 * SA payloads that carried it are encrypted inside IKE.  What is visible is
 * the IKE header: which host runs which IKE SA with R, and when a child-SA
 * exchange (IKEv2 IKE_AUTH/CREATE_CHILD_SA, IKEv1 Quick Mode) is in flight.
 *
 * The rule (DESIGN.md explains it at length):
 *   - a *bind window* per peer R belongs to at most one LAN host H at a time;
 *     it opens when a child-SA exchange between H and R starts (or, with no
 *     IKE seen, when H sends ESP on an SPI never seen before: "esp-first");
 *   - an inbound SPI from R that is not bound yet is bound to the window's
 *     owner, and to no one when no window is open (nothing is allocated);
 *   - while H1 owns R's window, H2's child-SA request to/from R and H2's new
 *     outbound ESP to R are held (bounded queue, timeout) until the window
 *     closes, so R can never be answering two hosts' negotiations at once;
 *   - inbound ESP is looked up by (R, SPI), never by SPI alone.
 *
 * Every (host, peer) pair gets its own conntrack zone; the hooks put each
 * packet in its pair's zone and ordinary conntrack NAT does the rewriting.
 */
#include "objects.h"
#include "parse.h"

/* ------------------------------------------------------------------- ESP */

static void sa_account(struct mux_sa *sa, const struct mux_pkt *pkt, u64 now)
{
	if (pkt->dir == MUX_DIR_OUT) {
		atomic64_inc(&sa->pkts_out);
		atomic64_add(pkt->len, &sa->bytes_out);
	} else {
		atomic64_inc(&sa->pkts_in);
		atomic64_add(pkt->len, &sa->bytes_in);
	}
	if (READ_ONCE(sa->last_seen) != now)
		WRITE_ONCE(sa->last_seen, now);
}

/* An SA silent for idle_timeout is gone at both ends (the binding rule's
 * assumption), also in the moments before gc removes it. */
static bool sa_idle(const struct mux *m, const struct mux_sa *sa, u64 now)
{
	return mux_since(now, READ_ONCE(sa->last_seen)) >= MS(READ_ONCE(m->p.idle_timeout));
}

/* esp_out_pending - a host's ESP on its pending SA @sa.  Within the window
 * it was made in, it goes out.  Once that window is over the SA is a stray
 * until gc removes it, and its next packet asks for a window as a new SPI
 * would: while another host owns the peer's window the peer's answer would
 * be bound to that host.  Caller holds m->lock. */
static enum mux_verdict esp_out_pending(struct mux *m, struct mux_sa *sa,
					const struct mux_pkt *pkt, u64 now, void *cookie,
					void *aux, u16 *zone)
{
	struct mux_pair *pr = sa->pair;
	struct mux_peer *pe = pr->pe;

	lockdep_assert_held(&m->lock);
	mux_window_check(m, pe, now);
	if (mux_sa_window_over(sa)) {
		if (pe->owner && pe->owner != pr->host)
			return mux_hold(m, pe, pr->ho, VPNPT_ESP_REASON_ESP_FIRST, pkt, now,
				    cookie, aux);
		if (!pe->owner) {
			mux_window_open(m, pe, pr->host, VPNPT_ESP_REASON_ESP_FIRST, now);
			pe->want = 1;
		}
		sa->reason = pe->wreason;
		sa->wopen = pe->wopen;	/* in the host's window from now */
	}
	sa_account(sa, pkt, now);
	*zone = pr->zone;
	return MUX_ZONE;
}

/* esp_out_slow - @host sends ESP to @peer on an SPI not known for it.
 * Caller holds m->lock. */
static enum mux_verdict esp_out_slow(struct mux *m, const struct mux_pkt *pkt, u64 now,
				     void *cookie, void *aux, u16 *zone)
{
	__be32 host = pkt->src, peer = pkt->dst;
	struct mux_sa *sa, *other;
	struct mux_pair *pr;
	struct mux_peer *pe;

	lockdep_assert_held(&m->lock);
	other = mux_out_lookup(m, peer, pkt->spi);
	if (other && other->state != VPNPT_ESP_STATE_PENDING && sa_idle(m, other, now)) {
		/* gone at both ends: R may have given the SPI to a new SA */
		mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
		mux_sa_free(m, other, false);
		other = NULL;
	}
	if (other && other->pair->host == host) {
		if (other->state == VPNPT_ESP_STATE_PENDING)
			return esp_out_pending(m, other, pkt, now, cookie, aux, zone);
		sa_account(other, pkt, now);		/* raced with another CPU */
		*zone = other->pair->zone;
		return MUX_ZONE;
	}
	pr = mux_pair_get(m, host, peer, now);
	if (!pr)
		return MUX_DROP;	/* never let a LAN host's ESP fall into zone 0 */
	pr->last_seen = now;
	*zone = pr->zone;
	if (unlikely(other)) {
		/* The peer allocates its inbound SPIs: a second host using one
		 * is misconfigured (or spoofing).  Its packets still go out in
		 * its own zone; the SPI stays with the first host. */
		mux_count(m, VPNPT_ESP_C_COLLISION_OUT);
		return MUX_ZONE;
	}

	/* (a) the peer already started this SA: its inbound SPI is bound */
	list_for_each_entry(sa, &pr->sas, pair_node) {
		if (!sa->spi_out && sa->state == VPNPT_ESP_STATE_BOUND) {
			mux_sa_set_out(m, sa, pkt->spi);
			sa_account(sa, pkt, now);
			mux_count(m, VPNPT_ESP_C_ESP_OUT_NEW_SPI);
			return MUX_ZONE;
		}
	}

	/* (b) a new SA: it needs the peer's window */
	pe = pr->pe;
	mux_window_check(m, pe, now);
	if (pe->owner && pe->owner != host)
		return mux_hold(m, pe, pr->ho, VPNPT_ESP_REASON_ESP_FIRST, pkt, now, cookie, aux);
	sa = mux_sa_new(m, pr, VPNPT_ESP_STATE_PENDING, VPNPT_ESP_REASON_ESP_FIRST, now);
	if (!sa)
		return MUX_DROP;	/* a quota: no window for an SA we cannot keep */
	if (!pe->owner) {
		mux_window_open(m, pe, host, VPNPT_ESP_REASON_ESP_FIRST, now);
		pe->want = 1;
	}
	sa->reason = pe->wreason;
	sa->wopen = pe->wopen;
	mux_sa_set_out(m, sa, pkt->spi);
	sa_account(sa, pkt, now);
	mux_count(m, VPNPT_ESP_C_ESP_OUT_NEW_SPI);
	return MUX_ZONE;
}

/* esp_in_slow - ESP from @peer on an SPI not bound yet.  Never allocates
 * anything unless @peer's window is open for a LAN host.  Caller holds m->lock. */
static enum mux_verdict esp_in_slow(struct mux *m, const struct mux_pkt *pkt, u64 now, u16 *zone)
{
	__be32 peer = pkt->src;
	struct mux_sa *sa, *found = NULL;
	struct mux_pair *pr;
	struct mux_peer *pe;
	bool ambiguous = false, orphan;

	lockdep_assert_held(&m->lock);
	sa = mux_in_lookup(m, peer, pkt->spi);
	if (sa) {				/* raced with another CPU */
		sa_account(sa, pkt, now);
		*zone = sa->pair->zone;
		return MUX_ZONE;
	}
	pe = mux_peer_lookup(m, peer);
	if (!pe) {
		mux_count(m, VPNPT_ESP_C_ESP_IN_UNKNOWN);	/* unsolicited */
		return MUX_PASS;
	}
	mux_window_check(m, pe, now);
	orphan = mux_orphan_seen(pe, pkt->spi);
	if (orphan)
		/* The peer still sends on an SPI no host may be given: keep
		 * remembering it (gc keeps a peer for its orphans idle_timeout
		 * after it was last seen), or after a FLUSH the forgotten SA
		 * of one host would be bound in the next window of another. */
		pe->last_seen = now;
	if (!pe->owner || !pe->want || !pe->installed) {
		/* An SA whose negotiation we never saw, or a window whose
		 * exchange has not reached the point where the peer installs
		 * the SA: this SPI cannot be the owner's new SA. */
		mux_count(m, VPNPT_ESP_C_ESP_IN_UNKNOWN);
		mux_orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (orphan) {
		/* seen before this window could have produced it */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		return MUX_PASS;
	}
	if (m->ops.local_spi && m->ops.local_spi(m->ops.ctx, pkt->dst, pkt->spi)) {
		/* the router's own SA with this peer: not a LAN host's */
		mux_count(m, VPNPT_ESP_C_BIND_LOCAL_SKIP);
		return MUX_PASS;
	}
	pr = mux_pair_get(m, pe->owner, peer, now);
	if (!pr) {
		mux_orphan_note(pe, pkt->spi);	/* not bound: remember it */
		return MUX_DROP;
	}

	list_for_each_entry(sa, &pe->pending, pend_node) {
		if (sa->pair == pr) {
			if (!found)
				found = sa;	/* oldest pending SA of the owner */
		} else if (!mux_sa_window_over(sa)) {
			/* another host also waits for one (a pending SA whose
			 * window is over is a stray: gc removes it, and until
			 * then it must not refuse this one) */
			ambiguous = true;
		}
	}
	if (ambiguous || mux_peer_contended(pe, now)) {
		/* Two hosts could own this SPI: another host's SA is still
		 * unbound, or another host's exchange finished late, after its
		 * window.  Refuse: a lost packet, never a cross-delivery. */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		mux_orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (!found && pe->wreason == VPNPT_ESP_REASON_ESP_FIRST) {
		/* Manual keys: the host speaks first, so its new SA is a
		 * pending one.  There is none yet (the window just passed to
		 * it and its packet is on its way back through the hook): R
		 * has not seen that packet, and this SPI is someone else's. */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		mux_orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (!found) {
		found = mux_sa_new(m, pr, VPNPT_ESP_STATE_BOUND, pe->wreason, now);
		if (!found) {
			/* a quota: not bound, so remembered, or the peer's next
			 * packet on it would be bound to the next window's owner */
			mux_orphan_note(pe, pkt->spi);
			return MUX_DROP;
		}
	}
	WRITE_ONCE(found->state, VPNPT_ESP_STATE_BOUND);
	list_del_init(&found->pend_node);
	found->reason = pe->wreason;
	found->bound_at = now;
	mux_sa_set_in(m, found, pkt->spi);
	sa_account(found, pkt, now);
	mux_count(m, pe->wreason == VPNPT_ESP_REASON_IKE ?
		  VPNPT_ESP_C_BIND_IKE : VPNPT_ESP_C_BIND_FALLBACK);

	/* a rekey: SAs of this pair bound before this window start draining */
	list_for_each_entry(sa, &pr->sas, pair_node) {
		if (sa != found && sa->state == VPNPT_ESP_STATE_BOUND &&
		    sa->bound_at < pe->wopen) {
			WRITE_ONCE(sa->state, VPNPT_ESP_STATE_DRAINING);
			sa->drain_start = now;
		}
	}

	if (pe->want <= 1)
		mux_window_close(m, pe, now);
	else
		pe->want--;
	*zone = pr->zone;
	return MUX_ZONE;
}

/* ------------------------------------------------------------------- IKE */

/* ike_is_start - is this message the first of a child-SA exchange we have
 * not admitted yet?  Retransmissions and later messages are not. */
static bool ike_is_start(const struct mux_ike *ik, const struct mux_pkt *pkt)
{
	const struct ike_info *i = &pkt->ike;

	if (!i->child)
		return false;
	if (i->version == 1)
		return i->msgid != ik->qm_msgid[0] && i->msgid != ik->qm_msgid[1];
	if (i->response)
		return false;
	if (i->exch == IKEV2_EXCH_AUTH)
		return !ik->auth_seen;		/* EAP rounds: one child SA */
	return !ik->req_valid[pkt->dir] || ik->req_msgid[pkt->dir] != i->msgid;
}

static void ike_admit(struct mux_ike *ik, const struct mux_pkt *pkt)
{
	const struct ike_info *i = &pkt->ike;

	if (i->version == 1) {
		ik->qm_msgid[1] = ik->qm_msgid[0];
		ik->qm_msgid[0] = i->msgid;
	} else if (i->exch == IKEV2_EXCH_AUTH) {
		ik->auth_seen = true;
	} else {
		ik->req_valid[pkt->dir] = true;
		ik->req_msgid[pkt->dir] = i->msgid;
	}
}

/* ike_attribute - the IKE SA a message belongs to, keyed by (peer, full
 * 64-bit initiator SPI).  Created from a LAN host's own message only; a
 * message from the peer naming an IKE SA we never saw (the peer rekeyed the
 * IKE SA and speaks first on the new one) is not attributed.  Caller holds
 * m->lock. */
static struct mux_ike *ike_attribute(struct mux *m, const struct mux_pkt *pkt, u64 now)
{
	const struct ike_info *i = &pkt->ike;
	__be32 host, peer;
	struct mux_pair *pr;
	struct mux_peer *pe;
	struct mux_ike *ik;
	u8 reason;

	lockdep_assert_held(&m->lock);
	if (pkt->dir == MUX_DIR_OUT) {
		host = pkt->src;
		peer = pkt->dst;
	} else {
		host = 0;
		peer = pkt->src;
	}
	ik = mux_ike_lookup(m, peer, i->ispi);
	if (ik) {
		if (host && ik->pair->host != host) {
			/* two hosts chose the same 64-bit initiator SPI */
			mux_count(m, VPNPT_ESP_C_IKE_COLLISION);
			return NULL;
		}
		return ik;
	}
	if (!host) {
		/* Never guessed, not even when one host alone talks IKE to
		 * this peer: an expired or unseen IKE SA may be anyone's. */
		mux_count(m, VPNPT_ESP_C_IKE_UNKNOWN);
		return NULL;
	}
	reason = VPNPT_ESP_REASON_IKE_OUT;
	/* the table's and the peer's limits before a pair (a zone) is taken */
	if (unlikely(m->n_sa + m->n_ike >= m->p.max_mappings)) {
		mux_count(m, VPNPT_ESP_C_TABLE_FULL);
		return NULL;
	}
	pe = mux_peer_lookup(m, peer);
	if (unlikely(pe && pe->n_sa + pe->n_ike >= m->p.max_per_peer)) {
		mux_count(m, VPNPT_ESP_C_QUOTA_PEER);
		return NULL;
	}
	pr = mux_pair_get(m, host, peer, now);
	if (!pr)
		return NULL;
	pe = pr->pe;
	if (pr->ho->n_ike >= m->p.max_per_host) {
		/* a host's IKE SAs beyond its quota: its own least recently
		 * used one goes (a reconnecting client's stale ones), never
		 * another host's */
		mux_ike_free(m, list_first_entry(&pr->ho->ikes, struct mux_ike, host_node));
		mux_count(m, VPNPT_ESP_C_IKE_EVICTED);
	}
	return mux_ike_new(m, pr, i, reason, now);
}

/* ike_slow - an IKE message: attribute it, follow its child-SA exchange.
 * Caller holds m->lock. */
static enum mux_verdict ike_slow(struct mux *m, const struct mux_pkt *pkt, u64 now,
				 void *cookie, void *aux, u16 *zone)
{
	const struct ike_info *i = &pkt->ike;
	struct mux_peer *pe;
	struct mux_ike *ik;
	__be32 host;

	lockdep_assert_held(&m->lock);
	mux_count(m, pkt->dir == MUX_DIR_OUT ? VPNPT_ESP_C_IKE_OUT : VPNPT_ESP_C_IKE_IN);
	ik = ike_attribute(m, pkt, now);
	if (!ik) {
		if (!i->child)
			return MUX_PASS;
		if (pkt->dir == MUX_DIR_OUT)
			/* A child SA we could not follow (quota, collision)
			 * would bind blindly later: it does not pass. */
			return MUX_DROP;
		/* a peer negotiates with some host we cannot name: no
		 * unknown SPI of this peer is bound for a while */
		pe = mux_peer_lookup(m, pkt->src);
		if (pe)
			mux_peer_contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
		return MUX_PASS;
	}
	host = ik->pair->host;
	if (!ik->rspi && i->rspi)
		ik->rspi = i->rspi;
	ik->last_seen = now;
	list_move_tail(&ik->host_node, &ik->pair->ho->ikes);
	ik->pair->last_seen = now;
	if (pkt->dir == MUX_DIR_OUT) {
		ik->pkts_out++;
		ik->bytes_out += pkt->len;
	} else {
		ik->pkts_in++;
		ik->bytes_in += pkt->len;
	}

	if (i->child) {
		pe = ik->pair->pe;
		mux_window_check(m, pe, now);
		if (ike_is_start(ik, pkt)) {
			if (pe->owner && pe->owner != host)
				return mux_hold(m, pe, ik->pair->ho, VPNPT_ESP_REASON_IKE, pkt, now,
					    cookie, aux);
			if (!pe->owner)
				mux_window_open(m, pe, host, VPNPT_ESP_REASON_IKE, now);
			pe->wreason = VPNPT_ESP_REASON_IKE;
			pe->want++;
			/* until the answer comes the peer cannot send on it; an
			 * exchange in flight keeps the window to its cap */
			pe->installed = false;
			mux_window_extend(m, pe, mux_window_cap(m, pe));
			ike_admit(ik, pkt);
			mux_count(m, VPNPT_ESP_C_CHILD_EXCHANGES);
		} else if (pe->owner == host) {
			/* IKEv2: the response; IKEv1: Quick Mode 2 or 3.  From
			 * here the peer may send on the new SA. */
			if (i->version == 1 || i->response) {
				pe->installed = true;
				mux_window_extend(m, pe, now + MS(m->p.pending_timeout));
			} else {
				mux_window_extend(m, pe, mux_window_cap(m, pe));
			}
			/* a held late message released: its SA is still to come */
			if (!pe->want)
				pe->want = 1;
		} else if (pe->owner || pkt->dir == MUX_DIR_IN) {
			/* A message of an exchange admitted earlier (or started
			 * before we loaded) while its window is over: another host
			 * owns the window, or nobody does yet.  From the host:
			 * hold it behind the owner, the peer cannot install the SA
			 * before it has the answer.  From the peer: it may have
			 * installed an SA for this host already, so no unknown SPI
			 * of this peer is bound until that settles (the next
			 * window, whoever opens it, would take it). */
			mux_count(m, VPNPT_ESP_C_WINDOW_CONFLICT);
			if (pkt->dir == MUX_DIR_OUT)
				return mux_hold(m, pe, ik->pair->ho, VPNPT_ESP_REASON_IKE, pkt, now,
					    cookie, aux);
			mux_peer_contend(pe, (pe->owner ? pe->deadline : now) + MS(m->p.pending_timeout));
		}
	}
	if (m->p.keep_ike_port && !pkt->natt) {
		*zone = ik->pair->zone;
		return MUX_ZONE;
	}
	return MUX_PASS;
}

/* ------------------------------------------------------------ ICMP errors */

/* An ICMP error quoting ESP goes where the quoted packet came from. */
static enum mux_verdict icmp_classify(struct mux *m, const struct mux_pkt *pkt, u16 *zone)
{
	struct mux_sa *sa;

	if (pkt->dir == MUX_DIR_IN) {
		/* e.g. a router on the path: quotes our (WAN -> peer, spi_out) */
		sa = mux_out_lookup(m, pkt->inner_dst, pkt->spi);
	} else {
		/* a LAN host: quotes (peer -> host, spi_in) */
		sa = mux_in_lookup(m, pkt->inner_src, pkt->spi);
		if (sa && sa->host != pkt->src)
			sa = NULL;
	}
	if (!sa) {
		mux_count(m, VPNPT_ESP_C_ICMP_UNKNOWN);
		return MUX_PASS;
	}
	mux_count(m, VPNPT_ESP_C_ICMP_MAPPED);
	*zone = sa->zone;
	return MUX_ZONE;
}

/* ------------------------------------------------------------- classify */

/*
 * The direction rule mux_parse() left to us for ESP (pkt->local_later):
 * two route lookups a packet, about 8 % of the router's CPU per forwarded
 * packet (bench/README.md, vm_pps).  A bound SA's (host, peer) found not
 * local at generation g (pkt->local_gen, read by the caller before these
 * lookups: a change during them leaves an older one stored, and the next
 * packet asks again) stays so until the generation moves (any address or
 * route change); an inbound packet's destination likewise (one WAN
 * address, nearly always).
 */
static bool esp_out_local_ok(struct mux *m, struct mux_sa *sa, const struct mux_pkt *pkt)
{
	if (!pkt->local_later || READ_ONCE(sa->local_gen) == pkt->local_gen)
		return true;	/* its host and peer: pkt->src and pkt->dst */
	if (!mux_direction_ok(m, pkt))
		return false;
	WRITE_ONCE(sa->local_gen, pkt->local_gen);
	return true;
}

static bool esp_in_local_ok(struct mux *m, const struct mux_pkt *pkt)
{
	u64 key;

	if (!pkt->local_later)
		return true;
	key = (u64)pkt->local_gen << 32 | (__force u32)pkt->dst;
	if (READ_ONCE(m->local_in) == key)
		return true;
	if (!mux_direction_ok(m, pkt))
		return false;
	WRITE_ONCE(m->local_in, key);
	return true;
}

/*
 * mux_classify - the verdict for one packet.  Bound SAs are answered under
 * RCU alone; the rest takes m->lock.  On MUX_HOLD the table keeps @cookie
 * and @aux and hands them back through mux_take_released/expired.
 */
enum mux_verdict mux_classify(struct mux *m, const struct mux_pkt *pkt, u64 now,
			      void *cookie, void *aux, u16 *zone)
{
	enum mux_verdict v;
	struct mux_sa *sa;

	switch (pkt->type) {
	case MUX_PKT_ESP:
		if (pkt->dir == MUX_DIR_OUT) {
			sa = mux_out_lookup(m, pkt->dst, pkt->spi);
			/* a pending SA takes the lock (its window may be over),
			 * and so does an idle one (gone, not collected yet) */
			if (likely(sa && sa->host == pkt->src &&
				   READ_ONCE(sa->state) != VPNPT_ESP_STATE_PENDING &&
				   !sa_idle(m, sa, now))) {
				if (unlikely(!esp_out_local_ok(m, sa, pkt)))
					return MUX_NOT_OURS;
				mux_count(m, VPNPT_ESP_C_ESP_OUT);
				sa_account(sa, pkt, now);
				*zone = sa->zone;
				return MUX_ZONE;
			}
		} else {
			sa = mux_in_lookup(m, pkt->src, pkt->spi);
			if (likely(sa)) {
				if (unlikely(!esp_in_local_ok(m, pkt)))
					return MUX_NOT_OURS;
				mux_count(m, VPNPT_ESP_C_ESP_IN);
				sa_account(sa, pkt, now);
				*zone = sa->zone;
				return MUX_ZONE;
			}
		}
		if (pkt->local_later && !mux_direction_ok(m, pkt))
			return MUX_NOT_OURS;
		mux_count(m, pkt->dir == MUX_DIR_OUT ? VPNPT_ESP_C_ESP_OUT : VPNPT_ESP_C_ESP_IN);
		mux_lock(&m->lock);
		m->local_gen_seen = pkt->local_gen;
		if (pkt->dir == MUX_DIR_OUT)
			v = esp_out_slow(m, pkt, now, cookie, aux, zone);
		else
			v = esp_in_slow(m, pkt, now, zone);
		mux_unlock(&m->lock);
		return v;
	case MUX_PKT_IKE:
		mux_lock(&m->lock);
		v = ike_slow(m, pkt, now, cookie, aux, zone);
		mux_unlock(&m->lock);
		return v;
	case MUX_PKT_ICMP_ESP:
		return icmp_classify(m, pkt, zone);
	}
	return MUX_PASS;
}
