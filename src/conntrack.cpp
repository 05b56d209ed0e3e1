// conntrack.cpp: conntrack dumps through libnl-nf-3 (see conntrack.h).
#include "conntrack.h"
#include "nlattr.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/exp.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>

#include <endian.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

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

using nl::Attr;
using nl::each_attr;

template <typename T>
T be(const Attr& a) {
  T v{};
  if (a.len >= sizeof v) std::memcpy(&v, a.data, sizeof v);
  if constexpr (sizeof(T) == 2) return ntohs(v);
  if constexpr (sizeof(T) == 4) return ntohl(v);
  if constexpr (sizeof(T) == 8) return be64toh(v);
  return v;
}

void read_tuple(const Attr& nest, CtTuple& t) {
  each_attr(nest.data, nest.len, [&](const Attr& a) {
    if (a.type == CTA_TUPLE_IP) {
      each_attr(a.data, a.len, [&](const Attr& ip) {
        if (ip.type == CTA_IP_V4_SRC) t.src = be<uint32_t>(ip);
        if (ip.type == CTA_IP_V4_DST) t.dst = be<uint32_t>(ip);
      });
    } else if (a.type == CTA_TUPLE_PROTO) {
      each_attr(a.data, a.len, [&](const Attr& p) {
        if (p.type == CTA_PROTO_NUM && p.len >= 1) t.proto = p.data[0];
        if (p.type == CTA_PROTO_SRC_PORT) t.sport = be<uint16_t>(p);
        if (p.type == CTA_PROTO_DST_PORT) t.dport = be<uint16_t>(p);
      });
    }
  });
}

void read_counters(const Attr& nest, CtEntry& e) {
  each_attr(nest.data, nest.len, [&](const Attr& c) {
    if (c.type == CTA_COUNTERS_PACKETS) e.packets += be<uint64_t>(c);
    if (c.type == CTA_COUNTERS_BYTES) e.bytes += be<uint64_t>(c);
    if (c.type == CTA_COUNTERS32_PACKETS) e.packets += be<uint32_t>(c);
    if (c.type == CTA_COUNTERS32_BYTES) e.bytes += be<uint32_t>(c);
  });
}

CtEntry read_entry(const uint8_t* attrs, size_t len) {
  CtEntry e;
  each_attr(attrs, len, [&](const Attr& a) {
    switch (a.type) {
      case CTA_TUPLE_ORIG: read_tuple(a, e.orig); break;
      case CTA_TUPLE_REPLY: read_tuple(a, e.reply); break;
      case CTA_TUPLE_MASTER: e.has_master = true; read_tuple(a, e.master); break;
      case CTA_STATUS: e.status = be<uint32_t>(a); break;
      case CTA_TIMEOUT: e.timeout = be<uint32_t>(a); break;
      case CTA_ID: e.id = be<uint32_t>(a); break;
      case CTA_ZONE: e.zone = be<uint16_t>(a); break;
      case CTA_COUNTERS_ORIG:
      case CTA_COUNTERS_REPLY: read_counters(a, e); break;
      case CTA_HELP:
        each_attr(a.data, a.len, [&](const Attr& h) {
          if (h.type == CTA_HELP_NAME) e.helper.assign(reinterpret_cast<const char*>(h.data), strnlen(reinterpret_cast<const char*>(h.data), h.len));
        });
        break;
      case CTA_TIMESTAMP:
        each_attr(a.data, a.len, [&](const Attr& t) {
          if (t.type == CTA_TIMESTAMP_START) e.start_ns = be<uint64_t>(t);
        });
        break;
    }
  });
  return e;
}

// Append one attribute to a request being built in `buf`.
void put_attr(std::vector<uint8_t>& buf, uint16_t type, const void* data, size_t len) {
  nlattr a{uint16_t(NLA_HDRLEN + len), type};
  size_t at = buf.size();
  buf.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
  std::memcpy(buf.data() + at, &a, sizeof a);
  if (len) std::memcpy(buf.data() + at + NLA_HDRLEN, data, len);
}
// A nested attribute: its header is patched once `fill` has appended the body.
template <typename F>
void put_nest(std::vector<uint8_t>& buf, uint16_t type, F&& fill) {
  size_t at = buf.size();
  put_attr(buf, type | NLA_F_NESTED, nullptr, 0);
  fill();
  uint16_t len = uint16_t(buf.size() - at);
  std::memcpy(buf.data() + at, &len, sizeof len);
}

void put_tuple(std::vector<uint8_t>& buf, uint16_t type, const CtTuple& t) {
  put_nest(buf, type, [&] {
    put_nest(buf, CTA_TUPLE_IP, [&] {
      uint32_t src = htonl(t.src), dst = htonl(t.dst);
      put_attr(buf, CTA_IP_V4_SRC, &src, 4);
      put_attr(buf, CTA_IP_V4_DST, &dst, 4);
    });
    put_nest(buf, CTA_TUPLE_PROTO, [&] {
      put_attr(buf, CTA_PROTO_NUM, &t.proto, 1);
      // GRE's keys travel as ports too (nf_ct_port_tuple_to_nlattr).
      if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP || t.proto == IPPROTO_GRE) {
        uint16_t sp = htons(t.sport), dp = htons(t.dport);
        put_attr(buf, CTA_PROTO_SRC_PORT, &sp, 2);
        put_attr(buf, CTA_PROTO_DST_PORT, &dp, 2);
      }
    });
  });
}

struct Fd {
  int fd;
  ~Fd() { close(fd); }
};

// Read the answers to a dump request `req` (sent with sequence `seq`) and
// hand each IPv4 entry that `keep` accepts to `each`. Returns how many
// entries the kernel sent.
size_t run_dump(int fd, std::vector<uint8_t>& req, uint32_t seq, const std::function<bool(const CtEntry&)>& keep,
                const std::function<void(const CtEntry&)>& each) {
  auto* rh = reinterpret_cast<nlmsghdr*>(req.data());
  rh->nlmsg_len = uint32_t(req.size());
  rh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  rh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  rh->nlmsg_seq = seq;
  auto* rf = static_cast<nfgenmsg*>(NLMSG_DATA(rh));
  rf->nfgen_family = AF_INET;  // the kernel skips other families
  rf->version = NFNETLINK_V0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("dump request failed: ") + std::strerror(errno));
  size_t received = 0;
  static thread_local std::vector<uint8_t> buf(1 << 17);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::Kernel, "conntrack", std::string("dump failed: ") + std::strerror(errno));
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, size_t(n)); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq) continue;
      if (nh->nlmsg_type == NLMSG_DONE) return received;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        int err = 0;
        if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
          err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
        if (err == 0) continue;
        throw Error(ErrorKind::Kernel, "conntrack", std::string("dump failed: ") + std::strerror(err));
      }
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) continue;
      auto* nf = static_cast<const nfgenmsg*>(NLMSG_DATA(nh));
      if (nf->nfgen_family != AF_INET) continue;
      size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
      ++received;
      CtEntry e = read_entry(reinterpret_cast<const uint8_t*>(nh) + off, nh->nlmsg_len - off);
      if (keep(e)) each(e);
    }
  }
}

std::vector<uint8_t> new_request() { return std::vector<uint8_t>(NLMSG_LENGTH(sizeof(nfgenmsg)), 0); }

void put_status(std::vector<uint8_t>& req, uint32_t value, uint32_t mask) {
  if (!mask) return;
  uint32_t v = htonl(value), m = htonl(mask);
  put_attr(req, CTA_STATUS, &v, 4);
  put_attr(req, CTA_STATUS_MASK, &m, 4);
}

// One dump of IPv4 entries whose status matches (status & mask) == value;
// mask 0 asks for every entry (and sends no filter).
size_t dump_by_status(int fd, uint32_t value, uint32_t mask, uint32_t seq,
                      const std::function<void(const CtEntry&)>& each) {
  auto req = new_request();
  put_status(req, value, mask);
  // The kernel may not know the filter: the same test here.
  return run_dump(fd, req, seq, [&](const CtEntry& e) { return (e.status & mask) == value; }, each);
}

// The kernel's filter flags for CTA_FILTER_ORIG_FLAGS (not in the uapi
// headers: net/netfilter/nf_internals.h).
constexpr uint32_t kFilterIpSrc = 1u << 0, kFilterIpDst = 1u << 1, kFilterProtoNum = 1u << 3,
                   kFilterProtoDstPort = 1u << 5;

CtTuple exp_tuple(const nfnl_exp* exp, int which) {
  CtTuple t;
  t.proto = nfnl_exp_get_l4protonum(exp, which);
  t.src = v4(nfnl_exp_get_src(exp, which));
  t.dst = v4(nfnl_exp_get_dst(exp, which));
  t.sport = nfnl_exp_get_src_port(exp, which);
  t.dport = nfnl_exp_get_dst_port(exp, which);
  return t;
}

int open_ctnetlink() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw Error(ErrorKind::Kernel, "conntrack", std::string("cannot open netlink: ") + std::strerror(errno));
  // Large tables come in many messages; a bigger buffer avoids ENOBUFS.
  int size = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return fd;
}

}  // namespace

size_t dump_nat_conntrack(const std::function<void(const CtEntry&)>& each) {
  Fd s{open_ctnetlink()};
  return dump_by_status(s.fd, IPS_DST_NAT, IPS_DST_NAT, 1, each) +
         dump_by_status(s.fd, IPS_SRC_NAT, IPS_SRC_NAT | IPS_DST_NAT, 2, each);
}

size_t dump_conntrack(const std::function<void(const CtEntry&)>& each) {
  Fd s{open_ctnetlink()};
  return dump_by_status(s.fd, 0, 0, 1, each);
}

bool CtFilter::matches(const CtEntry& e) const {
  return e.orig.proto == proto && (!src || e.orig.src == *src) && (!dst || e.orig.dst == *dst) &&
         (!dport || e.orig.dport == *dport) && (e.status & status_mask) == status;
}

size_t dump_conntrack(const CtFilter& f, const std::function<void(const CtEntry&)>& each, bool* ignored) {
  Fd s{open_ctnetlink()};
  auto req = new_request();
  put_status(req, f.status, f.status_mask);
  uint32_t flags = kFilterProtoNum | (f.src ? kFilterIpSrc : 0) | (f.dst ? kFilterIpDst : 0) |
                   (f.dport ? kFilterProtoDstPort : 0);
  put_nest(req, CTA_FILTER, [&] {
    put_attr(req, CTA_FILTER_ORIG_FLAGS, &flags, 4);  // host byte order (nla_get_u32)
  });
  CtTuple t;
  t.proto = f.proto;
  t.src = f.src.value_or(0);
  t.dst = f.dst.value_or(0);
  t.dport = f.dport.value_or(0);
  put_tuple(req, CTA_TUPLE_ORIG, t);
  CtFilter tuple_only = f;
  tuple_only.status = tuple_only.status_mask = 0;
  return run_dump(
      s.fd, req, 1,
      [&](const CtEntry& e) {
        if (!tuple_only.matches(e) && ignored) *ignored = true;
        return f.matches(e);
      },
      each);
}

bool delete_conntrack(const CtEntry& e) {
  Fd s{open_ctnetlink()};
  std::vector<uint8_t> buf(NLMSG_LENGTH(sizeof(nfgenmsg)), 0);
  put_tuple(buf, CTA_TUPLE_ORIG, e.orig);
  if (e.id) {
    uint32_t id = htonl(e.id);
    put_attr(buf, CTA_ID, &id, 4);  // this very entry, not a later one with the same tuple
  }
  if (e.zone) {
    uint16_t zone = htons(e.zone);
    put_attr(buf, CTA_ZONE, &zone, 2);
  }
  auto* nh = reinterpret_cast<nlmsghdr*>(buf.data());
  nh->nlmsg_len = uint32_t(buf.size());
  nh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nh->nlmsg_seq = 1;
  auto* nf = static_cast<nfgenmsg*>(NLMSG_DATA(nh));
  nf->nfgen_family = AF_INET;
  nf->version = NFNETLINK_V0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("delete request failed: ") + std::strerror(errno));
  alignas(nlmsghdr) uint8_t reply[1024];
  for (;;) {
    ssize_t n = recv(s.fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::Kernel, "conntrack", std::string("delete failed: ") + std::strerror(errno));
    auto* r = reinterpret_cast<nlmsghdr*>(reply);
    if (!NLMSG_OK(r, size_t(n)) || r->nlmsg_type != NLMSG_ERROR) continue;
    int err = r->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) ? -static_cast<const nlmsgerr*>(NLMSG_DATA(r))->error : 0;
    if (err == 0) return true;
    if (err == ENOENT) return false;  // gone already (timed out, or its id changed)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("delete failed: ") + std::strerror(err));
  }
}

std::vector<uint8_t> ct_new_request(const CtNew& c, uint32_t seq) {
  std::vector<uint8_t> buf(NLMSG_LENGTH(sizeof(nfgenmsg)), 0);
  CtTuple reply;
  reply.proto = c.orig.proto;
  reply.src = c.orig.dst;
  reply.dst = c.orig.src;
  reply.sport = c.orig.dport;
  reply.dport = c.orig.sport;
  put_tuple(buf, CTA_TUPLE_ORIG, c.orig);
  // ctnetlink_create_conntrack() allocates with both tuples, then
  // ctnetlink_setup_nat() -> nf_nat_setup_info() replaces the reply tuple
  // with the inverse of the NATed original (peer -> nat_src).
  put_tuple(buf, CTA_TUPLE_REPLY, reply);
  if (c.zone) {
    uint16_t zone = htons(c.zone);
    put_attr(buf, CTA_ZONE, &zone, 2);
  }
  uint32_t timeout = htonl(c.timeout);
  put_attr(buf, CTA_TIMEOUT, &timeout, 4);  // required on create (-EINVAL without)
  // The kernel sets IPS_CONFIRMED before it applies CTA_STATUS, and refuses
  // a status that would clear it (nf_ct_change_status_common: -EBUSY).
  uint32_t status = htonl(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED);
  put_attr(buf, CTA_STATUS, &status, 4);
  if (c.nat_src) {
    put_nest(buf, CTA_NAT_SRC, [&] {
      uint32_t a = htonl(c.nat_src);
      put_attr(buf, CTA_NAT_V4_MINIP, &a, 4);
      put_attr(buf, CTA_NAT_V4_MAXIP, &a, 4);
    });
  }
  auto* nh = reinterpret_cast<nlmsghdr*>(buf.data());
  nh->nlmsg_len = uint32_t(buf.size());
  nh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  nh->nlmsg_seq = seq;
  auto* nf = static_cast<nfgenmsg*>(NLMSG_DATA(nh));
  nf->nfgen_family = AF_INET;
  nf->version = NFNETLINK_V0;
  return buf;
}

int create_conntrack(const CtNew& c) {
  Fd s{open_ctnetlink()};
  std::vector<uint8_t> buf = ct_new_request(c, 1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw Error(ErrorKind::Kernel, "conntrack", std::string("create request failed: ") + std::strerror(errno));
  alignas(nlmsghdr) uint8_t reply[4096];
  for (;;) {
    ssize_t n = recv(s.fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::Kernel, "conntrack", std::string("create failed: ") + std::strerror(errno));
    auto* r = reinterpret_cast<nlmsghdr*>(reply);
    if (!NLMSG_OK(r, size_t(n)) || r->nlmsg_type != NLMSG_ERROR || r->nlmsg_seq != 1) continue;
    return r->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) ? static_cast<const nlmsgerr*>(NLMSG_DATA(r))->error : 0;
  }
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
