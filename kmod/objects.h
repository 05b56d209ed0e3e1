/* SPDX-License-Identifier: GPL-2.0 */
/*
 * objects.h: what the files of the table (objects.c, zone.c, window.c,
 * bind.c, gc.c, params.c, dump.c) share: the objects, the limits that are
 * not parameters, and the functions one file calls in another.  Pure logic,
 * built in user space too (compat.h).  Exported names are mux_<object>_<verb>.
 *
 * Locking: see table.h.  "Caller holds m->lock" is checked with
 * lockdep_assert_held() in each such function.
 */
#ifndef VPNPT_OBJECTS_H
#define VPNPT_OBJECTS_H

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
/* Milliseconds from T to NOW, 0 when T is later: gc and dumps take their
 * clock once, then walk while the packet path, lockless and on other CPUs,
 * stamps last_seen with a later one.  now - t would wrap to 2^64 and make
 * the busiest SA look idle forever. */
static inline u64 mux_since(u64 now, u64 t)
{
	return now > t ? now - t : 0;
}
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
	u32 local_gen;			/* host and peer found not local at this
					 * mux_pkt.local_gen (local_later) */
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

/* hash tables (objects.c) */
/* ------------------------------------------------------------ hash tables */

static inline u32 mux_hkey(const struct mux *m, u32 a, u32 b, enum mux_tab t)
{
	return jhash_3words(a, b, t + 1, m->seed);
}

static inline struct hlist_head *mux_bucket(struct mux_htab *h, u32 key)
{
	return &h->b[((u64)key * h->n) >> 32];	/* reciprocal_scale() */
}

/* Table @t for a holder of m->lock. */
static inline struct mux_htab *mux_tab_locked(struct mux *m, enum mux_tab t)
{
	return rcu_dereference_protected(m->tab[t], lockdep_is_held(&m->lock));
}

/* The SA bound to (@peer, inbound @spi) / seen on (@peer, outbound @spi):
 * under RCU (the fast path) or m->lock. */
static inline struct mux_sa *mux_in_lookup(struct mux *m, __be32 peer, u32 spi)
{
	struct mux_htab *h = rcu_dereference_check(m->tab[MUX_T_IN], lockdep_is_held(&m->lock));
	struct mux_sa *sa;

	hlist_for_each_entry_rcu(sa, mux_bucket(h, mux_hkey(m, peer, spi, MUX_T_IN)), in_node,
				 lockdep_is_held(&m->lock))
		if (sa->spi_in == spi && sa->peer == peer)
			return sa;
	return NULL;
}

static inline struct mux_sa *mux_out_lookup(struct mux *m, __be32 peer, u32 spi)
{
	struct mux_htab *h = rcu_dereference_check(m->tab[MUX_T_OUT], lockdep_is_held(&m->lock));
	struct mux_sa *sa;

	hlist_for_each_entry_rcu(sa, mux_bucket(h, mux_hkey(m, peer, spi, MUX_T_OUT)), out_node,
				 lockdep_is_held(&m->lock))
		if (sa->spi_out == spi && sa->peer == peer)
			return sa;
	return NULL;
}

/* No unknown SPI of @pe is bound now: a late exchange of another host, a
 * blind period or a FLUSH. */
static inline bool mux_peer_contended(const struct mux_peer *pe, u64 now)
{
	return now < pe->contended_until;
}

#define mux_obj_uncount(m, p, size) WRITE_ONCE((m)->mem, (m)->mem - mux_objsize((p), (size)))

/* objects and hash tables (objects.c); each says whether it needs m->lock */
int mux_tabs_alloc(struct mux *m, const struct mux_params *p, struct mux_htab **nt);
void mux_tabs_replace(struct mux *m, struct mux_htab **nt);
void mux_tabs_free(struct mux_htab **nt);
struct mux_peer *mux_peer_lookup(struct mux *m, __be32 addr);
struct mux_ike *mux_ike_lookup(struct mux *m, __be32 peer, u64 ispi);
void *mux_obj_alloc(struct mux *m, size_t size);
void mux_peer_free(struct mux *m, struct mux_peer *pe);
bool mux_peer_unused(const struct mux_peer *pe, u64 now);
void mux_host_free(struct mux *m, struct mux_host *ho);
struct mux_pair *mux_pair_lookup(struct mux *m, __be32 host, __be32 peer);
struct mux_host *mux_host_lookup(struct mux *m, __be32 addr);
struct mux_pair *mux_pair_get(struct mux *m, __be32 host, __be32 peer, u64 now);
struct mux_pair *mux_pair_add(struct mux *m, __be32 host, __be32 peer, u16 zone, u64 now, int *err);
void mux_pair_free(struct mux *m, struct mux_pair *pr, u64 now);
void mux_sa_free(struct mux *m, struct mux_sa *sa, bool tombstone);
struct mux_sa *mux_sa_new(struct mux *m, struct mux_pair *pr, u8 state, u8 reason, u64 now);
void mux_sa_set_out(struct mux *m, struct mux_sa *sa, u32 spi);
void mux_sa_set_in(struct mux *m, struct mux_sa *sa, u32 spi);
struct mux_ike *mux_ike_new(struct mux *m, struct mux_pair *pr, const struct ike_info *i,
			    u8 reason, u64 now);
void mux_ike_free(struct mux *m, struct mux_ike *ik);

/* zones (zone.c) */
void mux_zones_reset(struct mux *m);
u32 mux_zone_free(struct mux *m);
u16 mux_zone_get(struct mux *m);
bool mux_zone_is_free(struct mux *m, u16 zone);
void mux_zone_take(struct mux *m, u16 zone);
void mux_zone_put(struct mux *m, u16 zone);

/* bind windows, held packets, orphans (window.c) */
void mux_held_move(struct mux *m, struct mux_peer *pe, struct mux_held *h, struct list_head *to);
u64 mux_window_cap(const struct mux *m, const struct mux_peer *pe);
void mux_window_extend(struct mux *m, struct mux_peer *pe, u64 until);
void mux_window_close(struct mux *m, struct mux_peer *pe, u64 now);
void mux_window_check(struct mux *m, struct mux_peer *pe, u64 now);
void mux_window_open(struct mux *m, struct mux_peer *pe, __be32 host, u8 reason, u64 now);
void mux_peer_contend(struct mux_peer *pe, u64 until);
bool mux_orphan_seen(const struct mux_peer *pe, u32 spi);
void mux_orphan_note(struct mux_peer *pe, u32 spi);
enum mux_verdict mux_hold(struct mux *m, struct mux_peer *pe, struct mux_host *ho, u8 reason,
		      const struct mux_pkt *pkt, u64 now, void *cookie, void *aux);
bool mux_sa_window_over(const struct mux_sa *sa);

/* parameters (params.c) */
void mux_params_store(struct mux *m, const struct mux_params *p);

#endif /* VPNPT_OBJECTS_H */
