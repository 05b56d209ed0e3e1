// harness.h: drives the vpnpt_esp tables (kmod/table.h) from GoogleTest the way
// kmod/hooks.c does from netfilter: parsed packets in, verdicts out, held
// packets re-injected when the table releases them.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "table.h"
}

namespace kmodtest {

inline uint32_t ip(const char* s) { return inet_addr(s); }

inline struct ike_info ike_hdr(uint8_t version, uint8_t exch, uint64_t ispi, uint64_t rspi,
                               uint32_t msgid, bool response) {
  struct ike_info i = {};
  i.version = version;
  i.exch = exch;
  i.ispi = ispi;
  i.rspi = rspi;
  i.msgid = msgid;
  i.response = response;
  i.child = version == 1 ? exch == IKEV1_EXCH_QUICK_MODE
                         : (exch == IKEV2_EXCH_AUTH || exch == IKEV2_EXCH_CREATE_CHILD);
  return i;
}

// The mapping a dumped view names: what `vpnpt mux export` writes and
// ADD_MAPPING takes.
inline struct mux_mapping mapping_of(const struct mux_view& v) {
  struct mux_mapping mp = {};
  mp.kind = v.kind;
  mp.state = v.state;
  mp.reason = v.reason;
  mp.host = v.host;
  mp.peer = v.peer;
  mp.zone = v.zone;
  mp.spi_out = v.spi_out;
  mp.spi_in = v.spi_in;
  mp.ispi = v.ispi;
  mp.rspi = v.rspi;
  mp.ike_version = v.ike_version;
  return mp;
}

struct Result {
  enum mux_verdict v;
  uint16_t zone;
};

class Mux {
 public:
  explicit Mux(const struct mux_params* p = nullptr) : m_(new struct mux) {
    struct mux_params d;
    mux_params_default(&d);
    if (p) d = *p;
    if (mux_init(m_.get(), &d, 0x5eed1234) != 0) throw std::runtime_error("mux_init failed");
    m_->ops.local_spi = &Mux::local_spi_cb;
    m_->ops.is_local = &Mux::is_local_cb;
    m_->ops.ctx = this;
  }
  ~Mux() {
    std::vector<void*> tmp;
    take_released(tmp);
    take_expired(tmp);
    mux_destroy(m_.get());
  }
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  struct mux* m() { return m_.get(); }
  uint64_t now = 1'000'000;
  std::set<std::pair<uint32_t, uint32_t>> local_spis;  // (daddr, spi) of the router's own SAs
  std::set<uint32_t> local;  // the router's addresses (ops.is_local)
  uint32_t local_gen = 0;    // for mux_pkt.local_gen: bump it when `local` changes, as the kernel does
  unsigned local_asked = 0;  // ops.is_local calls

  Result esp_out(uint32_t host, uint32_t peer, uint32_t spi, void* cookie = nullptr) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_ESP; p.dir = MUX_DIR_OUT; p.src = host; p.dst = peer; p.spi = spi; p.len = 100;
    return run(p, cookie);
  }
  Result esp_in(uint32_t peer, uint32_t spi, uint32_t wan = ip("203.0.113.1")) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_ESP; p.dir = MUX_DIR_IN; p.src = peer; p.dst = wan; p.spi = spi; p.len = 120;
    return run(p, nullptr);
  }
  Result ike_out(uint32_t host, uint32_t peer, const struct ike_info& i, void* cookie = nullptr) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_IKE; p.dir = MUX_DIR_OUT; p.src = host; p.dst = peer; p.ike = i; p.len = 300;
    return run(p, cookie);
  }
  Result ike_in(uint32_t peer, const struct ike_info& i, void* cookie = nullptr) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_IKE; p.dir = MUX_DIR_IN; p.src = peer; p.dst = ip("203.0.113.1"); p.ike = i;
    p.len = 300;
    return run(p, cookie);
  }
  Result icmp(uint8_t dir, uint32_t src, uint32_t inner_src, uint32_t inner_dst, uint32_t spi) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_ICMP_ESP; p.dir = dir; p.src = src; p.dst = ip("203.0.113.1");
    p.inner_src = inner_src; p.inner_dst = inner_dst; p.spi = spi; p.len = 56;
    return run(p, nullptr);
  }
  Result run(const struct mux_pkt& p, void* cookie) {
    Result r{MUX_PASS, 0};
    r.v = mux_classify(m_.get(), &p, now, cookie, nullptr, &r.zone);
    return r;
  }

  void advance(uint64_t ms) { now += ms; mux_gc(m_.get(), now); }
  void take_released(std::vector<void*>& out) { take(out, true); }
  void take_expired(std::vector<void*>& out) { take(out, false); }
  // Flush conntrack of freed zones (here: nothing to flush) and reuse them.
  std::vector<uint16_t> recycle_zones() {
    uint16_t z[64];
    std::vector<uint16_t> all;
    uint32_t n;
    while ((n = mux_zone_take_dirty(m_.get(), z, 64)) > 0)
      for (uint32_t i = 0; i < n; i++) {
        all.push_back(z[i]);
        mux_zone_release(m_.get(), z[i]);
      }
    return all;
  }
  uint64_t counter(unsigned c) { return mux_counter(m_.get(), c); }
  uint32_t sas() { return mux_nr_sas(m_.get()); }
  std::vector<struct mux_view> dump() {
    std::vector<struct mux_view> v;
    struct mux_dump_pos pos = {};
    mux_dump(m_.get(), &pos, now, [](void* ctx, const struct mux_view* e) {
      static_cast<std::vector<struct mux_view>*>(ctx)->push_back(*e);
      return 0;
    }, &v, nullptr);
    return v;
  }

 private:
  static bool local_spi_cb(void* ctx, __be32 daddr, u32 spi) {
    auto* self = static_cast<Mux*>(ctx);
    return self->local_spis.count({daddr, spi}) != 0;
  }
  static bool is_local_cb(void* ctx, __be32 addr) {
    auto* self = static_cast<Mux*>(ctx);
    self->local_asked++;
    return self->local.count(addr) != 0;
  }
  void take(std::vector<void*>& out, bool released) {
    struct list_head l;
    INIT_LIST_HEAD(&l);
    if (released) mux_take_released(m_.get(), &l);
    else mux_take_expired(m_.get(), &l);
    while (!list_empty(&l)) {
      struct mux_held* h = list_first_entry(&l, struct mux_held, node);
      list_del(&h->node);
      out.push_back(h->cookie);
      mux_held_free(h);
    }
  }
  std::unique_ptr<struct mux> m_;
};

}  // namespace kmodtest
