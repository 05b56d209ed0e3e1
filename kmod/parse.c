// SPDX-License-Identifier: GPL-2.0
/*
 * parse.c: which packets vpnpt_esp looks at, and what it reads of them.
 *
 * Three kinds of IPv4 packet matter to the tables (bind.c):
 *   - ESP (protocol 50): the SPI, the only demultiplexing field it has;
 *   - IKE on UDP 500, and on UDP 4500 behind the 4-byte non-ESP marker
 *     (RFC 3948 2.2; ESP in UDP and NAT-T keepalives on 4500 are plain NAT
 *     traffic and left alone): the clear-text IKE header (ike.c);
 *   - ICMP errors (unreachable, time exceeded, parameter problem) quoting an
 *     ESP packet: the quoted addresses and SPI, so the error follows the SA.
 * Everything else, fragments included, is left to conntrack.
 *
 * Direction comes from interfaces and addresses: a packet that arrives on
 * the WAN interface (wan_ifindex, which the controller names) for one of the
 * router's own addresses comes from a remote peer (MUX_DIR_IN); one that
 * arrives on any other interface for a non-local address, from a non-local
 * one, comes from a LAN host (MUX_DIR_OUT).  Anything else is left alone and
 * counted (wrong_iface): a LAN host can never pass for a peer.  For ESP the
 * address half of that rule is left to mux_classify() (mux_pkt.local_later),
 * which asks it once per bound SA and route change (bind.c).
 *
 * The packet is read through an accessor, never as an sk_buff: in the
 * kernel it is skb_header_pointer() (hooks.c), in user space a buffer
 * (tests/kmod, tests/fuzz).  The IPv4 header is checked here although the
 * kernel's ip_rcv_core() has checked it before PRE_ROUTING: the parser then
 * holds on its own, for the fuzzer and for any future caller.
 */
#include "parse.h"

#define P_ICMP		1
#define P_UDP		17
#define P_ESP		50
#define ICMP_UNREACH	3
#define ICMP_TIMXCEED	11
#define ICMP_PARAMPROB	12
#define IPV4_MF_OFFSET	0x3fff	/* more-fragments flag and fragment offset */
#define UDP_HLEN	8
#define ICMP_HLEN	8
#define IPV4_HLEN	20

static u16 be16_at(const u8 *b)
{
	return (u16)(b[0] << 8 | b[1]);
}

static u32 be32_at(const u8 *b)
{
	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static __be32 addr_at(const u8 *b)
{
	__be32 a;

	memcpy(&a, b, sizeof(a));	/* stays in network byte order */
	return a;
}

/* hdr - @n bytes at @off of a packet of @plen bytes, or NULL if shorter. */
static const u8 *hdr(const struct mux_parse_in *in, u32 plen, u32 off, u32 n, void *buf)
{
	if (unlikely(off > plen || n > plen - off))
		return NULL;
	if (likely(off + n <= in->headlen))
		return in->data + off;
	if (!in->header)
		return NULL;
	return in->header(in->pkt, off, n, buf);
}

static bool is_ike_port(u16 port)
{
	return port == IKE_PORT || port == IKE_NATT_PORT;
}

static enum mux_parse_res parse_udp(struct mux *m, const struct mux_parse_in *in, u32 plen,
				    u32 off, struct mux_pkt *p)
{
	u8 ub[UDP_HLEN], buf[4 + IKE_HDR_LEN];
	const u8 *uh, *ike;
	u16 sport, dport, port;
	bool in_dir = p->dir == MUX_DIR_IN;
	u32 len;

	uh = hdr(in, plen, off, UDP_HLEN, ub);
	if (unlikely(!uh))
		return MUX_PARSE_BAD;
	sport = be16_at(uh);
	dport = be16_at(uh + 2);
	/* the peer's side of the exchange says which port it is */
	port = in_dir ? sport : dport;
	if (port == IKE_PORT)
		p->natt = false;
	else if (port == IKE_NATT_PORT)
		p->natt = true;
	else
		return MUX_PARSE_NOT_OURS;
	off += UDP_HLEN;
	len = plen - off;
	ike = hdr(in, plen, off, len < sizeof(buf) ? len : sizeof(buf), buf);
	if (unlikely(!ike))
		return MUX_PARSE_BAD;
	if (p->natt) {
		if (!ike_natt_is_ike(ike, len))
			return MUX_PARSE_NOT_OURS;	/* ESP in UDP or keepalive: plain NAT */
		ike += 4;
		len -= 4;
	}
	if (ike_parse(ike, len, &p->ike)) {
		mux_count(m, VPNPT_ESP_C_IKE_BAD);
		return MUX_PARSE_IKE_BAD;
	}
	p->type = MUX_PKT_IKE;
	return MUX_PARSE_OURS;
}

static enum mux_parse_res parse_icmp(const struct mux_parse_in *in, u32 plen, u32 off,
				     struct mux_pkt *p)
{
	u8 b[ICMP_HLEN + IPV4_HLEN], sb[4];
	const u8 *ih, *inner, *sp;
	u32 inner_hl;

	ih = hdr(in, plen, off, sizeof(b), b);
	if (!ih)
		return MUX_PARSE_NOT_OURS;	/* too short to quote anything */
	if (ih[0] != ICMP_UNREACH && ih[0] != ICMP_TIMXCEED && ih[0] != ICMP_PARAMPROB)
		return MUX_PARSE_NOT_OURS;
	inner = ih + ICMP_HLEN;
	inner_hl = (inner[0] & 0x0f) * 4u;
	if (inner[9] != P_ESP || inner_hl < IPV4_HLEN)
		return MUX_PARSE_NOT_OURS;
	sp = hdr(in, plen, off + ICMP_HLEN + inner_hl, 4, sb);
	if (!sp)
		return MUX_PARSE_NOT_OURS;	/* the quote stops before the SPI */
	p->type = MUX_PKT_ICMP_ESP;
	p->inner_src = addr_at(inner + 12);
	p->inner_dst = addr_at(inner + 16);
	p->spi = be32_at(sp);
	return MUX_PARSE_OURS;
}

static bool is_local(const struct mux *m, __be32 addr)
{
	return m->ops.is_local && m->ops.is_local(m->ops.ctx, addr);
}

/* Anything else than a peer's packet in from the WAN for a local address
 * or a LAN host's for a non-local one (from the WAN in transit, or to the
 * router from another interface: a forged peer address, a peer behind an
 * interface that is not [wan], a LAN host's IPsec with the router) is left
 * alone. */
bool mux_direction_ok(struct mux *m, const struct mux_pkt *p)
{
	if ((p->dir == MUX_DIR_IN) != is_local(m, p->dst)) {
		mux_count(m, VPNPT_ESP_C_WRONG_IFACE);
		return false;
	}
	/* spoofed or looped router-local traffic */
	return p->dir == MUX_DIR_IN || !is_local(m, p->src);
}

enum mux_parse_res mux_parse(struct mux *m, const struct mux_parse_in *in, struct mux_pkt *p)
{
	u8 ipb[IPV4_HLEN], ub[UDP_HLEN], sb[4];
	const u8 *iph, *uh, *sp;
	u32 ihl, plen, wan;
	u8 proto;
	bool dir_in;

	memset(p, 0, sizeof(*p));
	iph = hdr(in, in->len, 0, IPV4_HLEN, ipb);
	if (unlikely(!iph))
		return MUX_PARSE_BAD;
	ihl = (iph[0] & 0x0f) * 4u;
	plen = be16_at(iph + 2);
	/* what ip_rcv_core() guarantees in the kernel; the packet is
	 * tot_len bytes long (the kernel trims the rest) */
	if (unlikely(iph[0] >> 4 != 4 || ihl < IPV4_HLEN || plen < ihl || plen > in->len))
		return MUX_PARSE_BAD;
	proto = iph[9];
	p->src = addr_at(iph + 12);
	p->dst = addr_at(iph + 16);
	p->len = plen;
	p->truesize = in->truesize;
	/* 0.0.0.0 is no host and no peer (routing drops it as a martian,
	 * after this hook), and the tables use 0 for "none": a pair with
	 * host 0 looked like the window owner of every closed window and
	 * was never freed (found by tests/fuzz) */
	if (unlikely(!p->src || !p->dst))
		return MUX_PARSE_BAD;

	if (proto != P_ESP && proto != P_UDP && proto != P_ICMP)
		return MUX_PARSE_NOT_OURS;
	if (proto == P_UDP) {
		/* cheap port test before any route lookup: most UDP is not IKE */
		uh = hdr(in, plen, ihl, UDP_HLEN, ub);
		if (!uh || (!is_ike_port(be16_at(uh)) && !is_ike_port(be16_at(uh + 2))))
			return MUX_PARSE_NOT_OURS;
	}
	if (unlikely(be16_at(iph + 6) & IPV4_MF_OFFSET)) {
		/* only without conntrack defrag (it is enabled per netns) */
		mux_count(m, VPNPT_ESP_C_FRAGMENT_PASSED);
		return MUX_PARSE_FRAGMENT;
	}

	/* Direction comes from the interface (mux_direction_ok): a peer's
	 * packet arrives on the WAN interface; a LAN host's on any other.
	 * wan_ifindex 0 (no such interface now): no peers. */
	wan = READ_ONCE(m->p.wan_ifindex);
	dir_in = wan && in->iif == wan;
	p->dir = dir_in ? MUX_DIR_IN : MUX_DIR_OUT;
	if (proto == P_ESP) {
		sp = hdr(in, plen, ihl, 4, sb);
		if (unlikely(!sp))
			return MUX_PARSE_BAD;	/* truncated: conntrack decides */
		p->type = MUX_PKT_ESP;
		p->spi = be32_at(sp);
		/* SPI 0 is reserved (RFC 4303 2.1), 1-255 by IANA: never bound */
		if (p->spi <= 255)
			return MUX_PARSE_NOT_OURS;
		/* Which addresses are the router's costs two route lookups:
		 * mux_classify() asks once per SA and address change. */
		p->local_later = true;
		return MUX_PARSE_OURS;
	}
	if (!mux_direction_ok(m, p))
		return MUX_PARSE_DIRECTION;

	switch (proto) {
	case P_UDP:
		return parse_udp(m, in, plen, ihl, p);
	default:
		return parse_icmp(in, plen, ihl, p);
	}
}
