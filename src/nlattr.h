// nlattr.h: netlink attributes read in place, for the raw netlink dumps
// (conntrack.cpp, table_digest.cpp). Lengths are checked before each read:
// the kernel is trusted to be well-formed, but a short attribute ends the walk.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vpnpt::nl {

struct Attr {
  uint16_t type;      // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  uint16_t raw_type;  // as sent
  const uint8_t* data;
  size_t len;
};

// Calls f(Attr) for each attribute in [p, p + len).
template <typename F>
void each_attr(const uint8_t* p, size_t len, F&& f) {
  while (len >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, p, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len) return;
    f(Attr{uint16_t(a.nla_type & NLA_TYPE_MASK), a.nla_type, p + NLA_HDRLEN, size_t(a.nla_len - NLA_HDRLEN)});
    size_t step = NLA_ALIGN(a.nla_len);
    if (step >= len) return;
    p += step;
    len -= step;
  }
}

}  // namespace vpnpt::nl
