// SPDX-License-Identifier: GPL-2.0
/*
 * zone.c: the conntrack zones of the pairs.  Free zones are handed out
 * oldest-freed first (a FIFO of indexes into zone_base..zone_base +
 * zone_count - 1).  A freed pair's zone may still hold conntrack entries
 * that would deliver the next pair's replies to the old host, so it goes to
 * a dirty list first: the caller (pernet.c) takes dirty zones, flushes
 * their conntrack entries, and releases them for reuse.
 */
#include "objects.h"

/* How many zones a new pair could take now.  Caller holds m->lock. */
u32 mux_zone_free(struct mux *m)
{
	lockdep_assert_held(&m->lock);
	return m->zfree_len;
}

/* mux_zone_get - the oldest free zone; mux_zone_free() said there is one.
 * Caller holds m->lock. */
u16 mux_zone_get(struct mux *m)
{
	u16 zone = m->p.zone_base + m->zfree[m->zfree_head];

	lockdep_assert_held(&m->lock);
	m->zfree_head = (m->zfree_head + 1) % m->zone_cap;
	m->zfree_len--;
	return zone;
}

/* Where @zone is in the free FIFO (0: next out), or -1: held by a pair,
 * dirty, being flushed, or outside the range.  Caller holds m->lock. */
static int zone_free_pos(struct mux *m, u16 zone)
{
	u32 i, idx = (u32)zone - m->p.zone_base;

	lockdep_assert_held(&m->lock);
	if (zone < m->p.zone_base || idx >= m->p.zone_count)
		return -1;
	for (i = 0; i < m->zfree_len; i++)
		if (m->zfree[(m->zfree_head + i) % m->zone_cap] == idx)
			return i;
	return -1;
}

/* Is @zone free for a new pair (in the FIFO, flushed)?  Caller holds m->lock. */
bool mux_zone_is_free(struct mux *m, u16 zone)
{
	return zone_free_pos(m, zone) >= 0;
}

/* mux_zone_take - take the free @zone (mux_zone_is_free said so) out of
 * the FIFO; the others keep their order.  A handed-over pair keeps the zone
 * it had on the other router.  Caller holds m->lock. */
void mux_zone_take(struct mux *m, u16 zone)
{
	int pos = zone_free_pos(m, zone);
	u32 i;

	if (unlikely(pos < 0))
		return;	/* the caller checked: cannot happen */
	/* the ones before it move up one place, the head past them */
	for (i = pos; i > 0; i--)
		m->zfree[(m->zfree_head + i) % m->zone_cap] =
			m->zfree[(m->zfree_head + i - 1) % m->zone_cap];
	m->zfree_head = (m->zfree_head + 1) % m->zone_cap;
	m->zfree_len--;
}

/* mux_zone_put - a freed pair's zone: dirty until its conntrack entries
 * are flushed (mux_zone_take_dirty, mux_zone_release).  Caller holds
 * m->lock. */
void mux_zone_put(struct mux *m, u16 zone)
{
	lockdep_assert_held(&m->lock);
	m->zdirty[m->zdirty_len++] = zone - m->p.zone_base;
}

void mux_zones_reset(struct mux *m)
{
	u32 i;

	m->zfree_head = 0;
	m->zfree_len = m->p.zone_count;
	m->zdirty_len = 0;
	for (i = 0; i < m->p.zone_count; i++)
		m->zfree[i] = i;
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
