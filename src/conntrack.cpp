// conntrack.cpp: conntrack dumps through libnl-nf-3 (see conntrack.h).
#include "conntrack.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/exp.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>

#include <endian.h>

#include <cstring>
#include <memory>

#include "error.h"

namespace vpnpt {

bool CtEntry::src_nat() const { return status & IPS_SRC_NAT; }
bool CtEntry::dst_nat() const { return status & IPS_DST_NAT; }

namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;

Sock connect_nfnl() {
  Sock s(nl_socket_alloc());
  if (!s) throw Error(ErrorKind::Internal, "libnl", "out of memory");
  if (int err = nfnl_connect(s.get()); err < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("cannot open netlink: ") + nl_geterror(err));
  // Large tables come in many messages; a bigger buffer avoids ENOBUFS.
  nl_socket_set_buffer_size(s.get(), 1 << 20, 0);
  return s;
}

uint32_t v4(const nl_addr* a) {
  if (!a || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4) return 0;
  uint32_t be;
  std::memcpy(&be, nl_addr_get_binary_addr(a), 4);
  return ntohl(be);
}

CtTuple tuple_of(const nfnl_ct* ct, int repl) {
  CtTuple t;
  t.proto = nfnl_ct_get_proto(ct);
  t.src = v4(nfnl_ct_get_src(ct, repl));
  t.dst = v4(nfnl_ct_get_dst(ct, repl));
  t.sport = nfnl_ct_get_src_port(ct, repl);
  t.dport = nfnl_ct_get_dst_port(ct, repl);
  return t;
}

// CTA_TUPLE_* nest → CtTuple, with libnl's attribute parser.
bool parse_tuple(nlattr* nest, CtTuple& t) {
  nlattr* tb[CTA_TUPLE_MAX + 1];
  if (nla_parse_nested(tb, CTA_TUPLE_MAX, nest, nullptr) < 0) return false;
  if (tb[CTA_TUPLE_IP]) {
    nlattr* ip[CTA_IP_MAX + 1];
    if (nla_parse_nested(ip, CTA_IP_MAX, tb[CTA_TUPLE_IP], nullptr) == 0) {
      if (ip[CTA_IP_V4_SRC]) t.src = ntohl(nla_get_u32(ip[CTA_IP_V4_SRC]));
      if (ip[CTA_IP_V4_DST]) t.dst = ntohl(nla_get_u32(ip[CTA_IP_V4_DST]));
    }
  }
  if (tb[CTA_TUPLE_PROTO]) {
    nlattr* p[CTA_PROTO_MAX + 1];
    if (nla_parse_nested(p, CTA_PROTO_MAX, tb[CTA_TUPLE_PROTO], nullptr) == 0) {
      if (p[CTA_PROTO_NUM]) t.proto = nla_get_u8(p[CTA_PROTO_NUM]);
      if (p[CTA_PROTO_SRC_PORT]) t.sport = ntohs(nla_get_u16(p[CTA_PROTO_SRC_PORT]));
      if (p[CTA_PROTO_DST_PORT]) t.dport = ntohs(nla_get_u16(p[CTA_PROTO_DST_PORT]));
    }
  }
  return true;
}

int on_ct(nl_msg* msg, void* arg) {
  auto* out = static_cast<std::vector<CtEntry>*>(arg);
  nlmsghdr* nlh = nlmsg_hdr(msg);
  nfnl_ct* ct = nullptr;
  if (nfnlmsg_ct_parse(nlh, &ct) < 0 || !ct) return NL_SKIP;
  if (nfnl_ct_get_family(ct) != AF_INET) {
    nfnl_ct_put(ct);
    return NL_OK;
  }
  CtEntry e;
  e.id = nfnl_ct_get_id(ct);
  e.orig = tuple_of(ct, 0);
  e.reply = tuple_of(ct, 1);
  e.status = nfnl_ct_get_status(ct);
  e.timeout = nfnl_ct_get_timeout(ct);
  e.zone = nfnl_ct_test_zone(ct) ? nfnl_ct_get_zone(ct) : 0;
  for (int dir = 0; dir < 2; ++dir) {
    if (nfnl_ct_test_packets(ct, dir)) e.packets += nfnl_ct_get_packets(ct, dir);
    if (nfnl_ct_test_bytes(ct, dir)) e.bytes += nfnl_ct_get_bytes(ct, dir);
  }
  nfnl_ct_put(ct);

  nlattr* tb[CTA_MAX + 1];
  if (nlmsg_parse(nlh, sizeof(nfgenmsg), tb, CTA_MAX, nullptr) == 0) {
    if (tb[CTA_HELP]) {
      nlattr* help[CTA_HELP_MAX + 1];
      if (nla_parse_nested(help, CTA_HELP_MAX, tb[CTA_HELP], nullptr) == 0 && help[CTA_HELP_NAME])
        e.helper = nla_get_string(help[CTA_HELP_NAME]);
    }
    if (tb[CTA_TUPLE_MASTER]) e.has_master = parse_tuple(tb[CTA_TUPLE_MASTER], e.master);
    if (tb[CTA_TIMESTAMP]) {
      nlattr* ts[CTA_TIMESTAMP_MAX + 1];
      if (nla_parse_nested(ts, CTA_TIMESTAMP_MAX, tb[CTA_TIMESTAMP], nullptr) == 0 && ts[CTA_TIMESTAMP_START])
        e.start_ns = be64toh(nla_get_u64(ts[CTA_TIMESTAMP_START]));
    }
  }
  out->push_back(std::move(e));
  return NL_OK;
}

CtTuple exp_tuple(const nfnl_exp* exp, int which) {
  CtTuple t;
  t.proto = nfnl_exp_get_l4protonum(exp, which);
  t.src = v4(nfnl_exp_get_src(exp, which));
  t.dst = v4(nfnl_exp_get_dst(exp, which));
  t.sport = nfnl_exp_get_src_port(exp, which);
  t.dport = nfnl_exp_get_dst_port(exp, which);
  return t;
}

}  // namespace

std::vector<CtEntry> dump_conntrack() {
  Sock s = connect_nfnl();
  std::vector<CtEntry> out;
  nl_socket_modify_cb(s.get(), NL_CB_VALID, NL_CB_CUSTOM, on_ct, &out);
  if (int err = nfnl_ct_dump_request(s.get()); err < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("dump request failed: ") + nl_geterror(err));
  if (int err = nl_recvmsgs_default(s.get()); err < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("dump failed: ") + nl_geterror(err));
  return out;
}

std::vector<CtExpectation> dump_expectations() {
  Sock s = connect_nfnl();
  nl_cache* cache = nullptr;
  if (int err = nfnl_exp_alloc_cache(s.get(), &cache); err < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("cannot read expectations: ") + nl_geterror(err));
  std::vector<CtExpectation> out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* exp = reinterpret_cast<nfnl_exp*>(o);
    if (nfnl_exp_get_family(exp) != AF_INET) continue;
    CtExpectation x;
    if (nfnl_exp_test_helper_name(exp)) x.helper = nfnl_exp_get_helper_name(exp);
    x.expect = exp_tuple(exp, NFNL_EXP_TUPLE_EXPECT);
    x.master = exp_tuple(exp, NFNL_EXP_TUPLE_MASTER);
    x.timeout = nfnl_exp_get_timeout(exp);
    out.push_back(std::move(x));
  }
  nl_cache_free(cache);
  return out;
}

}  // namespace vpnpt
