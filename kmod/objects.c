// SPDX-License-Identifier: GPL-2.0
/*
 * objects.c: the table's objects (hosts, peers, pairs, ESP SAs, IKE SAs),
 * their hash tables and their life: created only within every quota,
 * counted in mux->mem, freed under the lock with kfree_rcu.  Also the
 * table's birth and death (mux_init, mux_destroy) and the most it can
 * allocate (mux_mem_bound).
 */
#include "objects.h"

void mux_count(struct mux *m, unsigned int c)
{
#ifdef VPNPT_USERSPACE
	m->stats.c[c]++;
#else
	this_cpu_inc(m->stats->c[c]);
#endif
}

u64 mux_counter(struct mux *m, unsigned int c)
{
	switch (c) {
	case VPNPT_ESP_C_PAIRS:		return READ_ONCE(m->n_pairs);
	case VPNPT_ESP_C_PEERS:		return READ_ONCE(m->n_peers);
	case VPNPT_ESP_C_HOSTS:		return READ_ONCE(m->n_hosts);
	case VPNPT_ESP_C_HELD_PACKETS:	return READ_ONCE(m->n_held);
	case VPNPT_ESP_C_HELD_BYTES:	return READ_ONCE(m->held_bytes);
	case VPNPT_ESP_C_MEM_BYTES:	return READ_ONCE(m->mem);
	}
	{
#ifdef VPNPT_USERSPACE
	return m->stats.c[c];
#else
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu_ptr(m->stats, cpu)->c[c];
	return sum;
#endif
	}
}

u32 mux_nr_sas(struct mux *m)
{
	return READ_ONCE(m->n_sa);
}

static u32 ike_key(const struct mux *m, __be32 peer, u64 ispi)
{
	return mux_hkey(m, peer, (u32)ispi ^ (u32)(ispi >> 32), MUX_T_IKE);
}

/* Table @t for mux_params_set, the only writer of m->tab (its callers are
 * serialised): no lock needed to read which table is in place. */
static struct mux_htab *tab_owned(struct mux *m, enum mux_tab t)
{
	return rcu_dereference_protected(m->tab[t], true);
}

/* The size of table @t for @p: in/out at a load of at most 1 when
 * max_mappings SAs exist (the fast path's chains stay short whatever the
 * table holds), the lock-only ones at most 2. */
static u32 tab_bits(const struct mux_params *p, enum mux_tab t)
{
	u64 n;
	u32 bits = MUX_HTAB_MIN_BITS;

	switch (t) {
	case MUX_T_IN:
	case MUX_T_OUT:
		n = p->max_mappings;
		break;
	case MUX_T_IKE:
		n = p->max_mappings / 2;
		break;
	case MUX_T_PAIR:
		n = p->zone_count / 2;
		break;
	case MUX_T_PEER:
		n = ((u64)p->zone_count + MUX_IDLE_PEERS_MAX) / 2;
		break;
	default:
		n = ((u64)p->zone_count + MUX_HELD_MAX) / 2;
		break;
	}
	while (bits < MUX_HTAB_MAX_BITS && (1ull << bits) < n)
		bits++;
	return bits;
}

static struct mux_htab *htab_alloc(u32 bits)
{
	struct mux_htab *h = mux_big_alloc(sizeof(struct hlist_head) << bits);

	BUILD_BUG_ON(sizeof(*h) != sizeof(struct hlist_head));
	if (h) {
		h->bits = bits;		/* the heads are zeroed: empty */
		h->n = (1u << bits) - 1;
	}
	return h;
}

/* mux_tabs_alloc - new tables in @nt where @p gives another size than the
 * one in place (NULL where not).  Returns how many, or -ENOMEM (@nt then
 * holds what was allocated: mux_tabs_free).  Process context, callers
 * serialised (mux_params_set). */
int mux_tabs_alloc(struct mux *m, const struct mux_params *p, struct mux_htab **nt)
{
	int t, n = 0;

	for (t = 0; t < MUX_T_NUM; t++) {
		u32 bits = tab_bits(p, t);

		if (bits == tab_owned(m, t)->bits)
			continue;
		nt[t] = htab_alloc(bits);
		if (!nt[t])
			return -ENOMEM;
		n++;
	}
	return n;
}

void mux_tabs_free(struct mux_htab **nt)
{
	int t;

	for (t = 0; t < MUX_T_NUM; t++)
		mux_big_free(nt[t]);
}

u32 mux_tab_buckets(struct mux *m, enum mux_tab t)
{
	return tab_owned(m, t)->n;
}

/* tabs_replace - rehash every object into the tables of @nt (NULL: keep
 * that one), publish them, and leave the old ones in @nt to be freed after
 * a grace period.  A fast-path reader still in an old table may be led into
 * a chain of the new one while nodes move and miss: the slow path looks
 * again under the lock.  Caller holds m->lock. */
void mux_tabs_replace(struct mux *m, struct mux_htab **nt)
{
	struct mux_htab *old;
	struct mux_pair *pr;
	struct mux_peer *pe;
	struct mux_host *ho;
	struct mux_ike *ik;
	struct mux_sa *sa;
	int t;

	lockdep_assert_held(&m->lock);
	m->dump_gen++;		/* every chain changes */
	list_for_each_entry(sa, &m->sas, list) {
		if (nt[MUX_T_IN] && !hlist_unhashed(&sa->in_node)) {
			hlist_del_init_rcu(&sa->in_node);
			hlist_add_head_rcu(&sa->in_node, mux_bucket(nt[MUX_T_IN],
					   mux_hkey(m, sa->peer, sa->spi_in, MUX_T_IN)));
		}
		if (nt[MUX_T_OUT] && !hlist_unhashed(&sa->out_node)) {
			hlist_del_init_rcu(&sa->out_node);
			hlist_add_head_rcu(&sa->out_node, mux_bucket(nt[MUX_T_OUT],
					   mux_hkey(m, sa->peer, sa->spi_out, MUX_T_OUT)));
		}
	}
	if (nt[MUX_T_IKE])
		list_for_each_entry(ik, &m->ikes, list) {
			hlist_del_init(&ik->hnode);
			hlist_add_head(&ik->hnode, mux_bucket(nt[MUX_T_IKE],
				       ike_key(m, ik->pair->peer, ik->ispi)));
		}
	if (nt[MUX_T_PAIR])
		list_for_each_entry(pr, &m->pairs, list) {
			hlist_del_init(&pr->hnode);
			hlist_add_head(&pr->hnode, mux_bucket(nt[MUX_T_PAIR],
				       mux_hkey(m, pr->host, pr->peer, MUX_T_PAIR)));
		}
	if (nt[MUX_T_PEER])
		list_for_each_entry(pe, &m->peers, list) {
			hlist_del_init(&pe->hnode);
			hlist_add_head(&pe->hnode, mux_bucket(nt[MUX_T_PEER],
				       mux_hkey(m, pe->addr, 0, MUX_T_PEER)));
		}
	if (nt[MUX_T_HOST])
		list_for_each_entry(ho, &m->hosts, list) {
			hlist_del_init(&ho->hnode);
			hlist_add_head(&ho->hnode, mux_bucket(nt[MUX_T_HOST],
				       mux_hkey(m, ho->addr, 0, MUX_T_HOST)));
		}
	for (t = 0; t < MUX_T_NUM; t++) {
		if (!nt[t])
			continue;
		old = mux_tab_locked(m, t);
		rcu_assign_pointer(m->tab[t], nt[t]);
		nt[t] = old;
	}
}

int mux_init(struct mux *m, const struct mux_params *p, u32 seed)
{
	u32 i;

	memset(m, 0, sizeof(*m));
	if (!mux_params_valid(p))
		return -EINVAL;
	mux_lock_init(&m->lock);
	mux_params_store(m, p);
	m->seed = seed;
	m->dump_gen = 1;
	/* small until enabled: a namespace that never multiplexes pays little */
	for (i = 0; i < MUX_T_NUM; i++) {
		struct mux_htab *h = htab_alloc(p->enabled ? tab_bits(p, i) : MUX_HTAB_MIN_BITS);

		if (!h)
			goto err;
		RCU_INIT_POINTER(m->tab[i], h);
	}
	INIT_LIST_HEAD(&m->sas);
	INIT_LIST_HEAD(&m->ikes);
	INIT_LIST_HEAD(&m->pairs);
	INIT_LIST_HEAD(&m->peers);
	INIT_LIST_HEAD(&m->hosts);
	INIT_LIST_HEAD(&m->idle_peers);
	INIT_LIST_HEAD(&m->released);
	INIT_LIST_HEAD(&m->expired);
	m->zone_cap = MUX_ZONE_COUNT_MAX;
	m->zfree = mux_big_alloc(sizeof(u16) * m->zone_cap);
	m->zdirty = mux_big_alloc(sizeof(u16) * m->zone_cap);
#ifndef VPNPT_USERSPACE
	m->stats = alloc_percpu(struct mux_stats);
	if (!m->stats)
		goto err;
#endif
	if (!m->zfree || !m->zdirty)
		goto err;
	mux_zones_reset(m);
	return 0;
err:
	for (i = 0; i < MUX_T_NUM; i++)
		mux_big_free(tab_owned(m, i));
	mux_big_free(m->zfree);
	mux_big_free(m->zdirty);
#ifndef VPNPT_USERSPACE
	free_percpu(m->stats);
#endif
	return -ENOMEM;
}

void mux_destroy(struct mux *m)
{
	struct mux_held *h, *ht;
	struct mux_peer *pe;
	u64 end = (u64)-1 / 2;
	int i;

	mux_flush(m, end);
	/* nothing is bound any more: the peers kept for contention go too */
	mux_lock(&m->lock);
	list_for_each_entry(pe, &m->peers, list) {
		pe->contended_until = 0;
	}
	mux_unlock(&m->lock);
	mux_gc(m, end);
	/* the caller took released/expired before; whatever is left is freed */
	list_for_each_entry_safe(h, ht, &m->released, node)
		mux_free(h);
	list_for_each_entry_safe(h, ht, &m->expired, node)
		mux_free(h);
	for (i = 0; i < MUX_T_NUM; i++)
		mux_big_free(tab_owned(m, i));
	mux_big_free(m->zfree);
	mux_big_free(m->zdirty);
#ifndef VPNPT_USERSPACE
	free_percpu(m->stats);
#endif
}

struct mux_pair *mux_pair_lookup(struct mux *m, __be32 host, __be32 peer)
{
	struct mux_pair *pr;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(pr, mux_bucket(mux_tab_locked(m, MUX_T_PAIR), mux_hkey(m, host, peer, MUX_T_PAIR)), hnode)
		if (pr->host == host && pr->peer == peer)
			return pr;
	return NULL;
}

struct mux_host *mux_host_lookup(struct mux *m, __be32 addr)
{
	struct mux_host *ho;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(ho, mux_bucket(mux_tab_locked(m, MUX_T_HOST), mux_hkey(m, addr, 0, MUX_T_HOST)), hnode)
		if (ho->addr == addr)
			return ho;
	return NULL;
}

struct mux_peer *mux_peer_lookup(struct mux *m, __be32 addr)
{
	struct mux_peer *pe;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(pe, mux_bucket(mux_tab_locked(m, MUX_T_PEER), mux_hkey(m, addr, 0, MUX_T_PEER)), hnode)
		if (pe->addr == addr)
			return pe;
	return NULL;
}

struct mux_ike *mux_ike_lookup(struct mux *m, __be32 peer, u64 ispi)
{
	struct mux_ike *ik;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(ik, mux_bucket(mux_tab_locked(m, MUX_T_IKE), ike_key(m, peer, ispi)), hnode)
		if (ik->ispi == ispi && ik->pair->peer == peer)
			return ik;
	return NULL;
}

/* ------------------------------------------------------- object lifecycle */

/* Every table object is counted in m->mem (kmalloc's real size) when it is
 * allocated and uncounted when it is freed.  Caller holds m->lock. */
void *mux_obj_alloc(struct mux *m, size_t size)
{
	void *p;

	lockdep_assert_held(&m->lock);
	p = mux_alloc(size);
	if (unlikely(!p)) {
		mux_count(m, VPNPT_ESP_C_ALLOC_FAIL);
		return NULL;
	}
	WRITE_ONCE(m->mem, m->mem + mux_objsize(p, size));
	return p;
}


static struct mux_peer *peer_new(struct mux *m, __be32 addr)
{
	struct mux_peer *pe = mux_obj_alloc(m, sizeof(*pe));

	if (!pe)
		return NULL;
	/* the orphan ring comes with the peer: failing to allocate it later,
	 * when an SPI must be remembered, would forget that SPI (the fuzzer
	 * found a cross-delivery that way) */
	pe->orphan = mux_obj_alloc(m, MUX_ORPHANS * sizeof(*pe->orphan));
	if (!pe->orphan) {
		mux_obj_uncount(m, pe, sizeof(*pe));
		mux_free(pe);
		return NULL;
	}
	memset(pe->orphan, 0, MUX_ORPHANS * sizeof(*pe->orphan));
	pe->addr = addr;
	INIT_LIST_HEAD(&pe->held);
	INIT_LIST_HEAD(&pe->idle);
	INIT_LIST_HEAD(&pe->pending);
	hlist_add_head(&pe->hnode, mux_bucket(mux_tab_locked(m, MUX_T_PEER), mux_hkey(m, addr, 0, MUX_T_PEER)));
	list_add_tail(&pe->list, &m->peers);
	WRITE_ONCE(m->n_peers, m->n_peers + 1);
	return pe;
}

/* peer_free - forget a peer that has no pair, no window and nothing held. */
void mux_peer_free(struct mux *m, struct mux_peer *pe)
{
	lockdep_assert_held(&m->lock);
	hlist_del_init(&pe->hnode);
	list_del(&pe->list);
	list_del_init(&pe->idle);
	/* the ring is only read under m->lock: no grace period needed */
	mux_obj_uncount(m, pe->orphan, MUX_ORPHANS * sizeof(*pe->orphan));
	mux_free(pe->orphan);
	WRITE_ONCE(m->n_peers, m->n_peers - 1);
	mux_obj_uncount(m, pe, sizeof(*pe));
	mux_free_rcu(pe, rcu);
}

bool mux_peer_unused(const struct mux_peer *pe, u64 now)
{
	/* a peer under contention remembers that no unknown SPI of it may be
	 * bound yet: forgetting it would forget that */
	return !pe->n_pairs && !pe->owner && !pe->n_held && !mux_peer_contended(pe, now);
}

/* Peers without pairs are kept only for their orphans, and at most
 * MUX_IDLE_PEERS_MAX of them: the oldest goes first. */
static bool peer_evict_idle(struct mux *m, u64 now)
{
	struct mux_peer *pe;

	list_for_each_entry(pe, &m->idle_peers, idle) {
		if (mux_peer_unused(pe, now)) {
			mux_peer_free(m, pe);
			mux_count(m, VPNPT_ESP_C_PEERS_EVICTED);
			return true;
		}
	}
	return false;
}

static struct mux_host *host_new(struct mux *m, __be32 addr)
{
	struct mux_host *ho = mux_obj_alloc(m, sizeof(*ho));

	if (!ho)
		return NULL;
	ho->addr = addr;
	INIT_LIST_HEAD(&ho->ikes);
	hlist_add_head(&ho->hnode, mux_bucket(mux_tab_locked(m, MUX_T_HOST), mux_hkey(m, addr, 0, MUX_T_HOST)));
	list_add_tail(&ho->list, &m->hosts);
	WRITE_ONCE(m->n_hosts, m->n_hosts + 1);
	return ho;
}

void mux_host_free(struct mux *m, struct mux_host *ho)
{
	lockdep_assert_held(&m->lock);
	hlist_del_init(&ho->hnode);
	list_del(&ho->list);
	WRITE_ONCE(m->n_hosts, m->n_hosts - 1);
	mux_obj_uncount(m, ho, sizeof(*ho));
	mux_free_rcu(ho, rcu);
}

/* pair_new - a new (host, peer) pair with zone @zone (-1: the oldest free
 * one), none existing.  Only for traffic a LAN host sent or solicited, or a
 * mapping the controller hands over.  Every limit is checked before
 * anything is allocated: zones in total, pairs per host, peers in total;
 * *@err says which refused (-ENOSPC, -EINVAL, -EDQUOT, -ENOMEM).  Caller
 * holds m->lock. */
static struct mux_pair *pair_new(struct mux *m, __be32 host, __be32 peer, int zone, u64 now,
				 int *err)
{
	struct mux_peer *pe, *new_pe = NULL;
	struct mux_host *ho;
	struct mux_pair *pr;

	lockdep_assert_held(&m->lock);
	*err = -ENOSPC;
	if (unlikely(zone < 0 ? !mux_zone_free(m) : !mux_zone_is_free(m, zone))) {
		/* every zone is in use or waiting for its conntrack flush */
		mux_count(m, VPNPT_ESP_C_ZONES_FULL);
		return NULL;
	}
	if (unlikely(host == peer || mux_peer_lookup(m, host))) {
		/* a remote peer's address sending from the LAN: forged */
		mux_count(m, VPNPT_ESP_C_WRONG_IFACE);
		*err = -EINVAL;
		return NULL;
	}
	ho = mux_host_lookup(m, host);
	if (unlikely(ho && ho->n_pairs >= m->p.max_per_host)) {
		/* one host talking to ever more peers takes no more zones */
		mux_count(m, VPNPT_ESP_C_QUOTA_HOST_PAIRS);
		*err = -EDQUOT;
		return NULL;
	}
	pe = mux_peer_lookup(m, peer);
	if (!pe && m->n_peers >= (u32)m->p.zone_count + MUX_IDLE_PEERS_MAX &&
	    unlikely(!peer_evict_idle(m, now))) {
		mux_count(m, VPNPT_ESP_C_TABLE_FULL);
		return NULL;
	}
	*err = -ENOMEM;
	pr = mux_obj_alloc(m, sizeof(*pr));
	if (unlikely(!pr))
		return NULL;
	if (!pe) {
		pe = new_pe = peer_new(m, peer);
		if (unlikely(!pe))
			goto err;
	}
	if (!ho) {
		ho = host_new(m, host);
		if (unlikely(!ho))
			goto err;
	}
	pe->last_seen = now;
	pr->pe = pe;
	pr->ho = ho;
	pr->host = host;
	pr->peer = peer;
	if (zone < 0) {
		pr->zone = mux_zone_get(m);
	} else {
		mux_zone_take(m, zone);
		pr->zone = zone;
	}
	INIT_LIST_HEAD(&pr->sas);
	pr->last_seen = now;
	if (!pe->n_pairs++)
		list_del_init(&pe->idle);
	ho->n_pairs++;
	WRITE_ONCE(m->n_pairs, m->n_pairs + 1);
	hlist_add_head(&pr->hnode, mux_bucket(mux_tab_locked(m, MUX_T_PAIR), mux_hkey(m, host, peer, MUX_T_PAIR)));
	list_add_tail(&pr->list, &m->pairs);
	*err = 0;
	return pr;
err:
	if (new_pe)
		mux_peer_free(m, new_pe);
	mux_obj_uncount(m, pr, sizeof(*pr));
	mux_free(pr);
	return NULL;
}

/* pair_get - the (host, peer) pair and its zone, created on demand with
 * the oldest free zone.  Caller holds m->lock. */
struct mux_pair *mux_pair_get(struct mux *m, __be32 host, __be32 peer, u64 now)
{
	struct mux_pair *pr = mux_pair_lookup(m, host, peer);
	int err;

	lockdep_assert_held(&m->lock);
	return pr ? pr : pair_new(m, host, peer, -1, now, &err);
}

/* mux_pair_add - a new pair (none exists) with the free zone @zone.  NULL
 * and *@err: see pair_new.  Caller holds m->lock. */
struct mux_pair *mux_pair_add(struct mux *m, __be32 host, __be32 peer, u16 zone, u64 now, int *err)
{
	return pair_new(m, host, peer, zone, now, err);
}

void mux_pair_free(struct mux *m, struct mux_pair *pr, u64 now)
{
	struct mux_peer *pe = pr->pe;

	lockdep_assert_held(&m->lock);
	if (!--pe->n_pairs) {
		/* kept idle_timeout from now for its orphans; the peer's own
		 * packets do not extend that (anyone can forge them) */
		pe->last_seen = now;
		list_add_tail(&pe->idle, &m->idle_peers);
	}
	pr->ho->n_pairs--;
	WRITE_ONCE(m->n_pairs, m->n_pairs - 1);
	/* the zone may still hold conntrack entries: flush before reuse */
	mux_zone_put(m, pr->zone);
	hlist_del_init(&pr->hnode);
	list_del(&pr->list);
	mux_obj_uncount(m, pr, sizeof(*pr));
	mux_free_rcu(pr, rcu);
}

static void sa_unhash(struct mux_sa *sa)
{
	hlist_del_init_rcu(&sa->in_node);
	hlist_del_init_rcu(&sa->out_node);
}

/* sa_free - forget @sa.  With @tombstone its inbound SPI is remembered as
 * an orphan: if the peer speaks on it again, it is not a new SA of whichever
 * host owns the window then.  An SA idle for idle_timeout is dead at both
 * ends by the binding rule's assumption, and needs none: the same SPIs
 * coming back (manual keys resuming) bind again through a window. */
void mux_sa_free(struct mux *m, struct mux_sa *sa, bool tombstone)
{
	struct mux_pair *pr = sa->pair;

	lockdep_assert_held(&m->lock);
	sa_unhash(sa);
	m->dump_gen++;
	list_del(&sa->list);
	list_del(&sa->pair_node);
	list_del_init(&sa->pend_node);
	pr->n_sa--;
	pr->pe->n_sa--;
	if (tombstone)
		mux_orphan_note(pr->pe, sa->spi_in);
	pr->ho->n_sa--;
	WRITE_ONCE(m->n_sa, m->n_sa - 1);
	mux_obj_uncount(m, sa, sizeof(*sa));
	mux_free_rcu(sa, rcu);
}

/* sa_new - a mapping for @pr, if the quotas allow.  Caller holds m->lock. */
struct mux_sa *mux_sa_new(struct mux *m, struct mux_pair *pr, u8 state, u8 reason, u64 now)
{
	struct mux_peer *pe = pr->pe;
	struct mux_host *ho = pr->ho;
	struct mux_sa *sa;

	lockdep_assert_held(&m->lock);
	if (unlikely(m->n_sa + m->n_ike >= m->p.max_mappings)) {
		mux_count(m, VPNPT_ESP_C_TABLE_FULL);
		return NULL;
	}
	if (unlikely(ho->n_sa >= m->p.max_per_host)) {
		mux_count(m, VPNPT_ESP_C_QUOTA_HOST);
		return NULL;
	}
	if (unlikely(pe->n_sa + pe->n_ike >= m->p.max_per_peer)) {
		mux_count(m, VPNPT_ESP_C_QUOTA_PEER);
		return NULL;
	}
	sa = mux_obj_alloc(m, sizeof(*sa));
	if (unlikely(!sa))
		return NULL;
	sa->pair = pr;
	sa->host = pr->host;
	sa->peer = pr->peer;
	sa->zone = pr->zone;
	sa->state = state;
	sa->reason = reason;
	/* host and peer not looked at yet: generations only grow, so one
	 * below the last seen is none a packet will carry */
	sa->local_gen = m->local_gen_seen - 1;
	sa->created = now;
	sa->last_seen = now;
	pr->n_sa++;
	pe->n_sa++;
	ho->n_sa++;
	WRITE_ONCE(m->n_sa, m->n_sa + 1);
	list_add_tail(&sa->list, &m->sas);
	list_add_tail(&sa->pair_node, &pr->sas);
	INIT_LIST_HEAD(&sa->pend_node);
	if (state == VPNPT_ESP_STATE_PENDING)
		list_add_tail(&sa->pend_node, &pe->pending);
	return sa;
}

void mux_sa_set_out(struct mux *m, struct mux_sa *sa, u32 spi)
{
	lockdep_assert_held(&m->lock);
	m->dump_gen++;		/* dumped from the outbound table from now */
	sa->spi_out = spi;
	hlist_add_head_rcu(&sa->out_node,
			   mux_bucket(mux_tab_locked(m, MUX_T_OUT), mux_hkey(m, sa->peer, spi, MUX_T_OUT)));
}

void mux_sa_set_in(struct mux *m, struct mux_sa *sa, u32 spi)
{
	lockdep_assert_held(&m->lock);
	m->dump_gen++;
	sa->spi_in = spi;
	hlist_add_head_rcu(&sa->in_node,
			   mux_bucket(mux_tab_locked(m, MUX_T_IN), mux_hkey(m, sa->peer, spi, MUX_T_IN)));
}

/* mux_ike_new - an IKE SA of @pr, quotas checked by the caller. */
struct mux_ike *mux_ike_new(struct mux *m, struct mux_pair *pr, const struct ike_info *i,
			    u8 reason, u64 now)
{
	struct mux_ike *ik = mux_obj_alloc(m, sizeof(*ik));

	if (unlikely(!ik))
		return NULL;
	m->dump_gen++;
	ik->pair = pr;
	ik->ispi = i->ispi;
	ik->version = i->version;
	ik->reason = reason;
	ik->created = now;
	ik->last_seen = now;
	pr->n_ike++;
	pr->pe->n_ike++;
	pr->ho->n_ike++;
	list_add_tail(&ik->host_node, &pr->ho->ikes);
	m->n_ike++;
	hlist_add_head(&ik->hnode, mux_bucket(mux_tab_locked(m, MUX_T_IKE),
					      ike_key(m, pr->peer, ik->ispi)));
	list_add_tail(&ik->list, &m->ikes);
	return ik;
}

void mux_ike_free(struct mux *m, struct mux_ike *ik)
{
	struct mux_pair *pr = ik->pair;

	lockdep_assert_held(&m->lock);
	m->dump_gen++;
	hlist_del_init(&ik->hnode);
	list_del(&ik->list);
	list_del(&ik->host_node);
	pr->n_ike--;
	pr->pe->n_ike--;
	pr->ho->n_ike--;
	m->n_ike--;
	mux_obj_uncount(m, ik, sizeof(*ik));
	mux_free_rcu(ik, rcu);
}

/* ---------------------------------------------------------- memory bound */

/* The kmalloc size class an object of @size lands in (SLUB, 64-bit). */
static u64 kmalloc_class(u64 size)
{
	u64 c = 8;

	if (size > 64 && size <= 96)
		return 96;
	if (size > 128 && size <= 192)
		return 192;
	while (c < size)
		c <<= 1;
	return c;
}

/*
 * mux_mem_bound - the most the tables of one netns can allocate with these
 * parameters, whatever packets arrive: every object kind is capped before
 * it is allocated (pair_get, sa_new, ike_attribute, hold).  Held packets'
 * own memory (their truesize) is capped separately at MUX_HELD_BYTES_MAX.
 *
 *   hosts    <= zone_count (one pair each) + MUX_HELD_MAX (held, no pair)
 *   pairs    <= zone_count
 *   peers    <= zone_count + MUX_IDLE_PEERS_MAX, each with an orphan ring
 *   SAs+IKE  <= max_mappings
 *   held     <= MUX_HELD_MAX
 */
u64 mux_mem_bound(const struct mux_params *p)
{
	u64 zones = p->zone_count, peers = zones + MUX_IDLE_PEERS_MAX;
	u64 sa = kmalloc_class(sizeof(struct mux_sa)), ike = kmalloc_class(sizeof(struct mux_ike));

	return (zones + MUX_HELD_MAX) * kmalloc_class(sizeof(struct mux_host)) +
	       zones * kmalloc_class(sizeof(struct mux_pair)) +
	       peers * (kmalloc_class(sizeof(struct mux_peer)) +
			kmalloc_class(MUX_ORPHANS * sizeof(u32))) +
	       (u64)p->max_mappings * (sa > ike ? sa : ike) +
	       (u64)MUX_HELD_MAX * kmalloc_class(sizeof(struct mux_held));
}
