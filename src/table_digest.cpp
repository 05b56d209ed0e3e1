// table_digest.cpp: the table's digest from raw nf_tables dumps (table_digest.h).
#include "table_digest.h"
#include "nlattr.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include "error.h"
#include "nft.h"
#include "ruleset.h"

namespace vpnpt {

namespace {

// Newer than some uapi headers: the set's backend (its ops, as the kernel
// names them) and its number of elements (Linux 6.x), which the packet
// path changes in a dynamic set.
constexpr int kSetType = 19, kSetCount = 20;

using nl::Attr;
using nl::each_attr;

std::string str(const Attr& a) {
  const char* s = reinterpret_cast<const char*>(a.data);
  return std::string(s, strnlen(s, a.len));
}

uint32_t u32(const Attr& a) {
  uint32_t v = 0;
  if (a.len >= 4) std::memcpy(&v, a.data, 4);
  return ntohl(v);
}

// The canonical form: type, length, payload, with no padding, so that the
// same objects give the same bytes however the kernel split its messages.
void put(std::string& out, uint16_t type, const void* p, size_t len) {
  uint32_t l = uint32_t(len);
  out.append(reinterpret_cast<const char*>(&type), sizeof type);
  out.append(reinterpret_cast<const char*>(&l), sizeof l);
  out.append(static_cast<const char*>(p), len);
}
void put(std::string& out, const Attr& a) { put(out, a.raw_type, a.data, a.len); }
void put(std::string& out, uint16_t type, const std::string& body) { put(out, type, body.data(), body.size()); }

// Attributes of an expression's data, without zero-length ones (the
// 64-bit alignment padding some architectures add) and without `drop`.
std::string data_without(const Attr& data, int drop) {
  std::string out;
  each_attr(data.data, data.len, [&](const Attr& a) {
    if (a.len && a.type != drop) put(out, a);
  });
  return out;
}

// One expression (NFTA_EXPR_NAME, NFTA_EXPR_DATA) without its state.
std::string norm_expr(const Attr& nest) {
  std::string name, out;
  each_attr(nest.data, nest.len, [&](const Attr& a) {
    if (a.type == NFTA_EXPR_NAME) name = str(a);
  });
  each_attr(nest.data, nest.len, [&](const Attr& a) {
    if (a.type != NFTA_EXPR_DATA) return put(out, a);
    if (name == "counter" || name == "last") return;  // values only
    put(out, a.raw_type, data_without(a, name == "quota" ? NFTA_QUOTA_CONSUMED : -1));
  });
  return out;
}

// A list of expressions (NFTA_LIST_ELEM each).
std::string norm_expr_list(const Attr& list) {
  std::string out;
  each_attr(list.data, list.len, [&](const Attr& e) { put(out, e.raw_type, norm_expr(e)); });
  return out;
}

// Top-level attributes of a message, but `drop`s and empty ones; nested
// expression lists normalised.
std::string norm_top(const uint8_t* p, size_t len, std::initializer_list<int> drop,
                     const std::function<bool(const Attr&, std::string&)>& special = nullptr) {
  std::string out;
  each_attr(p, len, [&](const Attr& a) {
    if (!a.len || std::find(drop.begin(), drop.end(), a.type) != drop.end()) return;
    if (special && special(a, out)) return;
    put(out, a);
  });
  return out;
}

class Dumper {
 public:
  Dumper() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) {
    if (fd_ < 0) throw Error(ErrorKind::Kernel, "nftables", std::string("cannot open netlink: ") + std::strerror(errno));
    int size = 1 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~Dumper() { close(fd_); }
  Dumper(const Dumper&) = delete;
  Dumper& operator=(const Dumper&) = delete;

  // One dump of `msg` in family inet with request attributes `attrs`; each
  // answer's attributes go to `each`. Returns 0 or the kernel's errno.
  int dump(uint16_t msg, const std::string& attrs, const std::function<void(const uint8_t*, size_t)>& each) {
    std::vector<uint8_t> req(NLMSG_LENGTH(sizeof(nfgenmsg)), 0);
    req.insert(req.end(), attrs.begin(), attrs.end());
    auto* nh = reinterpret_cast<nlmsghdr*>(req.data());
    nh->nlmsg_len = uint32_t(req.size());
    nh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nh->nlmsg_seq = ++seq_;
    auto* nf = static_cast<nfgenmsg*>(NLMSG_DATA(nh));
    nf->nfgen_family = NFPROTO_INET;
    nf->version = NFNETLINK_V0;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
      throw Error(ErrorKind::Kernel, "nftables", std::string("dump request failed: ") + std::strerror(errno));
    for (;;) {
      ssize_t n = recv(fd_, buf_.data(), buf_.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(ErrorKind::Kernel, "nftables", std::string("dump failed: ") + std::strerror(errno));
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf_.data()); NLMSG_OK(m, size_t(n)); m = NLMSG_NEXT(m, n)) {
        if (m->nlmsg_seq != seq_) continue;
        if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
        if (m->nlmsg_type == NLMSG_DONE) return 0;
        if (m->nlmsg_type == NLMSG_ERROR) {
          int err = m->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))
                        ? -static_cast<const nlmsgerr*>(NLMSG_DATA(m))->error
                        : EIO;
          if (err) return err;
          continue;
        }
        if (m->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) continue;
        if (static_cast<const nfgenmsg*>(NLMSG_DATA(m))->nfgen_family != NFPROTO_INET) continue;
        size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
        each(reinterpret_cast<const uint8_t*>(m) + off, m->nlmsg_len - off);
      }
    }
  }

  bool interrupted() const { return interrupted_; }

 private:
  int fd_;
  uint32_t seq_ = 0;
  bool interrupted_ = false;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(1 << 17);
};

std::string name_attr(uint16_t type, const std::string& name) {
  std::string out;
  const uint16_t len = uint16_t(NLA_HDRLEN + name.size() + 1);
  nlattr a{len, type};
  out.append(reinterpret_cast<const char*>(&a), sizeof a);
  out.append(name);
  out.append(NLA_ALIGN(len) - NLA_HDRLEN - name.size(), '\0');
  return out;
}

// The table's comment from its user data: nftables' TLVs of one byte type
// (0: the comment), one byte length, then the NUL-terminated text.
std::string comment_of(const Attr& udata) {
  for (size_t i = 0; i + 2 <= udata.len;) {
    uint8_t type = udata.data[i], len = udata.data[i + 1];
    if (i + 2 + len > udata.len) break;
    if (type == 0) return std::string(reinterpret_cast<const char*>(udata.data + i + 2), strnlen(reinterpret_cast<const char*>(udata.data + i + 2), len));
    i += 2 + len;
  }
  return {};
}

// FNV-1a, 64 bits (as text_digest).
uint64_t fnv(const std::string& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// One pass over the table: nullopt if it does not exist.
std::optional<TableDigest> read_once(Dumper& d) {
  const std::string table = kTableName;
  // The owner of each message: the dumps of chains (and, on older kernels,
  // of the rest) list every table of the family.
  auto ours = [&](const uint8_t* p, size_t len, int table_attr) {
    bool yes = false;
    each_attr(p, len, [&](const Attr& a) {
      if (a.type == table_attr) yes = str(a) == table;
    });
    return yes;
  };
  std::string all, comment;
  bool found = false;
  auto fail = [](const char* what, int err) {
    throw Error(ErrorKind::Kernel, "nftables", std::string("cannot dump the ") + what + ": " + std::strerror(err));
  };
  int err = d.dump(NFT_MSG_GETTABLE, "", [&](const uint8_t* p, size_t len) {
    if (!ours(p, len, NFTA_TABLE_NAME)) return;
    found = true;
    each_attr(p, len, [&](const Attr& a) {
      if (a.type == NFTA_TABLE_USERDATA) comment = comment_of(a);
    });
    put(all, NFT_MSG_NEWTABLE, norm_top(p, len, {NFTA_TABLE_HANDLE, NFTA_TABLE_PAD, NFTA_TABLE_OWNER}));
  });
  if (err) fail("tables", err);
  if (!found) return std::nullopt;

  err = d.dump(NFT_MSG_GETCHAIN, name_attr(NFTA_CHAIN_TABLE, table), [&](const uint8_t* p, size_t len) {
    if (ours(p, len, NFTA_CHAIN_TABLE))
      put(all, NFT_MSG_NEWCHAIN,
          norm_top(p, len, {NFTA_CHAIN_HANDLE, NFTA_CHAIN_COUNTERS, NFTA_CHAIN_PAD, NFTA_CHAIN_ID}));
  });
  if (err) fail("chains", err);

  err = d.dump(NFT_MSG_GETRULE, name_attr(NFTA_RULE_TABLE, table), [&](const uint8_t* p, size_t len) {
    if (!ours(p, len, NFTA_RULE_TABLE)) return;
    put(all, NFT_MSG_NEWRULE,
        norm_top(p, len,
                 {NFTA_RULE_HANDLE, NFTA_RULE_POSITION, NFTA_RULE_PAD, NFTA_RULE_ID, NFTA_RULE_POSITION_ID,
                  NFTA_RULE_CHAIN_ID},
                 [](const Attr& a, std::string& out) {
                   if (a.type != NFTA_RULE_EXPRESSIONS) return false;
                   put(out, a.raw_type, norm_expr_list(a));
                   return true;
                 }));
  });
  if (err) fail("rules", err);

  std::vector<std::string> fixed_sets;  // whose elements are part of the definition
  err = d.dump(NFT_MSG_GETSET, name_attr(NFTA_SET_TABLE, table), [&](const uint8_t* p, size_t len) {
    if (!ours(p, len, NFTA_SET_TABLE)) return;
    std::string name;
    uint32_t flags = 0;
    each_attr(p, len, [&](const Attr& a) {
      if (a.type == NFTA_SET_NAME) name = str(a);
      if (a.type == NFTA_SET_FLAGS) flags = u32(a);
    });
    if (!(flags & NFT_SET_EVAL)) fixed_sets.push_back(name);
    put(all, NFT_MSG_NEWSET, norm_top(p, len, {NFTA_SET_HANDLE, NFTA_SET_PAD, NFTA_SET_ID, kSetType, kSetCount}));
  });
  if (err) fail("sets", err);

  for (const auto& set : fixed_sets) {
    // Each element's canonical bytes are hashed on their own and the hashes
    // sorted: 20,000 elements are 20,000 numbers to sort, not strings.
    std::vector<uint64_t> elems;
    std::string elem;
    err = d.dump(NFT_MSG_GETSETELEM, name_attr(NFTA_SET_ELEM_LIST_TABLE, table) + name_attr(NFTA_SET_ELEM_LIST_SET, set),
                 [&](const uint8_t* p, size_t len) {
                   each_attr(p, len, [&](const Attr& list) {
                     if (list.type != NFTA_SET_ELEM_LIST_ELEMENTS) return;
                     each_attr(list.data, list.len, [&](const Attr& e) {
                       elem = norm_top(e.data, e.len, {NFTA_SET_ELEM_EXPIRATION, NFTA_SET_ELEM_PAD},
                                                [](const Attr& a, std::string& out) {
                                                  if (a.type == NFTA_SET_ELEM_EXPR) put(out, a.raw_type, norm_expr(a));
                                                  else if (a.type == NFTA_SET_ELEM_EXPRESSIONS)
                                                    put(out, a.raw_type, norm_expr_list(a));
                                                  else return false;
                                                  return true;
                                                });
                       elems.push_back(fnv(elem));
                     });
                   });
                 });
    if (err) fail("set elements", err);
    std::sort(elems.begin(), elems.end());
    std::string body = set;
    body.append(reinterpret_cast<const char*>(elems.data()), elems.size() * sizeof(uint64_t));
    put(all, NFT_MSG_NEWSETELEM, body);
  }

  err = d.dump(NFT_MSG_GETOBJ, name_attr(NFTA_OBJ_TABLE, table), [&](const uint8_t* p, size_t len) {
    if (!ours(p, len, NFTA_OBJ_TABLE)) return;
    uint32_t type = 0;
    each_attr(p, len, [&](const Attr& a) {
      if (a.type == NFTA_OBJ_TYPE) type = u32(a);
    });
    put(all, NFT_MSG_NEWOBJ,
        norm_top(p, len, {NFTA_OBJ_HANDLE, NFTA_OBJ_PAD}, [&](const Attr& a, std::string& out) {
          if (a.type != NFTA_OBJ_DATA) return false;
          if (type == NFT_OBJECT_COUNTER) return true;  // values only
          put(out, a.raw_type, data_without(a, type == NFT_OBJECT_QUOTA ? NFTA_QUOTA_CONSUMED : -1));
          return true;
        }));
  });
  if (err) fail("objects", err);

  err = d.dump(NFT_MSG_GETFLOWTABLE, name_attr(NFTA_FLOWTABLE_TABLE, table), [&](const uint8_t* p, size_t len) {
    if (ours(p, len, NFTA_FLOWTABLE_TABLE))
      put(all, NFT_MSG_NEWFLOWTABLE, norm_top(p, len, {NFTA_FLOWTABLE_HANDLE, NFTA_FLOWTABLE_PAD}));
  });
  if (err && err != EOPNOTSUPP) fail("flowtables", err);

  return TableDigest{"nl1:" + text_digest(all), comment};
}

}  // namespace

bool is_netlink_digest(const std::string& digest) { return digest.rfind("nl1:", 0) == 0; }

bool table_has_object(const std::string& name, uint32_t type) {
  Dumper d;
  bool found = false;
  int err = d.dump(NFT_MSG_GETOBJ, name_attr(NFTA_OBJ_TABLE, kTableName), [&](const uint8_t* p, size_t len) {
    std::string table, obj;
    uint32_t t = 0;
    each_attr(p, len, [&](const Attr& a) {
      if (a.type == NFTA_OBJ_TABLE) table = str(a);
      if (a.type == NFTA_OBJ_NAME) obj = str(a);
      if (a.type == NFTA_OBJ_TYPE) t = u32(a);
    });
    found = found || (table == kTableName && obj == name && t == type);
  });
  if (err && err != ENOENT)
    throw Error(ErrorKind::Kernel, "nftables", std::string("cannot dump the objects: ") + std::strerror(err));
  return found;
}

std::optional<TableDigest> table_digest() {
  std::optional<TableDigest> got;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Dumper d;
    const auto before = ruleset_generation();
    got = read_once(d);
    if (!d.interrupted() && before && ruleset_generation() == before) return got;
  }
  return got;  // a busy ruleset: the last reading, as a listing would give
}

}  // namespace vpnpt
