/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h: the few kernel facilities the pure logic (the table, ike.c, parse.c) uses,
 * mapped to their kernel versions in a module build and to small user-space
 * equivalents when built with -DVPNPT_USERSPACE for the GoogleTest suite
 * (tests/kmod).  Nothing here may change behaviour between the two builds:
 * the user-space versions are single-threaded (RCU and locks become no-ops;
 * the tests drive one table from one thread, as the kernel's lock would).
 */
#ifndef VPNPT_COMPAT_H
#define VPNPT_COMPAT_H

#ifndef VPNPT_USERSPACE

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/jhash.h>
#include <linux/atomic.h>
#include <linux/string.h>
#include <linux/errno.h>

#define mux_alloc(sz)		kzalloc((sz), GFP_ATOMIC)
#define mux_objsize(p, sz)	ksize(p)	/* what kmalloc really gave */
#define mux_free_rcu(p, f)	kfree_rcu((p), f)
#define mux_free(p)		kfree(p)
#define mux_lock_t		spinlock_t
#define mux_lock_init(l)	spin_lock_init(l)
#define mux_lock(l)		spin_lock_bh(l)
#define mux_unlock(l)		spin_unlock_bh(l)

#else /* VPNPT_USERSPACE */

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <linux/types.h>	/* __be16, __be32, __be64 from linux-libc-dev */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#ifndef likely
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#endif
#define READ_ONCE(x)		(*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define __rcu
#ifndef __force
#define __force
#endif
#define rcu_dereference(p)	(p)
#define rcu_dereference_check(p, c)	(p)
#define rcu_dereference_protected(p, c)	(p)
static inline void synchronize_rcu(void) { }
#define rcu_assign_pointer(p, v) ((p) = (v))
#define RCU_INIT_POINTER(p, v)	((p) = (v))

#define BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

typedef struct { int64_t counter; } atomic64_t;
static inline void atomic64_add(int64_t i, atomic64_t *v)
{ __atomic_add_fetch(&v->counter, i, __ATOMIC_RELAXED); }
static inline void atomic64_inc(atomic64_t *v) { atomic64_add(1, v); }
static inline int64_t atomic64_read(const atomic64_t *v)
{ return __atomic_load_n(&v->counter, __ATOMIC_RELAXED); }
static inline void atomic64_set(atomic64_t *v, int64_t i)
{ __atomic_store_n(&v->counter, i, __ATOMIC_RELAXED); }

struct rcu_head { void *next; void (*func)(void *); };	/* the kernel's size */

/* Doubly linked list, the kernel's semantics. */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(n) { &(n), &(n) }
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline void __list_add(struct list_head *n, struct list_head *p, struct list_head *nx)
{ nx->prev = n; n->next = nx; n->prev = p; p->next = n; }
static inline void list_add(struct list_head *n, struct list_head *h) { __list_add(n, h, h->next); }
static inline void list_add_tail(struct list_head *n, struct list_head *h) { __list_add(n, h->prev, h); }
static inline void list_del(struct list_head *e)
{ e->next->prev = e->prev; e->prev->next = e->next; e->next = e->prev = NULL; }
static inline void list_del_init(struct list_head *e)
{ e->next->prev = e->prev; e->prev->next = e->next; INIT_LIST_HEAD(e); }
static inline bool list_empty(const struct list_head *h) { return h->next == h; }
static inline void list_move_tail(struct list_head *e, struct list_head *h)
{ e->next->prev = e->prev; e->prev->next = e->next; list_add_tail(e, h); }
static inline void list_splice_tail_init(struct list_head *l, struct list_head *h)
{
	if (list_empty(l))
		return;
	l->next->prev = h->prev; h->prev->next = l->next;
	l->prev->next = h; h->prev = l->prev;
	INIT_LIST_HEAD(l);
}
#define list_entry(p, t, m)		container_of(p, t, m)
#define list_first_entry(h, t, m)	list_entry((h)->next, t, m)
#define list_for_each_entry(pos, head, member)					\
	for (pos = list_entry((head)->next, __typeof__(*pos), member);		\
	     &pos->member != (head);						\
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))
#define list_for_each_entry_safe(pos, n, head, member)				\
	for (pos = list_entry((head)->next, __typeof__(*pos), member),		\
	     n = list_entry(pos->member.next, __typeof__(*pos), member);	\
	     &pos->member != (head);						\
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))
#define list_add_tail_rcu	list_add_tail
#define list_del_rcu		list_del
#define list_for_each_entry_rcu	list_for_each_entry

/* Hash list (one pointer per bucket). */
struct hlist_head { struct hlist_node *first; };
struct hlist_node { struct hlist_node *next, **pprev; };
static inline void hlist_add_head_rcu(struct hlist_node *n, struct hlist_head *h)
{
	n->next = h->first;
	if (h->first)
		h->first->pprev = &n->next;
	h->first = n;
	n->pprev = &h->first;
}
static inline void hlist_del_init_rcu(struct hlist_node *n)
{
	if (!n->pprev)
		return;
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
}
static inline bool hlist_unhashed(const struct hlist_node *n) { return !n->pprev; }
static inline void hlist_add_head(struct hlist_node *n, struct hlist_head *h)
{ hlist_add_head_rcu(n, h); }
static inline void hlist_del_init(struct hlist_node *n) { hlist_del_init_rcu(n); }
#define hlist_entry_safe(ptr, type, member) \
	((ptr) ? container_of(ptr, type, member) : NULL)
/* The optional lockdep condition (a lookup used under RCU and under the
 * lock) is evaluated and ignored, as the kernel does without PROVE_RCU. */
static inline void mux_rcu_cond(int n, ...) { (void)n; }
#define hlist_for_each_entry_rcu(pos, head, member, ...)			\
	for (mux_rcu_cond(0, ##__VA_ARGS__),					\
	     pos = hlist_entry_safe((head)->first, __typeof__(*(pos)), member);	\
	     pos;								\
	     pos = hlist_entry_safe((pos)->member.next, __typeof__(*(pos)), member))
#define hlist_for_each_entry(pos, head, member)	hlist_for_each_entry_rcu(pos, head, member)

/* Bob Jenkins' lookup3 final mix, as linux/jhash.h. */
#define __jrol32(w, s) (((w) << (s)) | ((w) >> (32 - (s))))
#define __jhash_final(a, b, c)			\
	do {					\
		c ^= b; c -= __jrol32(b, 14);	\
		a ^= c; a -= __jrol32(c, 11);	\
		b ^= a; b -= __jrol32(a, 25);	\
		c ^= b; c -= __jrol32(b, 16);	\
		a ^= c; a -= __jrol32(c, 4);	\
		b ^= a; b -= __jrol32(a, 14);	\
		c ^= b; c -= __jrol32(b, 24);	\
	} while (0)
#define JHASH_INITVAL 0xdeadbeef
static inline u32 jhash_3words(u32 a, u32 b, u32 c, u32 initval)
{
	a += JHASH_INITVAL; b += JHASH_INITVAL; c += initval + JHASH_INITVAL + (3 << 2);
	__jhash_final(a, b, c);
	return c;
}

#define mux_alloc(sz)		calloc(1, (sz))
#define mux_objsize(p, sz)	((void)(p), (u64)(sz))
#define mux_free_rcu(p, f)	free(p)
#define mux_free(p)		free(p)
/* One thread, but the lock is still a state: taking it twice, releasing it
 * when not held, or calling a function that needs it without it aborts, as
 * lockdep would complain in a kernel built with PROVE_LOCKING. */
typedef int mux_lock_t;
static inline void mux_lock_check(int ok) { if (!ok) abort(); }
#define mux_lock_init(l)	(*(l) = 0)
#define mux_lock(l)		(mux_lock_check(!*(l)), *(l) = 1)
#define mux_unlock(l)		(mux_lock_check(*(l)), *(l) = 0)
#define lockdep_is_held(l)	(*(l) != 0)
#define lockdep_assert_held(l)	mux_lock_check(lockdep_is_held(l))

#endif /* VPNPT_USERSPACE */

#endif /* VPNPT_COMPAT_H */
