/* SPDX-License-Identifier: GPL-2.0 */
/*
 * table.h: the ESP multiplexing tables and binding rules of vpnpt_esp.
 *
 * Pure logic, no sk_buff and no netfilter: the hooks (hooks.c) parse a packet
 * into a struct mux_pkt, ask mux_classify() for a verdict, and act on it.
 * Behind it, one concept per file: objects.c (objects, hash tables), zone.c,
 * window.c, bind.c (the binding rule), gc.c, params.c, dump.c, handover.c
 * (mappings the controller adds); objects.h is what they share.  They build in user space too (-DVPNPT_USERSPACE) for
 * tests/kmod, tests/fuzz and bench/.
 *
 * Locking: one struct mux per network namespace.  Packets of a bound SA are
 * classified under RCU only (lookups in in_hash/out_hash, per-cpu counters).
 * Anything that changes state (a new SPI, an IKE message, gc, netlink) takes
 * mux->lock (spin_lock_bh).  Objects are freed with kfree_rcu.
 */
#ifndef VPNPT_TABLE_H
#define VPNPT_TABLE_H

#include "compat.h"
#include "ike.h"
#include "uapi/vpnpt_esp.h"

/* Hash tables are sized from the parameters when the module is enabled
 * (mux_params_set): in/out at a load of at most 1 at max_mappings, the
 * others at most 2; until then MUX_HTAB_MIN_BITS.  The fuzz build makes it
 * 2 (tests/fuzz/CMakeLists.txt): its few mappings then share chains. */
#ifndef MUX_HTAB_MIN_BITS
#define MUX_HTAB_MIN_BITS	8
#endif
#define MUX_HTAB_MAX_BITS	20
#define MUX_ZONE_COUNT_MAX	8192
#define MUX_IFNAMSIZ		16	/* IFNAMSIZ */

struct mux_params {
	u32 idle_timeout;	/* s: idle bound SA / IKE SA removed */
	u32 pending_timeout;	/* s: bind window, unbound outbound SPI, held packet / 2 */
	u32 drain_timeout;	/* s: an SA replaced by a rekey keeps working */
	u32 max_per_host;	/* ESP mappings per LAN host */
	u32 max_per_peer;	/* ESP mappings (and IKE SAs) per remote peer */
	u32 max_mappings;	/* ESP mappings (and IKE SAs) in all */
	u32 hold_max;		/* packets held per peer while another host binds */
	u32 wan_ifindex;	/* read by hooks.c only (READ_ONCE): wan_name's
				 * index now, 0 while no such interface exists */
	char wan_name[MUX_IFNAMSIZ];	/* the WAN interface, as configured */
	u16 zone_base;		/* conntrack zones zone_base .. zone_base+zone_count-1 */
	u16 zone_count;
	bool keep_ike_port;	/* classify UDP 500 into the pair's zone too */
	bool enabled;		/* read by hooks.c only: off until the controller
				 * asks for "mux" in this netns, so a loaded
				 * module changes nothing elsewhere */
};

void mux_params_default(struct mux_params *p);
/* The tunables within the uapi table's ranges, idle >= pending, zones fit. */
bool mux_params_valid(const struct mux_params *p);

enum mux_verdict {
	MUX_PASS,		/* not ours: leave the packet alone (zone 0) */
	MUX_ZONE,		/* set conntrack zone *zone */
	MUX_HOLD,		/* stored (cookie) until another host's bind completes */
	MUX_DROP,		/* quota, table full, or hold queue full */
	MUX_NOT_OURS,		/* ESP that parse's direction rule, applied here
				 * (pkt->local_later), leaves alone: as MUX_PASS,
				 * and as MUX_PARSE_DIRECTION from mux_parse() */
};

enum mux_pkt_type { MUX_PKT_ESP, MUX_PKT_IKE, MUX_PKT_ICMP_ESP };

enum mux_dir {
	MUX_DIR_OUT,		/* from a LAN host to a non-local address */
	MUX_DIR_IN,		/* to a local address (from a remote peer) */
};

struct mux_pkt {
	u8 type;		/* enum mux_pkt_type */
	u8 dir;			/* enum mux_dir */
	bool natt;		/* IKE seen on UDP 4500: observe only */
	__be32 src, dst;
	u32 spi;		/* ESP, or the ESP header quoted by an ICMP error */
	__be32 inner_src;	/* ICMP error: quoted IP header */
	__be32 inner_dst;
	struct ike_info ike;	/* IKE */
	u32 len;
	u32 truesize;		/* memory the packet holds (skb->truesize); 0 in tests */
	/* ESP: mux_parse() left its direction rule (which of src and dst are
	 * the router's) to mux_classify(), which answers a bound SA's packets
	 * from what it found for that SA at generation @local_gen */
	bool local_later;
	/* The generation of the router's addresses when the packet came: a
	 * number that changes whenever ops.is_local's answer for any address
	 * may have (the kernel's rt_genid, which every address and route
	 * change bumps, as for its cached routes); the caller's to fill. */
	u32 local_gen;
};

/* A packet held while another host's bind window is open. */
struct mux_host;
struct mux_held {
	struct list_head node;
	__be32 host;
	struct mux_host *ho;	/* kept while it has held packets */
	u8 reason;		/* window reason the host gets when its turn comes */
	u64 expires;
	u32 truesize;
	void *cookie;		/* owned by the caller: the sk_buff in the kernel */
	void *aux;
};

struct mux_ops {
	/* The router itself has an inbound SA (daddr, spi): never bind it. */
	bool (*local_spi)(void *ctx, __be32 daddr, u32 spi);
	/* @addr is one of the router's own addresses (NULL: none is) */
	bool (*is_local)(void *ctx, __be32 addr);
	void *ctx;
};

struct mux_stats {
	u64 c[VPNPT_ESP_C_NUM];
};

/* A hash table: n = (1 << bits) - 1 buckets, so that with this header it
 * fills 1 << bits pointers exactly (a power of two for kmalloc/vmalloc). */
struct mux_htab {
	u32 bits, n;
	struct hlist_head b[];
};

enum mux_tab {
	MUX_T_IN,	/* (peer, spi_in) -> sa; RCU (fast path) and lock */
	MUX_T_OUT,	/* (peer, spi_out) -> sa; RCU (fast path) and lock */
	MUX_T_IKE,	/* (peer, ispi) -> ike; lock */
	MUX_T_PAIR,	/* (host, peer) -> pair; lock */
	MUX_T_PEER,	/* addr -> peer; lock */
	MUX_T_HOST,	/* addr -> host; lock */
	MUX_T_NUM,
};

struct mux {
	mux_lock_t lock;
	struct mux_params p;
	struct mux_ops ops;
	u32 seed;
	struct mux_htab __rcu *tab[MUX_T_NUM];	/* replaced by mux_params_set */
	struct list_head sas, ikes, pairs, peers, hosts;
	struct list_head idle_peers;	/* peers without pairs, oldest first */
	struct list_head released;	/* held packets to re-inject */
	struct list_head expired;	/* held packets to drop */
	u32 n_sa, n_ike, n_pairs, n_held;
	u32 n_peers, n_hosts;
	u64 held_bytes;		/* truesize of the held packets */
	u64 mem;		/* bytes of table objects allocated (ksize) */
	u64 local_in;		/* (local_gen << 32 | addr): an inbound ESP's
				 * destination found local at that generation */
	u32 local_gen_seen;	/* the last mux_pkt.local_gen of a new SA's
				 * packet (m->lock): new SAs start unchecked */
	u32 dump_gen;		/* bumped when a mapping enters, moves between
				 * or leaves the tables (dumps: cb->seq) */
	/* zone allocator: FIFO of free zone indexes; freed zones go to
	 * dirty[] first so the caller can flush conntrack before reuse */
	u16 *zfree, *zdirty;
	u32 zfree_head, zfree_len, zdirty_len, zone_cap;
	u32 zflushing;		/* taken for their conntrack flush, not released yet */
#ifdef VPNPT_USERSPACE
	struct mux_stats stats;
#else
	struct mux_stats __percpu *stats;
#endif
};

/* One mapping as dumped to user space. */
struct mux_view {
	u8 kind;		/* enum vpnpt_esp_kind */
	u8 state;		/* enum vpnpt_esp_state (ESP) */
	u8 reason;		/* enum vpnpt_esp_reason */
	u8 ike_version;
	__be32 host, peer;
	u32 spi_out, spi_in;
	u16 zone;
	u64 age_ms, idle_ms;
	u64 pkts_out, pkts_in, bytes_out, bytes_in;
	u64 ispi, rspi;
};

int mux_init(struct mux *m, const struct mux_params *p, u32 seed);
void mux_destroy(struct mux *m);	/* caller drains released/expired first */
/* 0, -EINVAL, -EBUSY or -ENOMEM (the tables could not grow: nothing
 * changed).  Process context; callers serialised (RTNL in the kernel):
 * it allocates and waits for an RCU grace period when the tables grow. */
int mux_params_set(struct mux *m, const struct mux_params *p);
void mux_wan_ifindex_set(struct mux *m, u32 ifindex);
/* Seeing the WAN again after not seeing it: no binds at known peers for a while. */
void mux_blind_end(struct mux *m, u64 now);
void mux_params_get(struct mux *m, struct mux_params *p);

enum mux_verdict mux_classify(struct mux *m, const struct mux_pkt *pkt, u64 now,
			      void *cookie, void *aux, u16 *zone);
void mux_gc(struct mux *m, u64 now);
/* Nothing left: no mapping, pair, peer, host, held packet or zone waiting
 * for its flush (the caller checks released/expired, which it drains). */
bool mux_idle(struct mux *m);
void mux_flush(struct mux *m, u64 now);

/* Held packets whose turn came (released) or whose time ran out (expired). */
void mux_take_released(struct mux *m, struct list_head *out);
void mux_take_expired(struct mux *m, struct list_head *out);
static inline void mux_held_free(struct mux_held *h) { mux_free(h); }

/* Zones of freed pairs: flush conntrack in them, then release for reuse. */
u32 mux_zone_take_dirty(struct mux *m, u16 *zones, u32 max);
void mux_zone_release(struct mux *m, u16 zone);

/*
 * Where a dump resumes: a table, a bucket of it, and how many entries of
 * that bucket's chain were passed.  Zeroed: from the start.  The ESP SAs
 * are taken from the outbound table, then those with only an inbound SPI
 * from the inbound one, then the IKE SAs: resuming costs one chain, not a
 * walk from the head.
 */
enum mux_dump_phase { MUX_DUMP_OUT, MUX_DUMP_IN_ONLY, MUX_DUMP_IKE, MUX_DUMP_DONE };
struct mux_dump_pos {
	u32 phase;		/* enum mux_dump_phase */
	u32 bucket;
	u32 skip;
};

/* Calls @fn for every mapping from @pos on, under the lock, until it
 * returns non-zero (that mapping is the first one next time) or every
 * mapping was taken (pos->phase is then MUX_DUMP_DONE).  Returns how many
 * @fn took.  *@gen (before the first call of @fn) is the tables' generation:
 * a mapping that exists from the first call to the last is taken exactly
 * once when it did not change between them. */
u32 mux_dump(struct mux *m, struct mux_dump_pos *pos, u64 now,
	     int (*fn)(void *ctx, const struct mux_view *v), void *ctx, u32 *gen);

/*
 * A mapping another router had, handed over before a planned switchover
 * (netlink ADD_MAPPING / DEL_MAPPING, DESIGN.md "Router pair").
 */
struct mux_mapping {
	u8 kind;		/* enum vpnpt_esp_kind */
	u8 state;		/* ESP: BOUND or DRAINING */
	u8 reason;		/* enum vpnpt_esp_reason, as the dump said (kept) */
	u8 ike_version;		/* IKE: 1 or 2 */
	__be32 host, peer;
	u16 zone;
	u32 spi_out, spi_in;	/* ESP: both non-zero (DEL: as dumped) */
	u64 ispi, rspi;		/* IKE: ispi non-zero */
};

/* mux_mapping_add - create @mp through every limit a packet meets; 0 also
 * when the same mapping exists.  -EINVAL, -ERANGE, -EBUSY, -EEXIST,
 * -EDQUOT, -ENOSPC or -ENOMEM, and *@why says what is wrong (a static
 * string).  Takes m->lock. */
int mux_mapping_add(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why);
/* mux_mapping_del - forget the mapping @mp names (kind, host, peer, SPIs);
 * -ENOENT if there is none.  Takes m->lock. */
int mux_mapping_del(struct mux *m, const struct mux_mapping *mp, u64 now, const char **why);

/* The most mux->mem can reach with @p (bytes), whatever packets arrive. */
u64 mux_mem_bound(const struct mux_params *p);
/* Held packets' own memory (truesize) per netns, at most. */
#define MUX_HELD_BYTES_MAX	(8u << 20)

void mux_count(struct mux *m, unsigned int c);
u64 mux_counter(struct mux *m, unsigned int c);
u32 mux_nr_sas(struct mux *m);
/* Buckets of table @t now (benchmarks, tests). */
u32 mux_tab_buckets(struct mux *m, enum mux_tab t);

#endif /* VPNPT_TABLE_H */
