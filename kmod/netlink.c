// SPDX-License-Identifier: GPL-2.0
/*
 * netlink.c: the "vpnpt_esp" generic netlink family (uapi/vpnpt_esp.h).
 * Counters and parameters can be read by anyone in the netns.  Changing
 * anything (SET_PARAMS, FLUSH, ADD_MAPPING, DEL_MAPPING) and reading the
 * mappings (they name LAN
 * hosts, peers and SPIs) need CAP_NET_ADMIN in the *initial* user namespace
 * (GENL_ADMIN_PERM): an unprivileged user who creates a user and network
 * namespace of their own must not switch the module on or read it.
 */
#include <linux/rtnetlink.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>
#include "netlink.h"
#include "pernet.h"

static struct genl_family vpnpt_genl_family;

static const struct nla_policy vpnpt_policy[VPNPT_ESP_A_MAX + 1] = {
	/* the tunables: u32, ranges from VPNPT_ESP_TUNABLES in mux_params_set */
#define VPNPT_POLICY(attr, name, def, lo, hi) [VPNPT_ESP_A_##attr] = { .type = NLA_U32 },
	VPNPT_ESP_TUNABLES(VPNPT_POLICY)
#undef VPNPT_POLICY
	[VPNPT_ESP_A_KEEP_IKE_PORT]	= NLA_POLICY_MAX(NLA_U8, 1),
	[VPNPT_ESP_A_ENABLED]		= NLA_POLICY_MAX(NLA_U8, 1),
	[VPNPT_ESP_A_ZONE_BASE]		= NLA_POLICY_MIN(NLA_U16, 1),
	[VPNPT_ESP_A_ZONE_COUNT]	= NLA_POLICY_RANGE(NLA_U16, 1, MUX_ZONE_COUNT_MAX),
	[VPNPT_ESP_A_HOLD_MAX]		= NLA_POLICY_MAX(NLA_U32, 1024),
	[VPNPT_ESP_A_WAN_IFINDEX]	= { .type = NLA_REJECT },	/* from WAN_IFNAME */
	[VPNPT_ESP_A_WAN_IFNAME]	= { .type = NLA_NUL_STRING, .len = IFNAMSIZ - 1 },
};

/* ADD_MAPPING and DEL_MAPPING: the mapping attributes of a dump message
 * that name a mapping; any other attribute is refused (strict validation:
 * they are past resv_start_op). */
static const struct nla_policy vpnpt_mapping_policy[VPNPT_ESP_A_IKE_VERSION + 1] = {
	[VPNPT_ESP_A_KIND]	= NLA_POLICY_RANGE(NLA_U8, VPNPT_ESP_KIND_ESP, VPNPT_ESP_KIND_IKE),
	[VPNPT_ESP_A_HOST]	= { .type = NLA_U32 },
	[VPNPT_ESP_A_PEER]	= { .type = NLA_U32 },
	[VPNPT_ESP_A_SPI_OUT]	= { .type = NLA_U32 },
	[VPNPT_ESP_A_SPI_IN]	= { .type = NLA_U32 },
	[VPNPT_ESP_A_STATE]	= NLA_POLICY_RANGE(NLA_U8, VPNPT_ESP_STATE_BOUND,
						   VPNPT_ESP_STATE_DRAINING),
	[VPNPT_ESP_A_REASON]	= NLA_POLICY_MAX(NLA_U8, VPNPT_ESP_REASON_IKE_ONLY_HOST),
	[VPNPT_ESP_A_ZONE]	= { .type = NLA_U16 },
	[VPNPT_ESP_A_IKE_ISPI]	= { .type = NLA_U64 },
	[VPNPT_ESP_A_IKE_RSPI]	= { .type = NLA_U64 },
	[VPNPT_ESP_A_IKE_VERSION] = NLA_POLICY_RANGE(NLA_U8, 1, 2),
};

struct dump_ctx {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	u32 gen;		/* the tables' generation (mux_dump) */
};

/* cb->seq for generation @gen: never 0, which nl_dump_check_consistent()
 * takes for "no message yet". */
static unsigned int dump_seq(u32 gen)
{
	return (gen << 1) | 1;
}

static int put_view(void *arg, const struct mux_view *v)
{
	struct dump_ctx *d = arg;
	struct sk_buff *skb = d->skb;
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(d->cb->skb).portid, d->cb->nlh->nlmsg_seq,
			  &vpnpt_genl_family, NLM_F_MULTI, VPNPT_ESP_CMD_GET_MAPPINGS);
	if (!hdr)
		return 1;
	/* the tables changed since an earlier message: NLM_F_DUMP_INTR */
	d->cb->seq = dump_seq(d->gen);
	genl_dump_check_consistent(d->cb, hdr);
	if (nla_put_u8(skb, VPNPT_ESP_A_KIND, v->kind) ||
	    nla_put_in_addr(skb, VPNPT_ESP_A_HOST, v->host) ||
	    nla_put_in_addr(skb, VPNPT_ESP_A_PEER, v->peer) ||
	    nla_put_u32(skb, VPNPT_ESP_A_SPI_OUT, v->spi_out) ||
	    nla_put_u32(skb, VPNPT_ESP_A_SPI_IN, v->spi_in) ||
	    nla_put_u8(skb, VPNPT_ESP_A_STATE, v->state) ||
	    nla_put_u8(skb, VPNPT_ESP_A_REASON, v->reason) ||
	    nla_put_u16(skb, VPNPT_ESP_A_ZONE, v->zone) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_AGE_MS, v->age_ms, VPNPT_ESP_A_PAD) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_IDLE_MS, v->idle_ms, VPNPT_ESP_A_PAD) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_PKTS_OUT, v->pkts_out, VPNPT_ESP_A_PAD) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_PKTS_IN, v->pkts_in, VPNPT_ESP_A_PAD) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_BYTES_OUT, v->bytes_out, VPNPT_ESP_A_PAD) ||
	    nla_put_u64_64bit(skb, VPNPT_ESP_A_BYTES_IN, v->bytes_in, VPNPT_ESP_A_PAD))
		goto cancel;
	if (v->kind == VPNPT_ESP_KIND_IKE &&
	    (nla_put_u64_64bit(skb, VPNPT_ESP_A_IKE_ISPI, v->ispi, VPNPT_ESP_A_PAD) ||
	     nla_put_u64_64bit(skb, VPNPT_ESP_A_IKE_RSPI, v->rspi, VPNPT_ESP_A_PAD) ||
	     nla_put_u8(skb, VPNPT_ESP_A_IKE_VERSION, v->ike_version)))
		goto cancel;
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return 1;
}

static int get_mappings_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct vpnpt_pernet *pn = vpnpt_pernet(sock_net(skb->sk));
	/* where the last message ended: resumed, not walked to from the head */
	struct mux_dump_pos pos = {
		.phase = cb->args[0], .bucket = cb->args[1], .skip = cb->args[2],
	};
	struct dump_ctx d = { .skb = skb, .cb = cb };
	struct vpnpt_net *vn;
	u32 taken = 0;

	rcu_read_lock();
	vn = rcu_dereference(pn->vn);
	if (vn) {
		taken = mux_dump(vn->mux, &pos, vpnpt_now(), put_view, &d, &d.gen);
	} else {	/* never enabled, or released: nothing to dump */
		pos.phase = MUX_DUMP_DONE;
		d.gen = READ_ONCE(pn->dump_gen);
	}
	rcu_read_unlock();
	cb->args[0] = pos.phase;
	cb->args[1] = pos.bucket;
	cb->args[2] = pos.skip;
	cb->seq = dump_seq(d.gen);	/* NLMSG_DONE is checked too */
	return taken ? skb->len : 0;
}

static int get_counters_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vpnpt_net *vn;
	struct sk_buff *msg;
	struct nlattr *nest;
	void *hdr;
	int c;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vpnpt_genl_family, 0, VPNPT_ESP_CMD_GET_COUNTERS);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(msg, VPNPT_ESP_A_COUNTERS);
	if (!nest)
		goto nospace;
	rcu_read_lock();
	vn = vpnpt_net_rcu(genl_info_net(info));	/* none: all 0 */
	for (c = 0; c < VPNPT_ESP_C_NUM; c++)
		if (nla_put_u64_64bit(msg, c + 1, vn ? mux_counter(vn->mux, c) : 0, VPNPT_ESP_A_PAD)) {
			rcu_read_unlock();
			goto nospace;
		}
	rcu_read_unlock();
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int get_params_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct mux_params p;
	struct sk_buff *msg;
	void *hdr;

	vpnpt_net_params_get(genl_info_net(info), &p);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vpnpt_genl_family, 0, VPNPT_ESP_CMD_GET_PARAMS);
	if (!hdr)
		goto nospace;
#define VPNPT_PUT(attr, name, def, lo, hi)				\
	if (nla_put_u32(msg, VPNPT_ESP_A_##attr, p.name))		\
		goto nospace;
	VPNPT_ESP_TUNABLES(VPNPT_PUT)
#undef VPNPT_PUT
	if (nla_put_u8(msg, VPNPT_ESP_A_KEEP_IKE_PORT, p.keep_ike_port) ||
	    nla_put_u16(msg, VPNPT_ESP_A_ZONE_BASE, p.zone_base) ||
	    nla_put_u16(msg, VPNPT_ESP_A_ZONE_COUNT, p.zone_count) ||
	    nla_put_u32(msg, VPNPT_ESP_A_HOLD_MAX, p.hold_max) ||
	    nla_put_u32(msg, VPNPT_ESP_A_WAN_IFINDEX, p.wan_ifindex) ||
	    nla_put_string(msg, VPNPT_ESP_A_WAN_IFNAME, p.wan_name) ||
	    nla_put_u8(msg, VPNPT_ESP_A_ENABLED, p.enabled))
		goto nospace;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int set_params_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	struct mux_params p;
	int ret;

	vpnpt_net_params_get(genl_info_net(info), &p);
#define VPNPT_GET(attr, name, def, lo, hi)				\
	if (a[VPNPT_ESP_A_##attr])					\
		p.name = nla_get_u32(a[VPNPT_ESP_A_##attr]);
	VPNPT_ESP_TUNABLES(VPNPT_GET)
#undef VPNPT_GET
	if (a[VPNPT_ESP_A_KEEP_IKE_PORT])
		p.keep_ike_port = nla_get_u8(a[VPNPT_ESP_A_KEEP_IKE_PORT]);
	if (a[VPNPT_ESP_A_ZONE_BASE])
		p.zone_base = nla_get_u16(a[VPNPT_ESP_A_ZONE_BASE]);
	if (a[VPNPT_ESP_A_ZONE_COUNT])
		p.zone_count = nla_get_u16(a[VPNPT_ESP_A_ZONE_COUNT]);
	if (a[VPNPT_ESP_A_HOLD_MAX])
		p.hold_max = nla_get_u32(a[VPNPT_ESP_A_HOLD_MAX]);
	if (a[VPNPT_ESP_A_WAN_IFNAME])
		nla_strscpy(p.wan_name, a[VPNPT_ESP_A_WAN_IFNAME], sizeof(p.wan_name));
	if (a[VPNPT_ESP_A_ENABLED])
		p.enabled = nla_get_u8(a[VPNPT_ESP_A_ENABLED]);
	if (p.enabled && !p.wan_name[0]) {
		/* direction comes from interfaces: without the WAN one a LAN
		 * host could pass for a peer */
		GENL_SET_ERR_MSG(info, "enabling needs the WAN interface (WAN_IFNAME)");
		return -EINVAL;
	}

	/* enabling creates the tables, hook and gc; disabling gives them
	 * back (pernet.c) */
	ret = vpnpt_net_params_set(genl_info_net(info), &p);
	if (ret == -EBUSY)
		GENL_SET_ERR_MSG(info, "zone range in use: flush first");
	else if (ret == -EINVAL)
		GENL_SET_ERR_MSG(info, "inconsistent parameters (idle < pending, or zones past 65535)");
	return ret;
}

static int flush_doit(struct sk_buff *skb, struct genl_info *info)
{
	vpnpt_net_flush(genl_info_net(info));	/* held packets dropped, zones flushed */
	return 0;
}

/* A required attribute, named in the extack message when it is missing. */
#define MAPPING_NEED(info, attr)						\
	do {								\
		if (!(info)->attrs[VPNPT_ESP_A_##attr]) {		\
			GENL_SET_ERR_MSG(info, #attr " missing");	\
			return -EINVAL;					\
		}							\
	} while (0)

/* The mapping a request names; ADD needs ZONE too.  -EINVAL. */
static int mapping_parse(struct genl_info *info, struct mux_mapping *mp, bool add)
{
	struct nlattr **a = info->attrs;

	memset(mp, 0, sizeof(*mp));
	MAPPING_NEED(info, KIND);
	MAPPING_NEED(info, HOST);
	MAPPING_NEED(info, PEER);
	mp->kind = nla_get_u8(a[VPNPT_ESP_A_KIND]);
	mp->host = nla_get_in_addr(a[VPNPT_ESP_A_HOST]);
	mp->peer = nla_get_in_addr(a[VPNPT_ESP_A_PEER]);
	if (add) {
		MAPPING_NEED(info, ZONE);
		mp->zone = nla_get_u16(a[VPNPT_ESP_A_ZONE]);
	}
	if (a[VPNPT_ESP_A_REASON])
		mp->reason = nla_get_u8(a[VPNPT_ESP_A_REASON]);
	if (mp->kind == VPNPT_ESP_KIND_ESP) {
		MAPPING_NEED(info, SPI_OUT);
		MAPPING_NEED(info, SPI_IN);
		mp->spi_out = nla_get_u32(a[VPNPT_ESP_A_SPI_OUT]);
		mp->spi_in = nla_get_u32(a[VPNPT_ESP_A_SPI_IN]);
		mp->state = a[VPNPT_ESP_A_STATE] ? nla_get_u8(a[VPNPT_ESP_A_STATE]) :
						   VPNPT_ESP_STATE_BOUND;
	} else {
		MAPPING_NEED(info, IKE_ISPI);
		MAPPING_NEED(info, IKE_RSPI);
		mp->ispi = nla_get_u64(a[VPNPT_ESP_A_IKE_ISPI]);
		mp->rspi = nla_get_u64(a[VPNPT_ESP_A_IKE_RSPI]);
		if (add) {
			MAPPING_NEED(info, IKE_VERSION);
			mp->ike_version = nla_get_u8(a[VPNPT_ESP_A_IKE_VERSION]);
		}
	}
	return 0;
}

/* @why is a static string (handover.c): the extack keeps the pointer. */
static void mapping_err(struct genl_info *info, const char *why)
{
	if (why && info->extack)
		info->extack->_msg = why;
}

static int add_mapping_doit(struct sk_buff *skb, struct genl_info *info)
{
	const char *why = NULL;
	struct mux_mapping mp;
	struct vpnpt_net *vn;
	int ret;

	ret = mapping_parse(info, &mp, true);
	if (ret)
		return ret;
	/* vn lives a grace period after it is unpublished (pernet.c) */
	rcu_read_lock();
	vn = vpnpt_net_rcu(genl_info_net(info));
	if (!vn || !READ_ONCE(vn->mux->p.enabled)) {
		rcu_read_unlock();
		GENL_SET_ERR_MSG(info, "vpnpt_esp is not enabled in this netns (SET_PARAMS ENABLED)");
		return -ENETDOWN;
	}
	ret = mux_mapping_add(vn->mux, &mp, vpnpt_now(), &why);
	rcu_read_unlock();
	if (ret)
		mapping_err(info, why);
	return ret;
}

static int del_mapping_doit(struct sk_buff *skb, struct genl_info *info)
{
	const char *why = NULL;
	struct mux_mapping mp;
	struct vpnpt_net *vn;
	int ret;

	ret = mapping_parse(info, &mp, false);
	if (ret)
		return ret;
	rcu_read_lock();
	vn = vpnpt_net_rcu(genl_info_net(info));
	if (vn)
		ret = mux_mapping_del(vn->mux, &mp, vpnpt_now(), &why);
	else
		ret = -ENOENT, why = "no such mapping (nothing in this netns)";
	rcu_read_unlock();
	if (ret)
		mapping_err(info, why);
	return ret;
}

/* Commands with a policy of their own. */
static const struct genl_ops vpnpt_genl_mapping_ops[] = {
	{
		.cmd = VPNPT_ESP_CMD_ADD_MAPPING,
		.doit = add_mapping_doit,
		.policy = vpnpt_mapping_policy,
		.maxattr = VPNPT_ESP_A_IKE_VERSION,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VPNPT_ESP_CMD_DEL_MAPPING,
		.doit = del_mapping_doit,
		.policy = vpnpt_mapping_policy,
		.maxattr = VPNPT_ESP_A_IKE_VERSION,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_small_ops vpnpt_genl_ops[] = {
	{
		.cmd = VPNPT_ESP_CMD_GET_MAPPINGS,
		.dumpit = get_mappings_dumpit,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VPNPT_ESP_CMD_GET_COUNTERS,
		.doit = get_counters_doit,
	},
	{
		.cmd = VPNPT_ESP_CMD_GET_PARAMS,
		.doit = get_params_doit,
	},
	{
		.cmd = VPNPT_ESP_CMD_SET_PARAMS,
		.doit = set_params_doit,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VPNPT_ESP_CMD_FLUSH,
		.doit = flush_doit,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family vpnpt_genl_family __ro_after_init = {
	.name = VPNPT_ESP_GENL_NAME,
	.version = VPNPT_ESP_GENL_VERSION,
	.maxattr = VPNPT_ESP_A_MAX,
	.policy = vpnpt_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.small_ops = vpnpt_genl_ops,
	.n_small_ops = ARRAY_SIZE(vpnpt_genl_ops),
	.ops = vpnpt_genl_mapping_ops,
	.n_ops = ARRAY_SIZE(vpnpt_genl_mapping_ops),
	.resv_start_op = VPNPT_ESP_CMD_FLUSH + 1,
};

int __init vpnpt_genl_init(void)
{
	return genl_register_family(&vpnpt_genl_family);
}

void vpnpt_genl_uninit(void)
{
	genl_unregister_family(&vpnpt_genl_family);
}
