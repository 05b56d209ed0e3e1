/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ike.h: the clear-text IKE header (RFC 2408 section 3.1 for IKEv1/ISAKMP,
 * RFC 7296 section 3.1 for IKEv2), which is all vpnpt_esp reads of IKE.
 * Pure code: builds in the kernel and in user space (see compat.h).
 */
#ifndef VPNPT_IKE_H
#define VPNPT_IKE_H

#include "compat.h"

#define IKE_PORT		500
#define IKE_NATT_PORT		4500
#define IKE_HDR_LEN		28

/* Exchange types that create child SAs, the only ones a bind window cares about. */
enum {
	IKEV1_EXCH_QUICK_MODE	= 32,	/* RFC 2409 5.5 */
	IKEV2_EXCH_SA_INIT	= 34,
	IKEV2_EXCH_AUTH		= 35,	/* carries the first child SA */
	IKEV2_EXCH_CREATE_CHILD	= 36,	/* new or rekeyed child (or IKE) SA */
	IKEV2_EXCH_INFORMATIONAL = 37,
};

#define IKEV2_FLAG_INITIATOR	0x08
#define IKEV2_FLAG_RESPONSE	0x20

struct ike_info {
	u64 ispi;		/* initiator SPI (v2) / cookie (v1), full 64 bits */
	u64 rspi;		/* responder SPI / cookie; 0 in the first message */
	u32 msgid;
	u8 version;		/* 1 or 2 */
	u8 exch;
	u8 flags;
	bool response;		/* v2 only: the R flag */
	bool child;		/* a child-SA exchange: v2 AUTH/CREATE_CHILD_SA, v1 QM */
};

/*
 * ike_parse - read an IKE header at the start of @buf (the UDP payload on
 * port 500, or the payload after the 4-byte non-ESP marker on port 4500).
 * Returns 0 and fills @out, or -EINVAL if this is not a plausible IKE header.
 */
int ike_parse(const u8 *buf, u32 len, struct ike_info *out);

/* ike_natt_is_ike - on UDP 4500, true if the payload is IKE (non-ESP marker). */
static inline bool ike_natt_is_ike(const u8 *buf, u32 len)
{
	return len >= 4 + IKE_HDR_LEN && !buf[0] && !buf[1] && !buf[2] && !buf[3];
}

#endif /* VPNPT_IKE_H */
