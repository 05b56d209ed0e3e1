/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vpnpt_esp.h: the generic netlink interface of the vpnpt_esp module.
 *
 * Shared, unchanged, by the module (kmod/netlink.c) and the controller
 * (src/esp_mux.cpp).  Family "vpnpt_esp", version VPNPT_ESP_GENL_VERSION.
 *
 *   VPNPT_ESP_CMD_GET_MAPPINGS  dump: one message per mapping (flat attributes)
 *   VPNPT_ESP_CMD_GET_COUNTERS  do:   one message, VPNPT_ESP_A_COUNTERS nest
 *   VPNPT_ESP_CMD_GET_PARAMS    do:   one message with every parameter
 *   VPNPT_ESP_CMD_SET_PARAMS    do:   any subset
 *   VPNPT_ESP_CMD_FLUSH         do:   forget all
 *   VPNPT_ESP_CMD_ADD_MAPPING   do:   create one mapping as another router
 *                                     had it (planned switchover, below)
 *   VPNPT_ESP_CMD_DEL_MAPPING   do:   forget one mapping
 *
 * GET_MAPPINGS (it names hosts, peers and SPIs), SET_PARAMS, FLUSH,
 * ADD_MAPPING and DEL_MAPPING need CAP_NET_ADMIN in the initial user
 * namespace: a user namespace of one's own (unprivileged) is not enough.
 *
 * ADD_MAPPING takes the attributes a GET_MAPPINGS message carries:
 *   KIND ESP: HOST, PEER, ZONE, SPI_OUT, SPI_IN (non-zero), STATE
 *             (BOUND or DRAINING; absent: BOUND); SPI_OUT 0: the peer
 *             started the SA and the host has not sent on it yet
 *   KIND IKE: HOST, PEER, ZONE, IKE_ISPI (non-zero), IKE_RSPI, IKE_VERSION
 *   either:   REASON (optional, kept as the dump said; absent: NONE)
 * and no other (strict validation: AGE_MS, PKTS_*, PAD... are refused; put
 * u64 without padding, as libnl's nla_put_u64 does).  It goes through every
 * limit a packet would (max_per_host, max_per_peer, max_mappings, the zone
 * range), checked before anything is allocated.  The (host, peer) pair gets
 * ZONE if it has none; a pair that has another zone, or a zone that another
 * pair holds or that is still being flushed, is refused.  The same mapping
 * already present (same host, peer, SPIs and zone, whatever its state) is
 * success (an import can be run again).  An SPI mapped otherwise, also to
 * the same host (another SA, or a pending one), is refused: delete first.
 * Errors are -errno with an extack message: EINVAL (attribute missing or
 * malformed, HOST a remote peer here), ENETDOWN (not enabled in this netns),
 * ERANGE (zone outside zone_base..+zone_count), EBUSY (zone held by another
 * pair or being flushed, or the pair has another zone), EEXIST (an SPI or
 * IKE SPI is mapped otherwise), EDQUOT (max_per_host or max_per_peer),
 * ENOSPC (max_mappings, or too many peers), ENOMEM.
 * DEL_MAPPING takes KIND, HOST, PEER and SPI_OUT + SPI_IN (ESP, as dumped:
 * a pending SA has SPI_IN 0) or IKE_ISPI + IKE_RSPI (IKE); ENOENT if no such
 * mapping.  A deleted inbound SPI is remembered as an orphan (as FLUSH
 * does); the pair, left without mappings, goes with gc like any other.
 *
 * Addresses are IPv4 in network byte order (u32); SPIs are in host byte order
 * (what `ip xfrm state` prints); times are milliseconds; u64 use the PAD attr.
 */
#ifndef _UAPI_VPNPT_ESP_H
#define _UAPI_VPNPT_ESP_H

#define VPNPT_ESP_GENL_NAME	"vpnpt_esp"
#define VPNPT_ESP_GENL_VERSION	1

enum vpnpt_esp_cmd {
	VPNPT_ESP_CMD_UNSPEC,
	VPNPT_ESP_CMD_GET_MAPPINGS,
	VPNPT_ESP_CMD_GET_COUNTERS,
	VPNPT_ESP_CMD_GET_PARAMS,
	VPNPT_ESP_CMD_SET_PARAMS,
	VPNPT_ESP_CMD_FLUSH,
	VPNPT_ESP_CMD_ADD_MAPPING,
	VPNPT_ESP_CMD_DEL_MAPPING,
	__VPNPT_ESP_CMD_MAX
};
#define VPNPT_ESP_CMD_MAX (__VPNPT_ESP_CMD_MAX - 1)

enum vpnpt_esp_attr {
	VPNPT_ESP_A_UNSPEC,
	VPNPT_ESP_A_PAD,
	/* mapping (one per GET_MAPPINGS message) */
	VPNPT_ESP_A_KIND,		/* u8: enum vpnpt_esp_kind */
	VPNPT_ESP_A_HOST,		/* u32 (be): LAN host */
	VPNPT_ESP_A_PEER,		/* u32 (be): remote peer */
	VPNPT_ESP_A_SPI_OUT,		/* u32: SPI of host->peer ESP (0: not seen yet) */
	VPNPT_ESP_A_SPI_IN,		/* u32: SPI of peer->host ESP (0: not bound yet) */
	VPNPT_ESP_A_STATE,		/* u8: enum vpnpt_esp_state */
	VPNPT_ESP_A_REASON,		/* u8: enum vpnpt_esp_reason */
	VPNPT_ESP_A_ZONE,		/* u16: conntrack zone of (host, peer) */
	VPNPT_ESP_A_AGE_MS,		/* u64 */
	VPNPT_ESP_A_IDLE_MS,		/* u64: since the last packet */
	VPNPT_ESP_A_PKTS_OUT,		/* u64 */
	VPNPT_ESP_A_PKTS_IN,		/* u64 */
	VPNPT_ESP_A_BYTES_OUT,		/* u64 */
	VPNPT_ESP_A_BYTES_IN,		/* u64 */
	VPNPT_ESP_A_IKE_ISPI,		/* u64: IKE initiator SPI / cookie (kind IKE) */
	VPNPT_ESP_A_IKE_RSPI,		/* u64: IKE responder SPI / cookie (kind IKE) */
	VPNPT_ESP_A_IKE_VERSION,	/* u8: 1 or 2 (kind IKE) */
	/* counters (GET_COUNTERS): nest of u64, attr type = enum vpnpt_esp_counter + 1 */
	VPNPT_ESP_A_COUNTERS,
	/* parameters (GET_PARAMS / SET_PARAMS) */
	VPNPT_ESP_A_IDLE_TIMEOUT,	/* u32 seconds */
	VPNPT_ESP_A_PENDING_TIMEOUT,	/* u32 seconds */
	VPNPT_ESP_A_DRAIN_TIMEOUT,	/* u32 seconds */
	VPNPT_ESP_A_MAX_PER_HOST,	/* u32 */
	VPNPT_ESP_A_MAX_PER_PEER,	/* u32 */
	VPNPT_ESP_A_MAX_MAPPINGS,	/* u32 */
	VPNPT_ESP_A_KEEP_IKE_PORT,	/* u8 0/1 */
	VPNPT_ESP_A_ZONE_BASE,		/* u16: first conntrack zone the module uses */
	VPNPT_ESP_A_ZONE_COUNT,		/* u16: number of zones (= max (host, peer) pairs) */
	VPNPT_ESP_A_HOLD_MAX,		/* u32: packets held per peer while serialising */
	VPNPT_ESP_A_WAN_IFINDEX,	/* u32 (read only): WAN_IFNAME's index now, 0: absent */
	VPNPT_ESP_A_ENABLED,		/* u8 0/1: classify in this netns (default 0; needs WAN_IFNAME) */
	VPNPT_ESP_A_WAN_IFNAME,		/* string: the WAN interface; peers only through it,
					 * LAN hosts only through the others; followed across
					 * re-creation (PPP) and renames to this name */
	__VPNPT_ESP_A_MAX
};
#define VPNPT_ESP_A_MAX (__VPNPT_ESP_A_MAX - 1)

enum vpnpt_esp_kind {
	VPNPT_ESP_KIND_ESP = 1,		/* an ESP SA pair */
	VPNPT_ESP_KIND_IKE = 2,		/* an IKE SA seen on UDP 500/4500 */
};

enum vpnpt_esp_state {
	VPNPT_ESP_STATE_PENDING = 1,	/* outbound SPI seen, inbound not bound yet */
	VPNPT_ESP_STATE_BOUND = 2,	/* inbound SPI bound to the host */
	VPNPT_ESP_STATE_DRAINING = 3,	/* replaced by a newer SA of the same pair */
};

enum vpnpt_esp_reason {
	VPNPT_ESP_REASON_NONE = 0,
	VPNPT_ESP_REASON_IKE = 1,	/* bound in a window opened by a child-SA exchange */
	VPNPT_ESP_REASON_ESP_FIRST = 2,	/* no IKE seen: window opened by the host's new SPI */
	VPNPT_ESP_REASON_IKE_OUT = 3,	/* IKE SA learned from the host's own message */
	VPNPT_ESP_REASON_IKE_ONLY_HOST = 4, /* IKE SA: the only host with IKE to the peer */
};

/*
 * The parameters vpnpt.toml's [ipsec.mux] sets, one line each, for the
 * module and the controller alike: X(ATTR, name, default, min, max), each a
 * u32 attribute VPNPT_ESP_A_<ATTR>; timeouts in seconds.  SET_PARAMS
 * refuses a value outside [min, max], and idle_timeout below
 * pending_timeout; vpnpt refuses such a config key the same way.
 */
#define VPNPT_ESP_TUNABLES(X)						\
	X(IDLE_TIMEOUT, idle_timeout, 600, 1, 604800)			\
	X(PENDING_TIMEOUT, pending_timeout, 5, 1, 600)			\
	X(DRAIN_TIMEOUT, drain_timeout, 30, 1, 3600)			\
	X(MAX_PER_HOST, max_per_host, 16, 1, 1048576)			\
	X(MAX_PER_PEER, max_per_peer, 256, 1, 1048576)			\
	X(MAX_MAPPINGS, max_mappings, 4096, 1, 1048576)

/* Counter names as the controller prints them; X(ENUM, "name"). */
#define VPNPT_ESP_COUNTERS(X)					\
	X(ESP_OUT, "esp_out")					\
	X(ESP_IN, "esp_in")					\
	X(ESP_IN_UNKNOWN, "esp_in_unknown")			\
	X(ESP_OUT_NEW_SPI, "esp_out_new_spi")			\
	X(BIND_IKE, "bind_ike")					\
	X(BIND_FALLBACK, "bind_fallback")			\
	X(BIND_AMBIGUOUS, "bind_ambiguous")			\
	X(BIND_LOCAL_SKIP, "bind_local_skip")			\
	X(COLLISION_OUT, "collision_out")			\
	X(HELD, "held")						\
	X(RELEASED, "released")					\
	X(HOLD_FULL, "hold_full")				\
	X(HOLD_EXPIRED, "hold_expired")				\
	X(QUOTA_HOST, "quota_host")				\
	X(QUOTA_PEER, "quota_peer")				\
	X(TABLE_FULL, "table_full")				\
	X(ZONES_FULL, "zones_full")				\
	X(ALLOC_FAIL, "alloc_fail")				\
	X(IKE_OUT, "ike_out")					\
	X(IKE_IN, "ike_in")					\
	X(IKE_UNKNOWN, "ike_unknown")				\
	X(IKE_COLLISION, "ike_collision")			\
	X(IKE_BAD, "ike_bad")					\
	X(CHILD_EXCHANGES, "child_exchanges")			\
	X(WINDOW_OPENED, "window_opened")			\
	X(WINDOW_EXPIRED, "window_expired")			\
	X(WINDOW_CONFLICT, "window_conflict")			\
	X(DRAINED, "drained")					\
	X(DRAIN_REVIVED, "drain_revived")			\
	X(EXPIRED_IDLE, "expired_idle")				\
	X(EXPIRED_PENDING, "expired_pending")			\
	X(ICMP_MAPPED, "icmp_mapped")				\
	X(ICMP_UNKNOWN, "icmp_unknown")				\
	X(FRAGMENT_PASSED, "fragment_passed")			\
	X(ZONE_FLUSHES, "zone_flushes")				\
	X(QUOTA_HOST_PAIRS, "quota_host_pairs")			\
	X(QUOTA_HOST_HELD, "quota_host_held")			\
	X(IKE_EVICTED, "ike_evicted")				\
	X(PEERS_EVICTED, "peers_evicted")			\
	X(HELD_LIMIT, "held_limit")				\
	X(WINDOW_CAPPED, "window_capped")			\
	X(WRONG_IFACE, "wrong_iface")				\
	X(BRIDGED_NOT_HELD, "bridged_not_held")			\
	/* gauges (values now, not event counts) */		\
	X(PAIRS, "pairs")					\
	X(PEERS, "peers")					\
	X(HOSTS, "hosts")					\
	X(HELD_PACKETS, "held_packets")				\
	X(HELD_BYTES, "held_bytes")				\
	X(MEM_BYTES, "mem_bytes")

#define VPNPT_ESP_COUNTER_ENUM(e, s) VPNPT_ESP_C_##e,
enum vpnpt_esp_counter {
	VPNPT_ESP_COUNTERS(VPNPT_ESP_COUNTER_ENUM)
	VPNPT_ESP_C_NUM
};
#undef VPNPT_ESP_COUNTER_ENUM
/* From this index on the values are gauges (what is held now), not counts. */
#define VPNPT_ESP_C_FIRST_GAUGE VPNPT_ESP_C_PAIRS

#endif /* _UAPI_VPNPT_ESP_H */
