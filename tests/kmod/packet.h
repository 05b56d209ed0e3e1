// packet.h: IPv4 packets as bytes for the vpnpt_esp parser (kmod/parse.c),
// and the user-space side of its accessor: what hooks.c does with an
// sk_buff, done with a byte vector.  Used by parse_test.cpp and tests/fuzz.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

extern "C" {
#include "parse.h"
}

namespace kmodtest {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) { b.push_back(uint8_t(v >> 8)); b.push_back(uint8_t(v)); }
inline void put32(Bytes& b, uint32_t v) { put16(b, uint16_t(v >> 16)); put16(b, uint16_t(v)); }
inline void put64(Bytes& b, uint64_t v) { put32(b, uint32_t(v >> 32)); put32(b, uint32_t(v)); }
inline void put_addr(Bytes& b, uint32_t a_be) {  // network byte order as stored
  uint8_t x[4];
  memcpy(x, &a_be, 4);
  b.insert(b.end(), x, x + 4);
}

enum : uint8_t { PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17, PROTO_ESP = 50 };

// An IPv4 header (20 bytes, no options; checksum left 0: the kernel checked
// it before PRE_ROUTING) followed by @payload.
inline Bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, const Bytes& payload,
                  uint16_t frag_off = 0) {
  Bytes b;
  b.push_back(0x45);
  b.push_back(0);
  put16(b, uint16_t(20 + payload.size()));
  put16(b, 0x1234);  // id
  put16(b, frag_off);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  put_addr(b, src);
  put_addr(b, dst);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, uint16_t(8 + payload.size()));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// An ESP header and @body bytes of (pretend) ciphertext.
inline Bytes esp(uint32_t spi, size_t body = 16, uint32_t seq = 1) {
  Bytes b;
  put32(b, spi);
  put32(b, seq);
  b.resize(b.size() + body, 0xab);
  return b;
}

// The 28-byte IKE header (RFC 7296 3.1) and @body bytes of payloads.
inline Bytes ike(const struct ike_info& i, size_t body = 40) {
  Bytes b;
  put64(b, i.ispi);
  put64(b, i.rspi);
  b.push_back(i.version == 1 ? 8 : 33);         // next payload: SA / SK
  b.push_back(uint8_t(i.version << 4));        // major.minor
  b.push_back(i.exch);
  uint8_t flags = i.flags;
  if (i.version == 2 && i.response) flags |= IKEV2_FLAG_RESPONSE;
  b.push_back(flags);
  put32(b, i.msgid);
  put32(b, uint32_t(28 + body));
  b.resize(b.size() + body, 0xcd);
  return b;
}

// The 4-byte non-ESP marker of UDP 4500 (RFC 3948 2.2) before @ike_msg.
inline Bytes natt(const Bytes& ike_msg) {
  Bytes b(4, 0);
  b.insert(b.end(), ike_msg.begin(), ike_msg.end());
  return b;
}

// An ICMP error of @type quoting @quoted (its first bytes, as routers do).
inline Bytes icmp_error(uint8_t type, const Bytes& quoted, size_t quote_len = 28) {
  Bytes b;
  b.push_back(type);
  b.push_back(0);
  put16(b, 0);
  put32(b, 0);
  b.insert(b.end(), quoted.begin(),
           quoted.begin() + std::min(quoted.size(), quote_len));
  return b;
}

// The router's addresses (for mux_ops.is_local, with ctx = the Router) and
// interfaces, and the parser's accessor over a byte buffer.  @headlen below the packet length makes the parser fetch
// the rest through header(), as with a non-linear sk_buff.
struct Router {
  std::set<uint32_t> local;
  uint32_t gen = 0;  // mux_pkt.local_gen: moves with any address or route change
  bool is_local_cb(uint32_t a) const { return local.count(a) != 0; }

  static bool is_local(void* ctx, __be32 a) { return static_cast<Router*>(ctx)->is_local_cb(a); }
  static const void* header(void* pkt, u32 off, u32 len, void* buf) {
    auto* b = static_cast<const Bytes*>(pkt);
    if (off > b->size() || len > b->size() - off) return nullptr;
    if (len) memcpy(buf, b->data() + off, len);
    return buf;
  }

  enum mux_parse_res parse(struct mux* m, const Bytes& pkt, uint32_t iif, struct mux_pkt* p,
                           uint32_t headlen = UINT32_MAX, uint32_t truesize = 0) {
    struct mux_parse_in in = {};
    in.header = &Router::header;
    in.pkt = const_cast<Bytes*>(&pkt);
    in.data = pkt.data();
    in.headlen = std::min<uint32_t>(headlen, uint32_t(pkt.size()));
    in.len = uint32_t(pkt.size());
    in.iif = iif;
    in.truesize = truesize;
    enum mux_parse_res r = mux_parse(m, &in, p);
    p->local_gen = gen;  // as the kernel's hook fills it
    return r;
  }
};

}  // namespace kmodtest
