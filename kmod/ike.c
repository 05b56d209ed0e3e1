// SPDX-License-Identifier: GPL-2.0
/*
 * ike.c: parse the clear-text IKE header.
 *
 * Both IKE versions start with the same 28 bytes: two 64-bit SPIs (IKEv1
 * calls them cookies), next payload, version, exchange type, flags, message
 * ID and length.  Everything after it is encrypted in the exchanges that
 * matter here (IKEv1 Quick Mode, IKEv2 IKE_AUTH/CREATE_CHILD_SA), so the
 * header is all a middlebox can know: which IKE SA, which exchange, which
 * message.  That is enough to know *that* a host is negotiating a child SA
 * with a peer, never *which* ESP SPIs it chose; see DESIGN.md.
 */
#include "ike.h"

static u64 get_be64(const u8 *p)
{
	u64 v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static u32 get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

int ike_parse(const u8 *buf, u32 len, struct ike_info *out)
{
	u32 hlen;

	if (unlikely(len < IKE_HDR_LEN))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->ispi = get_be64(buf);
	out->rspi = get_be64(buf + 8);
	out->exch = buf[18];
	out->flags = buf[19];
	out->msgid = get_be32(buf + 20);
	hlen = get_be32(buf + 24);

	/* Every IKE message names its initiator's SA: a zero SPI is never valid. */
	if (unlikely(!out->ispi))
		return -EINVAL;
	/* The length covers the header and all payloads; shorter is not IKE. */
	if (unlikely(hlen < IKE_HDR_LEN))
		return -EINVAL;

	switch (buf[17] >> 4) {	/* major version */
	case 1:
		out->version = 1;
		out->child = out->exch == IKEV1_EXCH_QUICK_MODE;
		/* Quick Mode always has a non-zero message ID and both cookies. */
		if (out->child && (!out->msgid || !out->rspi))
			return -EINVAL;
		break;
	case 2:
		out->version = 2;
		/* RFC 7296 3.1: exchange types 0-33 are reserved in IKEv2. */
		if (unlikely(out->exch < IKEV2_EXCH_SA_INIT))
			return -EINVAL;
		out->response = out->flags & IKEV2_FLAG_RESPONSE;
		out->child = out->exch == IKEV2_EXCH_AUTH ||
			     out->exch == IKEV2_EXCH_CREATE_CHILD;
		/* Only IKE_SA_INIT may carry a zero responder SPI. */
		if (out->exch != IKEV2_EXCH_SA_INIT && !out->rspi)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}
