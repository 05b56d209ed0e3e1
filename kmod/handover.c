// SPDX-License-Identifier: GPL-2.0
/*
 * handover.c: mappings the controller creates and deletes (netlink
 * ADD_MAPPING, DEL_MAPPING).  Before a planned switchover of a router pair
 * it dumps router A's mappings and creates them on router B, so that a
 * tunnel whose peer speaks first is delivered on B as on A (DESIGN.md,
 * "Router pair").
 *
 * A handed-over mapping is what A's binding rule decided, so it does not go
 * through a window; it goes through every limit a packet's would
 * (max_mappings, max_per_peer, max_per_host, the zones, the peers), checked
 * before anything is allocated.  The pair keeps A's zone: taken out of B's
 * free FIFO, refused when another pair holds it or it is still being
 * flushed, so that conntrack entries synced in that zone (if any) find the
 * same host.  An SPI that B maps otherwise, even partly to the same host,
 * is refused: the controller deletes first.
 */
#include "objects.h"

static int refuse(const char **why, const char *msg, int err)
{
	*why = msg;
	return err;
}

/* Values the netlink policy cannot check. */
static int mapping_valid(const struct mux_mapping *mp, const char **why)
{
	if (!mp->host || !mp->peer)
		return refuse(why, "HOST and PEER must be non-zero", -EINVAL);
	if (mp->host == mp->peer)
		return refuse(why, "HOST and PEER are the same address", -EINVAL);
	if (mp->kind == VPNPT_ESP_KIND_ESP) {
		/* SPI_OUT 0: the peer started the SA, its host has not sent
		 * on it yet (its first packet joins it, as on A) */
		if (!mp->spi_in)
			return refuse(why, "SPI_IN must be non-zero", -EINVAL);
		if (mp->state != VPNPT_ESP_STATE_BOUND && mp->state != VPNPT_ESP_STATE_DRAINING)
			return refuse(why, "STATE must be bound or draining", -EINVAL);
	} else if (mp->kind == VPNPT_ESP_KIND_IKE) {
		if (!mp->ispi)
			return refuse(why, "IKE_ISPI must be non-zero", -EINVAL);
		if (mp->ike_version != 1 && mp->ike_version != 2)
			return refuse(why, "IKE_VERSION must be 1 or 2", -EINVAL);
	} else {
		return refuse(why, "KIND must be esp or ike", -EINVAL);
	}
	return 0;
}

/* The zone and pair checks, before anything is allocated.  Caller holds
 * m->lock. */
static int check_zone(struct mux *m, const struct mux_mapping *mp, const char **why)
{
	struct mux_pair *pr = mux_pair_lookup(m, mp->host, mp->peer);

	lockdep_assert_held(&m->lock);
	if (mp->zone < m->p.zone_base || (u32)mp->zone - m->p.zone_base >= m->p.zone_count)
		return refuse(why, "ZONE outside zone_base .. zone_base + zone_count - 1", -ERANGE);
	if (pr)
		return pr->zone == mp->zone ? 0 :
		       refuse(why, "the (HOST, PEER) pair has another zone here", -EBUSY);
	if (mux_zone_is_free(m, mp->zone))
		return 0;
	list_for_each_entry(pr, &m->pairs, list)
		if (pr->zone == mp->zone)
			return refuse(why, "ZONE is held by another (host, peer) pair", -EBUSY);
	return refuse(why, "ZONE is still being flushed (freed by an earlier pair)", -EBUSY);
}

/* The quotas a new ESP SA or IKE SA of @mp meets, before a pair is
 * created for it (mux_sa_new checks the ESP ones again).  Caller holds
 * m->lock. */
static int check_quotas(struct mux *m, const struct mux_mapping *mp, const char **why)
{
	struct mux_peer *pe = mux_peer_lookup(m, mp->peer);
	struct mux_host *ho = mux_host_lookup(m, mp->host);

	lockdep_assert_held(&m->lock);
	if (m->n_sa + m->n_ike >= m->p.max_mappings)
		return refuse(why, "max_mappings reached", -ENOSPC);
	if (pe && pe->n_sa + pe->n_ike >= m->p.max_per_peer)
		return refuse(why, "max_per_peer reached for PEER", -EDQUOT);
	if (ho && (mp->kind == VPNPT_ESP_KIND_ESP ? ho->n_sa : ho->n_ike) >= m->p.max_per_host)
		return refuse(why, "max_per_host reached for HOST", -EDQUOT);
	return 0;
}

/* The pair @mp names with its zone, created if none exists (*@created),
 * after the zone and the quotas of the new SA were checked: nothing is
 * allocated past a limit.  Caller holds m->lock. */
static struct mux_pair *pair_for(struct mux *m, const struct mux_mapping *mp, u64 now,
				 bool *created, int *err, const char **why)
{
	struct mux_pair *pr = mux_pair_lookup(m, mp->host, mp->peer);

	lockdep_assert_held(&m->lock);
	*created = false;
	*err = check_zone(m, mp, why);
	if (!*err)
		*err = check_quotas(m, mp, why);
	if (*err)
		return NULL;
	if (pr)
		return pr;
	pr = mux_pair_add(m, mp->host, mp->peer, mp->zone, now, err);
	*created = pr != NULL;
	if (pr)
		return pr;
	switch (*err) {
	case -EINVAL:
		*why = "HOST is a remote peer's address here";
		break;
	case -EDQUOT:
		*why = "max_per_host: the host has as many peers (pairs) as it may";
		break;
	case -ENOSPC:
		*why = "too many peers";
		break;
	default:
		*why = "out of memory";
		break;
	}
	return NULL;
}

static int add_esp(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why)
{
	struct mux_sa *out = mp->spi_out ? mux_out_lookup(m, mp->peer, mp->spi_out) : NULL;
	struct mux_sa *in = mux_in_lookup(m, mp->peer, mp->spi_in);
	struct mux_pair *pr;
	struct mux_sa *sa;
	bool new_pair;
	int ret;

	lockdep_assert_held(&m->lock);
	if (in && in->host == mp->host && in->zone == mp->zone && in->spi_out == mp->spi_out)
		return 0;	/* the same mapping: an import run again */
	if (out)
		return refuse(why, "SPI_OUT of PEER is mapped otherwise here", -EEXIST);
	if (in)
		return refuse(why, "SPI_IN of PEER is mapped otherwise here", -EEXIST);
	pr = pair_for(m, mp, now, &new_pair, &ret, why);
	if (!pr)
		return ret;
	sa = mux_sa_new(m, pr, mp->state, mp->reason, now);
	if (!sa) {
		/* the quotas were checked: out of memory */
		if (new_pair)
			mux_pair_free(m, pr, now);
		return refuse(why, "out of memory", -ENOMEM);
	}
	/* bound before any window opened on this router: the next rekey of
	 * the pair drains it as it would on A */
	sa->bound_at = now;
	sa->drain_start = now;
	pr->last_seen = now;
	/* published complete: the fast path reads state, host and zone as
	 * soon as a key is hashed (hlist_add_head_rcu orders the stores) */
	if (mp->spi_out)
		mux_sa_set_out(m, sa, mp->spi_out);
	mux_sa_set_in(m, sa, mp->spi_in);
	return 0;
}

static int add_ike(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why)
{
	struct mux_ike *ik = mux_ike_lookup(m, mp->peer, mp->ispi);
	struct ike_info info = { .ispi = mp->ispi, .version = mp->ike_version };
	struct mux_pair *pr;
	bool new_pair;
	int ret;

	lockdep_assert_held(&m->lock);
	if (ik) {
		if (ik->pair->host == mp->host && ik->pair->zone == mp->zone &&
		    ik->version == mp->ike_version &&
		    (!ik->rspi || !mp->rspi || ik->rspi == mp->rspi)) {
			if (!ik->rspi)
				ik->rspi = mp->rspi;
			return 0;	/* the same IKE SA */
		}
		return refuse(why, "IKE_ISPI of PEER is mapped otherwise here", -EEXIST);
	}
	pr = pair_for(m, mp, now, &new_pair, &ret, why);
	if (!pr)
		return ret;
	ik = mux_ike_new(m, pr, &info, mp->reason, now);
	if (!ik) {
		/* a pair that existed (a window's owner, maybe) stays */
		if (new_pair)
			mux_pair_free(m, pr, now);
		return refuse(why, "out of memory", -ENOMEM);
	}
	ik->rspi = mp->rspi;
	pr->last_seen = now;
	return 0;
}

int mux_mapping_add(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why)
{
	int ret = mapping_valid(mp, why);

	if (ret)
		return ret;
	mux_lock(&m->lock);
	if (mp->kind == VPNPT_ESP_KIND_ESP)
		ret = add_esp(m, mp, now, why);
	else
		ret = add_ike(m, mp, now, why);
	mux_unlock(&m->lock);
	return ret;
}

int mux_mapping_del(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why)
{
	struct mux_sa *sa;
	struct mux_ike *ik;
	int ret = -ENOENT;

	*why = "no such mapping";
	mux_lock(&m->lock);
	if (mp->kind == VPNPT_ESP_KIND_ESP) {
		sa = mp->spi_out ? mux_out_lookup(m, mp->peer, mp->spi_out) :
				   mux_in_lookup(m, mp->peer, mp->spi_in);
		if (sa && sa->host == mp->host && sa->spi_out == mp->spi_out &&
		    sa->spi_in == mp->spi_in) {
			/* remembered as an orphan, as FLUSH does: the peer's
			 * next packet on it binds to no other host's window */
			mux_sa_free(m, sa, true);
			ret = 0;
		}
	} else if (mp->kind == VPNPT_ESP_KIND_IKE) {
		ik = mux_ike_lookup(m, mp->peer, mp->ispi);
		if (ik && ik->pair->host == mp->host && ik->rspi == mp->rspi) {
			mux_ike_free(m, ik);
			ret = 0;
		}
	} else {
		*why = "KIND must be esp or ike";
		ret = -EINVAL;
	}
	mux_unlock(&m->lock);
	if (!ret)
		*why = NULL;
	(void)now;	/* the pair, now unused, goes with gc after pending_timeout */
	return ret;
}
