/* SPDX-License-Identifier: GPL-2.0 */
/*
 * parse.h: what vpnpt_esp reads of an IPv4 packet, as pure code.
 *
 * hooks.c hands the parser the packet through an accessor (the kernel's
 * skb_header_pointer(), a byte buffer in user space) and the input
 * interface ("is this address the router's own" is m->ops.is_local); the
 * parser fills the
 * struct mux_pkt that mux_classify() takes, or says the packet is not the
 * module's business.  No sk_buff here: the same file builds in user space
 * (-DVPNPT_USERSPACE) for tests/kmod and the fuzzer in tests/fuzz.
 */
#ifndef VPNPT_PARSE_H
#define VPNPT_PARSE_H

#include "compat.h"
#include "table.h"

struct mux_parse_in {
	/* @len bytes at @off of the packet, as skb_header_pointer(): a
	 * pointer into the packet, or @buf filled with a copy; NULL if the
	 * packet is shorter.  Only called for bytes past @headlen. */
	const void *(*header)(void *pkt, u32 off, u32 len, void *buf);
	void *pkt;
	const u8 *data;		/* the first @headlen bytes, from the IPv4 header on */
	u32 headlen;		/* linear part: read without calling header() */
	u32 len;		/* packet length from the IPv4 header on */
	u32 iif;		/* ifindex of the input interface */
	u32 truesize;		/* memory the packet holds (skb->truesize) */
};

enum mux_parse_res {
	MUX_PARSE_OURS,		/* *p filled: ask mux_classify() */
	MUX_PARSE_NOT_OURS,	/* not ESP, IKE or an ICMP error quoting ESP */
	MUX_PARSE_BAD,		/* not a plausible IPv4 packet, or truncated */
	MUX_PARSE_FRAGMENT,	/* a fragment (counted): conntrack decides */
	MUX_PARSE_IKE_BAD,	/* UDP 500/4500 but no IKE header (counted) */
	MUX_PARSE_DIRECTION,	/* router-local source, or the wrong interface */
};

/*
 * mux_parse - fill @p from the packet described by @in.  Reads
 * @m->p.wan_ifindex and counts fragments and bad IKE headers in @m.
 * Anything but MUX_PARSE_OURS means: leave the packet alone.
 */
enum mux_parse_res mux_parse(struct mux *m, const struct mux_parse_in *in, struct mux_pkt *p);

/*
 * mux_direction_ok - the direction rule: a packet in from the WAN
 * interface is for one of the router's addresses, any other is for a
 * non-local address from a non-local one.  Counts WRONG_IFACE.  mux_parse()
 * applies it to IKE and ICMP; ESP's is left to mux_classify()
 * (mux_pkt.local_later), which asks it once per SA and address change.
 */
bool mux_direction_ok(struct mux *m, const struct mux_pkt *p);

#endif /* VPNPT_PARSE_H */
