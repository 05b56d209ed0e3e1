// SPDX-License-Identifier: GPL-2.0
/*
 * table.c: which LAN host an ESP packet belongs to, decided without guessing.
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
#include "table.h"

#ifndef VPNPT_USERSPACE
#include <linux/percpu.h>
#include <linux/vmalloc.h>
#define mux_big_alloc(sz)	kvzalloc((sz), GFP_KERNEL)
#define mux_big_free(p)		kvfree(p)
#else
#define mux_big_alloc(sz)	calloc(1, (sz))
#define mux_big_free(p)		free(p)
#endif

#define MS(s)	((u64)(s) * 1000)
/* Limits that are not parameters.  Each bounds what packets can make the
 * module allocate (DESIGN.md, "Threat model", computes the sum). */
#define MUX_ORPHANS		256	/* remembered unbound SPIs per peer */
#define MUX_INFLIGHT_FACTOR	6	/* held packets, contention: x pending_timeout */
#define MUX_WINDOW_MAX_FACTOR	2	/* a window's whole life: x pending_timeout */
#define MUX_IDLE_PEERS_MAX	1024	/* peers kept for their orphans alone */
#define MUX_HELD_MAX		4096	/* held packets per netns */

struct mux_host {
	struct hlist_node hnode;
	struct list_head list;
	__be32 addr;
	u32 n_sa;
	u32 n_pairs;
	u32 n_ike;
	u32 n_held;
	struct list_head ikes;	/* its IKE SAs, least recently used first */
	struct rcu_head rcu;
};

struct mux_peer {
	struct hlist_node hnode;
	struct list_head list;
	__be32 addr;
	u32 n_sa, n_ike, n_pairs;
	/* bind window */
	__be32 owner;		/* 0: closed */
	u8 wreason;		/* VPNPT_ESP_REASON_IKE or _ESP_FIRST */
	u32 want;		/* child SAs still expected in this window */
	u64 wopen, deadline;
	u64 contended_until;	/* no binds: a late exchange of another host */
	bool installed;		/* the peer may be sending on the owner's new SA */
	/* SPIs seen from this peer while unbound: they existed before any
	 * window opened, so they are never a window owner's *new* SA.  A ring
	 * of MUX_ORPHANS, allocated with the peer. */
	u32 *orphan;
	u16 orphan_next;
	bool remembers;		/* an SPI was put in the ring */
	u64 last_seen;		/* kept idle_timeout after its last pair: orphans */
	struct list_head idle;	/* in mux->idle_peers while it has no pair */
	struct list_head held;	/* struct mux_held, oldest first */
	u32 n_held;
	/* its pending SAs (outbound SPI seen, inbound not bound), oldest
	 * first: what a bind at this peer looks at, whatever else exists */
	struct list_head pending;
	struct rcu_head rcu;
};

struct mux_pair {
	struct hlist_node hnode;
	struct list_head list;
	struct mux_peer *pe;	/* both outlive the pair */
	struct mux_host *ho;
	__be32 host, peer;
	u16 zone;
	u32 n_sa, n_ike;
	struct list_head sas;	/* its ESP SAs, oldest first */
	u64 last_seen;
	struct rcu_head rcu;
};

struct mux_sa {
	/* What a packet of a bound SA reads and writes, in the first 64
	 * bytes (kmalloc-192 objects are 64-byte aligned): the hash nodes, the
	 * key, its pair's host and zone (copied: they never change), state,
	 * last_seen; the per-SA counters in the second line. */
	struct hlist_node in_node;	/* hashed once spi_in is bound */
	struct hlist_node out_node;	/* hashed once spi_out is seen */
	u32 spi_out, spi_in;
	__be32 host, peer;
	u16 zone;
	u8 state, reason;
	u64 last_seen;
	atomic64_t pkts_out, pkts_in, bytes_out, bytes_in;
	struct mux_pair *pair;
	struct list_head list;		/* in mux->sas */
	struct list_head pair_node;	/* in pair->sas */
	struct list_head pend_node;	/* in peer->pending while pending */
	u64 created, drain_start;
	union {
		u64 wopen;	/* pending: opening time of the window it was made in */
		u64 bound_at;	/* bound or draining */
	};
	struct rcu_head rcu;
};

struct mux_ike {
	struct hlist_node hnode;
	struct list_head list;
	struct list_head host_node;	/* in its host's ikes, LRU order */
	struct mux_pair *pair;
	u64 ispi, rspi;
	u8 version, reason;
	bool auth_seen;			/* IKEv2: first IKE_AUTH counted */
	bool req_valid[2];		/* per direction (enum mux_dir) */
	u32 req_msgid[2];		/* last child-SA request started */
	u32 qm_msgid[2];		/* IKEv1: recent Quick Mode message IDs */
	u64 created, last_seen;
	u64 pkts_out, pkts_in, bytes_out, bytes_in;
	struct rcu_head rcu;
};

/* ---------------------------------------------------------------- basics */

void mux_params_default(struct mux_params *p)
{
	memset(p, 0, sizeof(*p));
	p->idle_timeout = 600;
	p->pending_timeout = 5;
	p->drain_timeout = 30;
	p->max_per_host = 16;
	p->max_per_peer = 256;
	p->max_mappings = 4096;
	p->hold_max = 16;
	p->zone_base = 32768;
	p->zone_count = 4096;
	p->keep_ike_port = false;
	p->enabled = false;
}

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

/* ------------------------------------------------------------ hash tables */

static u32 hkey(const struct mux *m, u32 a, u32 b, enum mux_tab t)
{
	return jhash_3words(a, b, t + 1, m->seed);
}

static u32 ike_key(const struct mux *m, __be32 peer, u64 ispi)
{
	return hkey(m, peer, (u32)ispi ^ (u32)(ispi >> 32), MUX_T_IKE);
}

static struct hlist_head *bucket(struct mux_htab *h, u32 key)
{
	return &h->b[((u64)key * h->n) >> 32];	/* reciprocal_scale() */
}

/* Table @t for a holder of m->lock. */
static struct mux_htab *tab_locked(struct mux *m, enum mux_tab t)
{
	return rcu_dereference_protected(m->tab[t], lockdep_is_held(&m->lock));
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

u32 mux_tab_buckets(struct mux *m, enum mux_tab t)
{
	return tab_owned(m, t)->n;
}

static bool params_valid(const struct mux_params *p)
{
	return p->pending_timeout >= 1 && p->pending_timeout <= 600 &&
	       p->idle_timeout >= p->pending_timeout && p->idle_timeout <= 7 * 86400 &&
	       p->drain_timeout >= 1 && p->drain_timeout <= 3600 &&
	       p->max_per_host >= 1 && p->max_per_peer >= 1 &&
	       p->max_mappings >= 1 && p->max_mappings <= 1u << 20 &&
	       p->hold_max <= 1024 &&
	       p->zone_count >= 1 && p->zone_count <= MUX_ZONE_COUNT_MAX &&
	       p->zone_base >= 1 && (u32)p->zone_base + p->zone_count <= 65536;
}

static void params_store(struct mux *m, const struct mux_params *p);

static void zones_reset(struct mux *m)
{
	u32 i;

	m->zfree_head = 0;
	m->zfree_len = m->p.zone_count;
	m->zdirty_len = 0;
	for (i = 0; i < m->p.zone_count; i++)
		m->zfree[i] = i;
}

int mux_init(struct mux *m, const struct mux_params *p, u32 seed)
{
	u32 i;

	memset(m, 0, sizeof(*m));
	if (!params_valid(p))
		return -EINVAL;
	mux_lock_init(&m->lock);
	params_store(m, p);
	m->seed = seed;
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
	zones_reset(m);
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

/* ------------------------------------------------------------- lookups */

static struct mux_sa *in_lookup(struct mux *m, __be32 peer, u32 spi)
{
	struct mux_htab *h = rcu_dereference_check(m->tab[MUX_T_IN], lockdep_is_held(&m->lock));
	struct mux_sa *sa;

	hlist_for_each_entry_rcu(sa, bucket(h, hkey(m, peer, spi, MUX_T_IN)), in_node,
				 lockdep_is_held(&m->lock))
		if (sa->spi_in == spi && sa->peer == peer)
			return sa;
	return NULL;
}

static struct mux_sa *out_lookup(struct mux *m, __be32 peer, u32 spi)
{
	struct mux_htab *h = rcu_dereference_check(m->tab[MUX_T_OUT], lockdep_is_held(&m->lock));
	struct mux_sa *sa;

	hlist_for_each_entry_rcu(sa, bucket(h, hkey(m, peer, spi, MUX_T_OUT)), out_node,
				 lockdep_is_held(&m->lock))
		if (sa->spi_out == spi && sa->peer == peer)
			return sa;
	return NULL;
}

static struct mux_pair *pair_lookup(struct mux *m, __be32 host, __be32 peer)
{
	struct mux_pair *pr;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(pr, bucket(tab_locked(m, MUX_T_PAIR), hkey(m, host, peer, MUX_T_PAIR)), hnode)
		if (pr->host == host && pr->peer == peer)
			return pr;
	return NULL;
}

static struct mux_peer *peer_lookup(struct mux *m, __be32 addr)
{
	struct mux_peer *pe;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(pe, bucket(tab_locked(m, MUX_T_PEER), hkey(m, addr, 0, MUX_T_PEER)), hnode)
		if (pe->addr == addr)
			return pe;
	return NULL;
}

static struct mux_host *host_lookup(struct mux *m, __be32 addr)
{
	struct mux_host *ho;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(ho, bucket(tab_locked(m, MUX_T_HOST), hkey(m, addr, 0, MUX_T_HOST)), hnode)
		if (ho->addr == addr)
			return ho;
	return NULL;
}

static struct mux_ike *ike_lookup(struct mux *m, __be32 peer, u64 ispi)
{
	struct mux_ike *ik;

	lockdep_assert_held(&m->lock);
	hlist_for_each_entry(ik, bucket(tab_locked(m, MUX_T_IKE), ike_key(m, peer, ispi)), hnode)
		if (ik->ispi == ispi && ik->pair->peer == peer)
			return ik;
	return NULL;
}

/* ------------------------------------------------------- object lifecycle */

/* Every table object is counted in m->mem (kmalloc's real size) when it is
 * allocated and uncounted when it is freed.  Caller holds m->lock. */
static void *obj_alloc(struct mux *m, size_t size)
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

#define obj_uncount(m, p, size) WRITE_ONCE((m)->mem, (m)->mem - mux_objsize((p), (size)))

static struct mux_peer *peer_new(struct mux *m, __be32 addr)
{
	struct mux_peer *pe = obj_alloc(m, sizeof(*pe));

	if (!pe)
		return NULL;
	/* the orphan ring comes with the peer: failing to allocate it later,
	 * when an SPI must be remembered, would forget that SPI (the fuzzer
	 * found a cross-delivery that way) */
	pe->orphan = obj_alloc(m, MUX_ORPHANS * sizeof(*pe->orphan));
	if (!pe->orphan) {
		obj_uncount(m, pe, sizeof(*pe));
		mux_free(pe);
		return NULL;
	}
	memset(pe->orphan, 0, MUX_ORPHANS * sizeof(*pe->orphan));
	pe->addr = addr;
	INIT_LIST_HEAD(&pe->held);
	INIT_LIST_HEAD(&pe->idle);
	INIT_LIST_HEAD(&pe->pending);
	hlist_add_head(&pe->hnode, bucket(tab_locked(m, MUX_T_PEER), hkey(m, addr, 0, MUX_T_PEER)));
	list_add_tail(&pe->list, &m->peers);
	WRITE_ONCE(m->n_peers, m->n_peers + 1);
	return pe;
}

/* peer_free - forget a peer that has no pair, no window and nothing held. */
static void peer_free(struct mux *m, struct mux_peer *pe)
{
	lockdep_assert_held(&m->lock);
	hlist_del_init(&pe->hnode);
	list_del(&pe->list);
	list_del_init(&pe->idle);
	/* the ring is only read under m->lock: no grace period needed */
	obj_uncount(m, pe->orphan, MUX_ORPHANS * sizeof(*pe->orphan));
	mux_free(pe->orphan);
	WRITE_ONCE(m->n_peers, m->n_peers - 1);
	obj_uncount(m, pe, sizeof(*pe));
	mux_free_rcu(pe, rcu);
}

/* No unknown SPI of @pe is bound now: a late exchange of another host, a
 * blind period or a FLUSH. */
static bool peer_contended(const struct mux_peer *pe, u64 now)
{
	return now < pe->contended_until;
}

static bool peer_unused(const struct mux_peer *pe, u64 now)
{
	/* a peer under contention remembers that no unknown SPI of it may be
	 * bound yet: forgetting it would forget that */
	return !pe->n_pairs && !pe->owner && !pe->n_held && !peer_contended(pe, now);
}

/* Peers without pairs are kept only for their orphans, and at most
 * MUX_IDLE_PEERS_MAX of them: the oldest goes first. */
static bool peer_evict_idle(struct mux *m, u64 now)
{
	struct mux_peer *pe;

	list_for_each_entry(pe, &m->idle_peers, idle) {
		if (peer_unused(pe, now)) {
			peer_free(m, pe);
			mux_count(m, VPNPT_ESP_C_PEERS_EVICTED);
			return true;
		}
	}
	return false;
}

static struct mux_host *host_new(struct mux *m, __be32 addr)
{
	struct mux_host *ho = obj_alloc(m, sizeof(*ho));

	if (!ho)
		return NULL;
	ho->addr = addr;
	INIT_LIST_HEAD(&ho->ikes);
	hlist_add_head(&ho->hnode, bucket(tab_locked(m, MUX_T_HOST), hkey(m, addr, 0, MUX_T_HOST)));
	list_add_tail(&ho->list, &m->hosts);
	WRITE_ONCE(m->n_hosts, m->n_hosts + 1);
	return ho;
}

static void host_free(struct mux *m, struct mux_host *ho)
{
	lockdep_assert_held(&m->lock);
	hlist_del_init(&ho->hnode);
	list_del(&ho->list);
	WRITE_ONCE(m->n_hosts, m->n_hosts - 1);
	obj_uncount(m, ho, sizeof(*ho));
	mux_free_rcu(ho, rcu);
}

/* pair_get - the (host, peer) pair and its zone, created on demand.  Only
 * for traffic a LAN host sent or solicited.  Every limit is checked before
 * anything is allocated: zones in total, pairs per host, peers in total.
 * Caller holds m->lock. */
static struct mux_pair *pair_get(struct mux *m, __be32 host, __be32 peer, u64 now)
{
	struct mux_pair *pr = pair_lookup(m, host, peer);
	struct mux_peer *pe, *new_pe = NULL;
	struct mux_host *ho;

	lockdep_assert_held(&m->lock);
	if (pr)
		return pr;
	if (unlikely(!m->zfree_len)) {
		/* every zone is in use or waiting for its conntrack flush */
		mux_count(m, VPNPT_ESP_C_ZONES_FULL);
		return NULL;
	}
	if (unlikely(host == peer || peer_lookup(m, host))) {
		/* a remote peer's address sending from the LAN: forged */
		mux_count(m, VPNPT_ESP_C_WRONG_IFACE);
		return NULL;
	}
	ho = host_lookup(m, host);
	if (unlikely(ho && ho->n_pairs >= m->p.max_per_host)) {
		/* one host talking to ever more peers takes no more zones */
		mux_count(m, VPNPT_ESP_C_QUOTA_HOST_PAIRS);
		return NULL;
	}
	pe = peer_lookup(m, peer);
	if (!pe && m->n_peers >= (u32)m->p.zone_count + MUX_IDLE_PEERS_MAX &&
	    unlikely(!peer_evict_idle(m, now))) {
		mux_count(m, VPNPT_ESP_C_TABLE_FULL);
		return NULL;
	}
	pr = obj_alloc(m, sizeof(*pr));
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
	pr->zone = m->p.zone_base + m->zfree[m->zfree_head];
	INIT_LIST_HEAD(&pr->sas);
	m->zfree_head = (m->zfree_head + 1) % m->zone_cap;
	m->zfree_len--;
	pr->last_seen = now;
	if (!pe->n_pairs++)
		list_del_init(&pe->idle);
	ho->n_pairs++;
	WRITE_ONCE(m->n_pairs, m->n_pairs + 1);
	hlist_add_head(&pr->hnode, bucket(tab_locked(m, MUX_T_PAIR), hkey(m, host, peer, MUX_T_PAIR)));
	list_add_tail(&pr->list, &m->pairs);
	return pr;
err:
	if (new_pe)
		peer_free(m, new_pe);
	obj_uncount(m, pr, sizeof(*pr));
	mux_free(pr);
	return NULL;
}

static void pair_free(struct mux *m, struct mux_pair *pr, u64 now)
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
	m->zdirty[m->zdirty_len++] = pr->zone - m->p.zone_base;
	hlist_del_init(&pr->hnode);
	list_del(&pr->list);
	obj_uncount(m, pr, sizeof(*pr));
	mux_free_rcu(pr, rcu);
}

static void sa_unhash(struct mux_sa *sa)
{
	hlist_del_init_rcu(&sa->in_node);
	hlist_del_init_rcu(&sa->out_node);
}

static void orphan_note(struct mux_peer *pe, u32 spi);

/* sa_free - forget @sa.  With @tombstone its inbound SPI is remembered as
 * an orphan: if the peer speaks on it again, it is not a new SA of whichever
 * host owns the window then.  An SA idle for idle_timeout is dead at both
 * ends by the binding rule's assumption, and needs none: the same SPIs
 * coming back (manual keys resuming) bind again through a window. */
static void sa_free(struct mux *m, struct mux_sa *sa, bool tombstone)
{
	struct mux_pair *pr = sa->pair;

	lockdep_assert_held(&m->lock);
	sa_unhash(sa);
	list_del(&sa->list);
	list_del(&sa->pair_node);
	list_del_init(&sa->pend_node);
	pr->n_sa--;
	pr->pe->n_sa--;
	if (tombstone)
		orphan_note(pr->pe, sa->spi_in);
	pr->ho->n_sa--;
	WRITE_ONCE(m->n_sa, m->n_sa - 1);
	obj_uncount(m, sa, sizeof(*sa));
	mux_free_rcu(sa, rcu);
}

/* sa_new - a mapping for @pr, if the quotas allow.  Caller holds m->lock. */
static struct mux_sa *sa_new(struct mux *m, struct mux_pair *pr, u8 state, u8 reason, u64 now)
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
	sa = obj_alloc(m, sizeof(*sa));
	if (unlikely(!sa))
		return NULL;
	sa->pair = pr;
	sa->host = pr->host;
	sa->peer = pr->peer;
	sa->zone = pr->zone;
	sa->state = state;
	sa->reason = reason;
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

static void sa_set_out(struct mux *m, struct mux_sa *sa, u32 spi)
{
	sa->spi_out = spi;
	hlist_add_head_rcu(&sa->out_node,
			   bucket(tab_locked(m, MUX_T_OUT), hkey(m, sa->peer, spi, MUX_T_OUT)));
}

static void sa_set_in(struct mux *m, struct mux_sa *sa, u32 spi)
{
	sa->spi_in = spi;
	hlist_add_head_rcu(&sa->in_node,
			   bucket(tab_locked(m, MUX_T_IN), hkey(m, sa->peer, spi, MUX_T_IN)));
}

static void ike_free(struct mux *m, struct mux_ike *ik)
{
	struct mux_pair *pr = ik->pair;

	lockdep_assert_held(&m->lock);
	hlist_del_init(&ik->hnode);
	list_del(&ik->list);
	list_del(&ik->host_node);
	pr->n_ike--;
	pr->pe->n_ike--;
	pr->ho->n_ike--;
	m->n_ike--;
	obj_uncount(m, ik, sizeof(*ik));
	mux_free_rcu(ik, rcu);
}

/* ----------------------------------------------------------- bind window */

/* held_move - a held packet leaves @pe's queue (released or expired).
 * Caller holds m->lock. */
static void held_move(struct mux *m, struct mux_peer *pe, struct mux_held *h, struct list_head *to)
{
	lockdep_assert_held(&m->lock);
	list_move_tail(&h->node, to);
	pe->n_held--;
	h->ho->n_held--;
	WRITE_ONCE(m->n_held, m->n_held - 1);
	WRITE_ONCE(m->held_bytes, m->held_bytes - h->truesize);
	obj_uncount(m, h, sizeof(*h));
}

/* The last moment @pe's window may live: MUX_WINDOW_MAX_FACTOR x
 * pending_timeout from its opening, whatever its owner sends after. */
static u64 window_cap(const struct mux *m, const struct mux_peer *pe)
{
	return pe->wopen + MUX_WINDOW_MAX_FACTOR * MS(m->p.pending_timeout);
}

/* window_extend - keep @pe's window until @until, never past its cap. */
static void window_extend(struct mux *m, struct mux_peer *pe, u64 until)
{
	u64 cap = window_cap(m, pe);

	pe->deadline = until < cap ? until : cap;
}

/* window_close - close @pe's window and hand it to the oldest held host:
 * that host owns the window from now and its held packets are released.
 * Caller holds m->lock. */
static void window_close(struct mux *m, struct mux_peer *pe, u64 now)
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
		held_move(m, pe, h, &m->released);
		mux_count(m, VPNPT_ESP_C_RELEASED);
	}
}

/* window_check - close @pe's window if it is over: at its deadline, or at
 * its cap as the parameters in force now compute it (a lower
 * pending_timeout shortens the windows already open). */
static void window_check(struct mux *m, struct mux_peer *pe, u64 now)
{
	u64 cap = window_cap(m, pe);

	if (pe->owner && (now >= pe->deadline || now >= cap)) {
		mux_count(m, VPNPT_ESP_C_WINDOW_EXPIRED);
		if (now >= cap)
			mux_count(m, VPNPT_ESP_C_WINDOW_CAPPED);
		window_close(m, pe, now);
	}
}

static void window_open(struct mux *m, struct mux_peer *pe, __be32 host, u8 reason, u64 now)
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
static void contend(struct mux_peer *pe, u64 until)
{
	if (until > pe->contended_until)
		pe->contended_until = until;
}

static bool orphan_seen(const struct mux_peer *pe, u32 spi)
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
static void orphan_note(struct mux_peer *pe, u32 spi)
{
	if (!spi || orphan_seen(pe, spi))
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
static enum mux_verdict hold(struct mux *m, struct mux_peer *pe, struct mux_host *ho, u8 reason,
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
	h = obj_alloc(m, sizeof(*h));
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
	return now - READ_ONCE(sa->last_seen) >= MS(READ_ONCE(m->p.idle_timeout));
}

/* A pending SA whose window is over: the binding rule says its peer answers
 * within that window, so this one is a stray (a host whose SA the peer does
 * not have), and no longer counts. */
static bool sa_window_over(const struct mux_sa *sa)
{
	const struct mux_peer *pe = sa->pair->pe;

	return pe->owner != sa->pair->host || pe->wopen != sa->wopen;
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
	window_check(m, pe, now);
	if (sa_window_over(sa)) {
		if (pe->owner && pe->owner != pr->host)
			return hold(m, pe, pr->ho, VPNPT_ESP_REASON_ESP_FIRST, pkt, now,
				    cookie, aux);
		if (!pe->owner) {
			window_open(m, pe, pr->host, VPNPT_ESP_REASON_ESP_FIRST, now);
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
	other = out_lookup(m, peer, pkt->spi);
	if (other && other->state != VPNPT_ESP_STATE_PENDING && sa_idle(m, other, now)) {
		/* gone at both ends: R may have given the SPI to a new SA */
		mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
		sa_free(m, other, false);
		other = NULL;
	}
	if (other && other->pair->host == host) {
		if (other->state == VPNPT_ESP_STATE_PENDING)
			return esp_out_pending(m, other, pkt, now, cookie, aux, zone);
		sa_account(other, pkt, now);		/* raced with another CPU */
		*zone = other->pair->zone;
		return MUX_ZONE;
	}
	pr = pair_get(m, host, peer, now);
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
			sa_set_out(m, sa, pkt->spi);
			sa_account(sa, pkt, now);
			mux_count(m, VPNPT_ESP_C_ESP_OUT_NEW_SPI);
			return MUX_ZONE;
		}
	}

	/* (b) a new SA: it needs the peer's window */
	pe = pr->pe;
	window_check(m, pe, now);
	if (pe->owner && pe->owner != host)
		return hold(m, pe, pr->ho, VPNPT_ESP_REASON_ESP_FIRST, pkt, now, cookie, aux);
	sa = sa_new(m, pr, VPNPT_ESP_STATE_PENDING, VPNPT_ESP_REASON_ESP_FIRST, now);
	if (!sa)
		return MUX_DROP;	/* a quota: no window for an SA we cannot keep */
	if (!pe->owner) {
		window_open(m, pe, host, VPNPT_ESP_REASON_ESP_FIRST, now);
		pe->want = 1;
	}
	sa->reason = pe->wreason;
	sa->wopen = pe->wopen;
	sa_set_out(m, sa, pkt->spi);
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
	bool ambiguous = false;

	lockdep_assert_held(&m->lock);
	sa = in_lookup(m, peer, pkt->spi);
	if (sa) {				/* raced with another CPU */
		sa_account(sa, pkt, now);
		*zone = sa->pair->zone;
		return MUX_ZONE;
	}
	pe = peer_lookup(m, peer);
	if (!pe) {
		mux_count(m, VPNPT_ESP_C_ESP_IN_UNKNOWN);	/* unsolicited */
		return MUX_PASS;
	}
	window_check(m, pe, now);
	if (!pe->owner || !pe->want || !pe->installed) {
		/* An SA whose negotiation we never saw, or a window whose
		 * exchange has not reached the point where the peer installs
		 * the SA: this SPI cannot be the owner's new SA. */
		mux_count(m, VPNPT_ESP_C_ESP_IN_UNKNOWN);
		orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (orphan_seen(pe, pkt->spi)) {
		/* seen before this window could have produced it */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		return MUX_PASS;
	}
	if (m->ops.local_spi && m->ops.local_spi(m->ops.ctx, pkt->dst, pkt->spi)) {
		/* the router's own SA with this peer: not a LAN host's */
		mux_count(m, VPNPT_ESP_C_BIND_LOCAL_SKIP);
		return MUX_PASS;
	}
	pr = pair_get(m, pe->owner, peer, now);
	if (!pr) {
		orphan_note(pe, pkt->spi);	/* not bound: remember it */
		return MUX_DROP;
	}

	list_for_each_entry(sa, &pe->pending, pend_node) {
		if (sa->pair == pr) {
			if (!found)
				found = sa;	/* oldest pending SA of the owner */
		} else if (!sa_window_over(sa)) {
			/* another host also waits for one (a pending SA whose
			 * window is over is a stray: gc removes it, and until
			 * then it must not refuse this one) */
			ambiguous = true;
		}
	}
	if (ambiguous || peer_contended(pe, now)) {
		/* Two hosts could own this SPI: another host's SA is still
		 * unbound, or another host's exchange finished late, after its
		 * window.  Refuse: a lost packet, never a cross-delivery. */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (!found && pe->wreason == VPNPT_ESP_REASON_ESP_FIRST) {
		/* Manual keys: the host speaks first, so its new SA is a
		 * pending one.  There is none yet (the window just passed to
		 * it and its packet is on its way back through the hook): R
		 * has not seen that packet, and this SPI is someone else's. */
		mux_count(m, VPNPT_ESP_C_BIND_AMBIGUOUS);
		orphan_note(pe, pkt->spi);
		return MUX_PASS;
	}
	if (!found) {
		found = sa_new(m, pr, VPNPT_ESP_STATE_BOUND, pe->wreason, now);
		if (!found) {
			/* a quota: not bound, so remembered, or the peer's next
			 * packet on it would be bound to the next window's owner */
			orphan_note(pe, pkt->spi);
			return MUX_DROP;
		}
	}
	WRITE_ONCE(found->state, VPNPT_ESP_STATE_BOUND);
	list_del_init(&found->pend_node);
	found->reason = pe->wreason;
	found->bound_at = now;
	sa_set_in(m, found, pkt->spi);
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
		window_close(m, pe, now);
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
	ik = ike_lookup(m, peer, i->ispi);
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
	pe = peer_lookup(m, peer);
	if (unlikely(pe && pe->n_sa + pe->n_ike >= m->p.max_per_peer)) {
		mux_count(m, VPNPT_ESP_C_QUOTA_PEER);
		return NULL;
	}
	pr = pair_get(m, host, peer, now);
	if (!pr)
		return NULL;
	pe = pr->pe;
	if (pr->ho->n_ike >= m->p.max_per_host) {
		/* a host's IKE SAs beyond its quota: its own least recently
		 * used one goes (a reconnecting client's stale ones), never
		 * another host's */
		ike_free(m, list_first_entry(&pr->ho->ikes, struct mux_ike, host_node));
		mux_count(m, VPNPT_ESP_C_IKE_EVICTED);
	}
	ik = obj_alloc(m, sizeof(*ik));
	if (unlikely(!ik))
		return NULL;
	ik->pair = pr;
	ik->ispi = i->ispi;
	ik->version = i->version;
	ik->reason = reason;
	ik->created = now;
	ik->last_seen = now;
	pr->n_ike++;
	pe->n_ike++;
	pr->ho->n_ike++;
	list_add_tail(&ik->host_node, &pr->ho->ikes);
	m->n_ike++;
	hlist_add_head(&ik->hnode, bucket(tab_locked(m, MUX_T_IKE), ike_key(m, peer, ik->ispi)));
	list_add_tail(&ik->list, &m->ikes);
	return ik;
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
		pe = peer_lookup(m, pkt->src);
		if (pe)
			contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
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
		window_check(m, pe, now);
		if (ike_is_start(ik, pkt)) {
			if (pe->owner && pe->owner != host)
				return hold(m, pe, ik->pair->ho, VPNPT_ESP_REASON_IKE, pkt, now,
					    cookie, aux);
			if (!pe->owner)
				window_open(m, pe, host, VPNPT_ESP_REASON_IKE, now);
			pe->wreason = VPNPT_ESP_REASON_IKE;
			pe->want++;
			/* until the answer comes the peer cannot send on it; an
			 * exchange in flight keeps the window to its cap */
			pe->installed = false;
			window_extend(m, pe, window_cap(m, pe));
			ike_admit(ik, pkt);
			mux_count(m, VPNPT_ESP_C_CHILD_EXCHANGES);
		} else if (pe->owner == host) {
			/* IKEv2: the response; IKEv1: Quick Mode 2 or 3.  From
			 * here the peer may send on the new SA. */
			if (i->version == 1 || i->response) {
				pe->installed = true;
				window_extend(m, pe, now + MS(m->p.pending_timeout));
			} else {
				window_extend(m, pe, window_cap(m, pe));
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
				return hold(m, pe, ik->pair->ho, VPNPT_ESP_REASON_IKE, pkt, now,
					    cookie, aux);
			contend(pe, (pe->owner ? pe->deadline : now) + MS(m->p.pending_timeout));
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
		sa = out_lookup(m, pkt->inner_dst, pkt->spi);
	} else {
		/* a LAN host: quotes (peer -> host, spi_in) */
		sa = in_lookup(m, pkt->inner_src, pkt->spi);
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
			mux_count(m, VPNPT_ESP_C_ESP_OUT);
			sa = out_lookup(m, pkt->dst, pkt->spi);
			/* a pending SA takes the lock (its window may be over),
			 * and so does an idle one (gone, not collected yet) */
			if (likely(sa && sa->host == pkt->src &&
				   READ_ONCE(sa->state) != VPNPT_ESP_STATE_PENDING &&
				   !sa_idle(m, sa, now))) {
				sa_account(sa, pkt, now);
				*zone = sa->zone;
				return MUX_ZONE;
			}
		} else {
			mux_count(m, VPNPT_ESP_C_ESP_IN);
			sa = in_lookup(m, pkt->src, pkt->spi);
			if (likely(sa)) {
				sa_account(sa, pkt, now);
				*zone = sa->zone;
				return MUX_ZONE;
			}
		}
		mux_lock(&m->lock);
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
		window_check(m, pe, now);
		list_for_each_entry_safe(h, ht, &pe->held, node) {
			if (now >= h->expires) {
				held_move(m, pe, h, &m->expired);
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
			if (sa_window_over(sa)) {
				mux_count(m, VPNPT_ESP_C_EXPIRED_PENDING);
				sa_free(m, sa, true);
			}
			break;
		case VPNPT_ESP_STATE_BOUND:
			if (now - seen >= idle) {
				mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
				sa_free(m, sa, false);
			}
			break;
		case VPNPT_ESP_STATE_DRAINING:
			if (now - sa->drain_start < drain)
				break;
			if (now - seen < drain / 2) {
				/* still carrying traffic: a parallel child SA,
				 * not the one the rekey replaced */
				WRITE_ONCE(sa->state, VPNPT_ESP_STATE_BOUND);
				mux_count(m, VPNPT_ESP_C_DRAIN_REVIVED);
			} else {
				mux_count(m, VPNPT_ESP_C_DRAINED);
				sa_free(m, sa, true);
			}
			break;
		}
	}
	list_for_each_entry_safe(ik, ikt, &m->ikes, list) {
		if (now - ik->last_seen >= idle) {
			mux_count(m, VPNPT_ESP_C_EXPIRED_IDLE);
			ike_free(m, ik);
		}
	}
	list_for_each_entry_safe(pr, prt, &m->pairs, list) {
		if (pr->n_sa || pr->n_ike || now - pr->last_seen < pend ||
		    pr->pe->owner == pr->host)
			continue;
		pair_free(m, pr, now);
	}
	list_for_each_entry_safe(pe, pet, &m->peers, list) {
		/* kept only while it remembers orphans, idle_timeout at most */
		if (!peer_unused(pe, now) || (pe->remembers && now - pe->last_seen < idle))
			continue;
		peer_free(m, pe);
	}
	list_for_each_entry_safe(ho, hot, &m->hosts, list) {
		if (ho->n_pairs || ho->n_held)
			continue;
		host_free(m, ho);
	}
	mux_unlock(&m->lock);
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
		sa_free(m, sa, true);
	list_for_each_entry_safe(ik, ikt, &m->ikes, list)
		ike_free(m, ik);
	list_for_each_entry(pe, &m->peers, list) {
		pe->owner = 0;
		pe->want = 0;
		pe->installed = false;
		list_for_each_entry_safe(h, ht, &pe->held, node)
			held_move(m, pe, h, &m->expired);
		/* exchanges in flight finish unseen now, as in a WAN outage:
		 * the peer is kept and binds nothing for a while, so that
		 * its new SAs show up as orphans first (mux_blind_end) */
		contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
	}
	/* pairs, peers and hosts are unused now: let gc free them at once */
	list_for_each_entry(pr, &m->pairs, list)
		pr->last_seen = old;
	mux_unlock(&m->lock);
	mux_gc(m, now);
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

u32 mux_zone_take_dirty(struct mux *m, u16 *zones, u32 max)
{
	u32 n, i;

	mux_lock(&m->lock);
	n = m->zdirty_len < max ? m->zdirty_len : max;
	for (i = 0; i < n; i++)
		zones[i] = m->p.zone_base + m->zdirty[m->zdirty_len - n + i];
	m->zdirty_len -= n;
	m->zflushing += n;	/* the zone range cannot change until released */
	mux_unlock(&m->lock);
	return n;
}

void mux_zone_release(struct mux *m, u16 zone)
{
	mux_lock(&m->lock);
	if (m->zflushing)
		m->zflushing--;
	if (zone >= m->p.zone_base && zone - m->p.zone_base < m->p.zone_count &&
	    m->zfree_len < m->p.zone_count) {
		m->zfree[(m->zfree_head + m->zfree_len) % m->zone_cap] = zone - m->p.zone_base;
		m->zfree_len++;
	}
	mux_unlock(&m->lock);
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

/* ------------------------------------------------------------ parameters */

/* Field by field: the hooks read enabled and wan_ifindex, the fast path
 * idle_timeout, without the lock (READ_ONCE). */
static void params_store(struct mux *m, const struct mux_params *p)
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

/* tabs_replace - rehash every object into the tables of @nt (NULL: keep
 * that one), publish them, and leave the old ones in @nt to be freed after
 * a grace period.  A fast-path reader still in an old table may be led into
 * a chain of the new one while nodes move and miss: the slow path looks
 * again under the lock.  Caller holds m->lock. */
static void tabs_replace(struct mux *m, struct mux_htab **nt)
{
	struct mux_htab *old;
	struct mux_pair *pr;
	struct mux_peer *pe;
	struct mux_host *ho;
	struct mux_ike *ik;
	struct mux_sa *sa;
	int t;

	lockdep_assert_held(&m->lock);
	list_for_each_entry(sa, &m->sas, list) {
		if (nt[MUX_T_IN] && !hlist_unhashed(&sa->in_node)) {
			hlist_del_init_rcu(&sa->in_node);
			hlist_add_head_rcu(&sa->in_node, bucket(nt[MUX_T_IN],
					   hkey(m, sa->peer, sa->spi_in, MUX_T_IN)));
		}
		if (nt[MUX_T_OUT] && !hlist_unhashed(&sa->out_node)) {
			hlist_del_init_rcu(&sa->out_node);
			hlist_add_head_rcu(&sa->out_node, bucket(nt[MUX_T_OUT],
					   hkey(m, sa->peer, sa->spi_out, MUX_T_OUT)));
		}
	}
	if (nt[MUX_T_IKE])
		list_for_each_entry(ik, &m->ikes, list) {
			hlist_del_init(&ik->hnode);
			hlist_add_head(&ik->hnode, bucket(nt[MUX_T_IKE],
				       ike_key(m, ik->pair->peer, ik->ispi)));
		}
	if (nt[MUX_T_PAIR])
		list_for_each_entry(pr, &m->pairs, list) {
			hlist_del_init(&pr->hnode);
			hlist_add_head(&pr->hnode, bucket(nt[MUX_T_PAIR],
				       hkey(m, pr->host, pr->peer, MUX_T_PAIR)));
		}
	if (nt[MUX_T_PEER])
		list_for_each_entry(pe, &m->peers, list) {
			hlist_del_init(&pe->hnode);
			hlist_add_head(&pe->hnode, bucket(nt[MUX_T_PEER],
				       hkey(m, pe->addr, 0, MUX_T_PEER)));
		}
	if (nt[MUX_T_HOST])
		list_for_each_entry(ho, &m->hosts, list) {
			hlist_del_init(&ho->hnode);
			hlist_add_head(&ho->hnode, bucket(nt[MUX_T_HOST],
				       hkey(m, ho->addr, 0, MUX_T_HOST)));
		}
	for (t = 0; t < MUX_T_NUM; t++) {
		if (!nt[t])
			continue;
		old = tab_locked(m, t);
		rcu_assign_pointer(m->tab[t], nt[t]);
		nt[t] = old;
	}
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
	int ret = 0, t;

	if (!params_valid(p))
		return -EINVAL;
	for (t = 0; p->enabled && t < MUX_T_NUM; t++) {
		u32 bits = tab_bits(p, t);

		if (bits == tab_owned(m, t)->bits)
			continue;
		nt[t] = htab_alloc(bits);
		if (!nt[t]) {
			ret = -ENOMEM;
			goto out_free;
		}
		resize = true;
	}
	mux_lock(&m->lock);
	if (p->zone_base != m->p.zone_base || p->zone_count != m->p.zone_count) {
		/* zones are handed out by index: only change them when empty */
		if (m->n_pairs || m->zdirty_len || m->zflushing) {
			ret = -EBUSY;
			mux_unlock(&m->lock);
			goto out_free;
		}
		params_store(m, p);
		zones_reset(m);
	} else {
		params_store(m, p);
	}
	if (resize)
		tabs_replace(m, nt);
	mux_unlock(&m->lock);
	if (resize)
		synchronize_rcu();	/* no reader is in an old table */
out_free:
	for (t = 0; t < MUX_T_NUM; t++)
		mux_big_free(nt[t]);
	return ret;
}

void mux_wan_ifindex_set(struct mux *m, u32 ifindex)
{
	mux_lock(&m->lock);
	WRITE_ONCE(m->p.wan_ifindex, ifindex);
	mux_unlock(&m->lock);
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
		contend(pe, now + MUX_INFLIGHT_FACTOR * MS(m->p.pending_timeout));
	mux_unlock(&m->lock);
}

void mux_params_get(struct mux *m, struct mux_params *p)
{
	mux_lock(&m->lock);
	*p = m->p;
	mux_unlock(&m->lock);
}

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
