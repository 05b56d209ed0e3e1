// kmod_table_bench.cpp: what the vpnpt_esp module's pure logic (kmod/table.h: objects.c, bind.c, ...,
// kmod/ike.c, built in user space with -DVPNPT_USERSPACE) costs per packet
// and per mapping.
//
//   BM_FastPathOut/N, BM_FastPathIn/N   a packet of a bound SA, N SAs in the
//                                       table (the path every ESP packet takes),
//                                       packets over all N SAs in shuffled order
//   BM_FastPathHotIn/N                  the same over 1,000 of the N SAs (the
//                                       table's own cost, without N objects'
//                                       cache misses)
//   BM_UnknownSpiIn/…                   unsolicited inbound ESP (slow path)
//   BM_BindIkeRekey/N                   one child SA bound through an IKE window
//                                       (CREATE_CHILD_SA request + response, the
//                                       peer's first ESP, the host's first ESP)
//   BM_FillIke/N                        N hosts from nothing: IKE_SA_INIT,
//                                       IKE_AUTH, both first ESP packets each
//   BM_IkeParse/…                       the IKE header parser, per message
//   BM_Memory/N                         filling N SAs: time and bytes per mapping
//                                       (objects and hash tables, max_mappings = N)
//
// N runs from 1 to 1,000,000 (max_mappings' cap is 1,048,576); the whole run
// takes a few minutes and about 1 GB of memory.  The tables are sized for
// max_mappings as when the module is enabled (mux_params_set).
//
// User space differs from the kernel in what this cannot show: no RCU, no
// per-cpu counters, no lock (compat.h), calloc instead of kmalloc slabs.
// struct rcu_head, list and hash nodes have the kernel's sizes here, so the
// memory figures give the calloc'd bytes and the kernel's kmalloc size
// classes for the same sizes (vmalloc'd hash tables: whole pages).
//
// Every packet-path figure is for one CPU; counters repeat the module's
// documented limits (kmod/DESIGN.md, kmod/table.h) next to the figures.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "harness.h"

using kmodtest::ike_hdr;
using kmodtest::ip;
using kmodtest::Mux;

// ---------------------------------------------------------------------------
// Allocation accounting: the bench binary is linked with -Wl,--wrap=calloc
// and -Wl,--wrap=free, so only the calloc/free calls of the objects in this
// link come here: the table's files and ike.c from libvpnpt_kmod_logic.a (compat.h's
// mux_alloc/mux_free); this file calls neither.  libstdc++ and libbenchmark
// are shared libraries and keep the real ones.
namespace {

struct AllocStats {
  int64_t live_bytes = 0;    // requested bytes currently allocated
  int64_t live_kmalloc = 0;  // the same in the kernel's kmalloc size classes (estimate)
  bool log = false;          // record each size (BM_ObjectSizes)
  std::vector<size_t> sizes;
};
AllocStats g_alloc;

std::map<void*, size_t>& size_of_ptr() {
  // its nodes come from operator new, not calloc; never destroyed, as the
  // tables kept for the fast-path benchmarks are freed after main returns
  static auto* m = new std::map<void*, size_t>;
  return *m;
}

// kmalloc-N caches of a 64-bit kernel (SLUB, no debug); the objects have the
// same size there (compat.h keeps the kernel's struct rcu_head, list_head,
// hlist_node).  Above a page: kvzalloc, whole pages.
size_t kmalloc_class(size_t sz) {
  static const size_t classes[] = {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096};
  for (size_t c : classes)
    if (sz <= c) return c;
  return (sz + 4095) & ~size_t(4095);
}

}  // namespace

extern "C" {
void* __real_calloc(size_t n, size_t sz);
void __real_free(void* p);

void* __wrap_calloc(size_t n, size_t sz) {
  void* p = __real_calloc(n, sz);
  if (p) {
    size_t bytes = n * sz;
    g_alloc.live_bytes += static_cast<int64_t>(bytes);
    g_alloc.live_kmalloc += static_cast<int64_t>(kmalloc_class(bytes));
    size_of_ptr()[p] = bytes;
    if (g_alloc.log) g_alloc.sizes.push_back(bytes);
  }
  return p;
}

void __wrap_free(void* p) {
  if (!p) return;
  auto& m = size_of_ptr();
  if (auto it = m.find(p); it != m.end()) {
    g_alloc.live_bytes -= static_cast<int64_t>(it->second);
    g_alloc.live_kmalloc -= static_cast<int64_t>(kmalloc_class(it->second));
    m.erase(it);
  }
  __real_free(p);
}
}

namespace {

// ---------------------------------------------------------------------------
// Table population.  Addresses are in network byte order (as the hooks pass
// them).  LAN hosts 10.x.y.z, peers 198.51.x.y.

uint32_t host_addr(uint32_t i) { return htonl(0x0a000000u + 1 + i); }
uint32_t peer_addr(uint32_t i) { return htonl(0xc6330000u + 1 + i); }

// Parameters roomy enough for every N used below: the quotas are not what
// these benchmarks measure (idle_timeout at its maximum so nothing expires
// while BM_BindIkeRekey advances the clock).
struct mux_params roomy_params() {
  struct mux_params p;
  mux_params_default(&p);
  p.idle_timeout = 7 * 86400;
  p.drain_timeout = 1;
  p.max_per_host = 1u << 20;
  p.max_per_peer = 1u << 20;
  p.max_mappings = 1u << 20;
  p.zone_count = MUX_ZONE_COUNT_MAX;
  p.zone_base = 32768;
  p.enabled = true;  // the hash tables are sized for max_mappings when enabled
  return p;
}

// calloc maps large tables lazily, so the first packet hashed into each page
// of a bucket array would pay a page fault; the kernel's kvzalloc writes
// them all (zeroing).  Touch them as it does.
void prefault(Mux& mx) {
  for (int t = 0; t < MUX_T_NUM; t++) {
    struct mux_htab* h = mx.m()->tab[t];
    for (uint32_t i = 0; i < h->n; i += 512) benchmark::DoNotOptimize(h->b[i].first = nullptr);
  }
}

constexpr uint32_t kPeers = 64;  // many LAN hosts, a few remote peers

struct Sa {
  uint32_t host, peer, spi_out, spi_in;
  uint16_t zone;
};

// n ESP SAs bound by the no-IKE rule (host's ESP first, then the peer's):
// the cheapest way to a table of n bound SAs.  Up to MUX_ZONE_COUNT_MAX
// (host, peer) pairs; beyond that, several SAs per pair (older ones drain,
// which does not change how their packets are classified).
std::vector<Sa> fill_esp_first(Mux& mx, uint32_t n, uint32_t max_pairs = MUX_ZONE_COUNT_MAX) {
  std::vector<Sa> sas;
  sas.reserve(n);
  const uint32_t pairs = std::min<uint32_t>(n, max_pairs);
  for (uint32_t k = 0; k < n; k++) {
    uint32_t pair = k % pairs;
    Sa s{host_addr(pair), peer_addr(pair % kPeers), 0x10000000u + k, 0x20000000u + k, 0};
    auto o = mx.esp_out(s.host, s.peer, s.spi_out);
    auto i = mx.esp_in(s.peer, s.spi_in);
    if (o.v != MUX_ZONE || i.v != MUX_ZONE || o.zone != i.zone) return {};
    s.zone = o.zone;
    sas.push_back(s);
  }
  return sas;
}

void add_limits(benchmark::State& state, Mux& mx) {
  struct mux_params d;
  mux_params_default(&d);
  // the largest max_mappings mux_init accepts (mux_params_valid in params.c)
  uint32_t lo = 1, hi = 1u << 30;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    struct mux_params p = d;
    p.max_mappings = mid;
    struct mux m;
    if (mux_init(&m, &p, 1) == 0) {
      mux_destroy(&m);
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  state.counters["lim_max_mappings_default"] = d.max_mappings;
  state.counters["lim_max_mappings_cap"] = lo;
  state.counters["lim_zone_count_max"] = MUX_ZONE_COUNT_MAX;
  state.counters["lim_hash_buckets"] = mux_tab_buckets(mx.m(), MUX_T_IN);
}

// ---------------------------------------------------------------------------
// Fast path: a packet of a bound SA.  The packets cycle through every SA in
// a shuffled order, so lookups miss the cache as a router's would.

// The filled table of the last N, shared by the fast-path benchmarks of that
// N (registered one after the other): libbenchmark calls a benchmark several
// times to find its iteration count, and filling 1,000,000 SAs takes seconds.
struct Filled {
  uint32_t n = 0;
  std::unique_ptr<Mux> mx;
  std::vector<Sa> sas;
  bool checked[2] = {false, false};  // every packet took the fast path, per direction
};
Filled& filled(uint32_t n) {
  static Filled f;
  if (f.mx && f.n == n) return f;
  f = Filled();
  struct mux_params p = roomy_params();
  f.mx = std::make_unique<Mux>(&p);
  f.mx->local = {ip("203.0.113.1")};  // the router's WAN address (ops.is_local)
  prefault(*f.mx);
  f.n = n;
  f.sas = fill_esp_first(*f.mx, n);
  return f;
}

template <uint8_t Dir, uint32_t Hot = 0>
void BM_FastPath(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  const uint32_t cycle = Hot && Hot < n ? Hot : n;  // packets over the first `cycle` shuffled SAs
  Filled& f = filled(n);
  Mux& mx = *f.mx;
  const std::vector<Sa>& sas = f.sas;
  if (sas.size() != n) {
    state.SkipWithError("could not bind the SAs");
    return;
  }
  std::vector<struct mux_pkt> pkts(n);
  for (uint32_t k = 0; k < n; k++) {
    struct mux_pkt& q = pkts[k];
    std::memset(&q, 0, sizeof q);
    q.type = MUX_PKT_ESP;
    q.dir = Dir;
    q.src = Dir == MUX_DIR_OUT ? sas[k].host : sas[k].peer;
    q.dst = Dir == MUX_DIR_OUT ? sas[k].peer : ip("203.0.113.1");
    q.spi = Dir == MUX_DIR_OUT ? sas[k].spi_out : sas[k].spi_in;
    q.len = 1400;
    q.local_later = true;  // as mux_parse() leaves ESP: the SA's cached direction is checked
    q.local_gen = 1;       // as the kernel's hook fills it (rt_genid)
  }
  std::vector<uint16_t> want(n);
  std::vector<uint32_t> order(n);
  for (uint32_t k = 0; k < n; k++) order[k] = k;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::vector<struct mux_pkt> shuffled(n);
  for (uint32_t k = 0; k < n; k++) {
    shuffled[k] = pkts[order[k]];
    want[k] = sas[order[k]].zone;
  }
  // every packet must take the fast path to its own zone (checked once per table)
  if (!f.checked[Dir]) {
    const uint64_t slow_before = mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN) + mx.counter(VPNPT_ESP_C_ESP_OUT_NEW_SPI);
    for (uint32_t k = 0; k < n; k++) {
      uint16_t z = 0;
      if (mux_classify(mx.m(), &shuffled[k], mx.now, nullptr, nullptr, &z) != MUX_ZONE || z != want[k]) {
        state.SkipWithError("a bound SA's packet missed its zone");
        return;
      }
    }
    if (mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN) + mx.counter(VPNPT_ESP_C_ESP_OUT_NEW_SPI) != slow_before) {
      state.SkipWithError("a bound SA's packet took the slow path");
      return;
    }
    f.checked[Dir] = true;
  }

  uint32_t k = 0;
  for (auto _ : state) {
    uint16_t zone;
    enum mux_verdict v = mux_classify(mx.m(), &shuffled[k], mx.now, nullptr, nullptr, &zone);
    benchmark::DoNotOptimize(v);
    benchmark::DoNotOptimize(zone);
    if (++k == cycle) k = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["mappings"] = n;
  state.counters["avg_chain"] = static_cast<double>(n) / mux_tab_buckets(mx.m(), Dir == MUX_DIR_OUT ? MUX_T_OUT : MUX_T_IN);
  add_limits(state, mx);
}

void BM_FastPathOut(benchmark::State& state) { BM_FastPath<MUX_DIR_OUT>(state); }
void BM_FastPathIn(benchmark::State& state) { BM_FastPath<MUX_DIR_IN>(state); }
void BM_FastPathHotIn(benchmark::State& state) { BM_FastPath<MUX_DIR_IN, 1000>(state); }

// 1 to 1,000,000, with the default max_mappings (4,096) and
// MUX_ZONE_COUNT_MAX (8,192, the most (host, peer) pairs there can be) on
// the way; the table is sized for max_mappings = 1,048,576 in every run.
// Registered size by size, so that the benchmarks of one N share its table.
const int kFastPathRegistered = [] {
  for (int64_t n : {1, 1000, 4096, 8192, 100000, 1000000}) {
    benchmark::RegisterBenchmark("BM_FastPathOut", BM_FastPathOut)->Arg(n);
    benchmark::RegisterBenchmark("BM_FastPathIn", BM_FastPathIn)->Arg(n);
    if (n >= 1000) benchmark::RegisterBenchmark("BM_FastPathHotIn", BM_FastPathHotIn)->Arg(n);
  }
  return 0;
}();

// ---------------------------------------------------------------------------
// Unsolicited inbound ESP: an SPI nobody bound.  From an unknown address
// nothing is allocated; from a peer a host talks to, the SPI is checked
// against and noted in the peer's ring of 256 orphan SPIs.

void BM_UnknownSpiIn(benchmark::State& state) {
  const bool known_peer = state.range(0) != 0;
  struct mux_params p = roomy_params();
  Mux mx(&p);
  std::vector<Sa> sas = fill_esp_first(mx, 1000);
  if (sas.size() != 1000) {
    state.SkipWithError("could not bind the SAs");
    return;
  }
  struct mux_pkt q;
  std::memset(&q, 0, sizeof q);
  q.type = MUX_PKT_ESP;
  q.dir = MUX_DIR_IN;
  q.src = known_peer ? sas[0].peer : htonl(0xcb007101u);  // 203.0.113.1xx
  q.dst = ip("203.0.113.1");
  q.len = 100;
  uint32_t spi = 0x70000000u;
  for (auto _ : state) {
    q.spi = spi++;
    uint16_t zone;
    enum mux_verdict v = mux_classify(mx.m(), &q, mx.now, nullptr, nullptr, &zone);
    benchmark::DoNotOptimize(v);
  }
  if (mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN) < static_cast<uint64_t>(state.iterations())) state.SkipWithError("was bound");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(known_peer ? "known peer (orphan ring)" : "unknown address");
}
BENCHMARK(BM_UnknownSpiIn)->Arg(0)->Arg(1);

// ---------------------------------------------------------------------------
// Binding: one child SA through an IKE window, with N other SAs in the table.
// Each iteration is one rekey of one of 64 hosts' IKE SAs with peer R:
//   host -> R   CREATE_CHILD_SA request   (window opens, in flight)
//   R -> host   CREATE_CHILD_SA response  (installed)
//   R -> host   ESP on the new SPI        (bound; the old SA starts draining)
//   host -> R   ESP on the new SPI        (outbound SPI attached)
// Every 1,024 rekeys (16 per host) the clock moves 2 s and gc frees the
// drained SAs, not timed: gc walks every SA, which evicts the caches, so it
// runs rarely and the iterations are fixed (12 gc runs).  One untimed round
// first, so that the heap's pages are there.

void BM_BindIkeRekey(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  constexpr uint32_t kHosts = 64;
  struct mux_params p = roomy_params();
  Mux mx(&p);
  prefault(mx);
  // zones left for the 64 hosts that rekey
  if (fill_esp_first(mx, n, MUX_ZONE_COUNT_MAX - kHosts).size() != n) {
    state.SkipWithError("could not bind the background SAs");
    return;
  }
  const uint32_t R = htonl(0xc633ff01u);  // 198.51.255.1, not a background peer
  std::vector<uint32_t> msgid(kHosts, 1);
  for (uint32_t h = 0; h < kHosts; h++) {
    uint32_t H = htonl(0xc0a80000u + 10 + h);  // 192.168.0.x
    mx.ike_out(H, R, ike_hdr(2, IKEV2_EXCH_SA_INIT, 0xa000 + h, 0, 0, false));
    mx.ike_in(R, ike_hdr(2, IKEV2_EXCH_SA_INIT, 0xa000 + h, 0xb000 + h, 0, true));
    mx.ike_out(H, R, ike_hdr(2, IKEV2_EXCH_AUTH, 0xa000 + h, 0xb000 + h, 1, false));
    mx.ike_in(R, ike_hdr(2, IKEV2_EXCH_AUTH, 0xa000 + h, 0xb000 + h, 1, true));
    if (mx.esp_in(R, 0x30000000u + h).v != MUX_ZONE || mx.esp_out(H, R, 0x40000000u + h).v != MUX_ZONE) {
      state.SkipWithError("IKE_AUTH did not bind");
      return;
    }
  }
  constexpr uint32_t kRound = kHosts * 16;
  uint32_t spi = 0x50000000u, i = 0;
  auto rekey = [&] {
    uint32_t h = i % kHosts;
    uint32_t H = htonl(0xc0a80000u + 10 + h);
    uint32_t id = ++msgid[h];
    struct ike_info req = ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, 0xa000 + h, 0xb000 + h, id, false);
    struct ike_info resp = req;
    resp.response = true;
    mx.ike_out(H, R, req);
    mx.ike_in(R, resp);
    benchmark::DoNotOptimize(mx.esp_in(R, spi));
    benchmark::DoNotOptimize(mx.esp_out(H, R, spi + 1));
    spi += 2;
    return ++i % kRound == 0;
  };
  while (!rekey()) {
  }
  mx.advance(2000);
  const uint64_t binds_before = mx.counter(VPNPT_ESP_C_BIND_IKE);
  for (auto _ : state) {
    if (rekey()) {
      state.PauseTiming();
      mx.advance(2000);
      state.ResumeTiming();
    }
  }
  const uint64_t binds = mx.counter(VPNPT_ESP_C_BIND_IKE) - binds_before;
  if (binds != static_cast<uint64_t>(state.iterations())) state.SkipWithError("a rekey did not bind");
  state.SetItemsProcessed(static_cast<int64_t>(binds));
  state.counters["mappings"] = n;
  state.counters["ambiguous"] = static_cast<double>(mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS));
}
BENCHMARK(BM_BindIkeRekey)->Arg(10)->Arg(1000)->Arg(4096)->Arg(100000)->Arg(1000000)
    ->Iterations(64 * 200)->Unit(benchmark::kMicrosecond);

// N LAN hosts each open an IKE SA with one of 64 peers and bind their first
// child SA (IKE_SA_INIT, IKE_AUTH request/response, first ESP both ways):
// 2 mappings per host (the IKE SA and the ESP SA).  Time per host.

void BM_FillIke(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    struct mux_params p = roomy_params();
    auto* owned = new Mux(&p);
    Mux& mx = *owned;
    prefault(mx);
    state.ResumeTiming();
    for (uint32_t k = 0; k < n; k++) {
      uint32_t H = host_addr(k), R = peer_addr(k % kPeers);
      uint64_t ispi = 0x1000000000ull + k, rspi = 0x2000000000ull + k;
      mx.ike_out(H, R, ike_hdr(2, IKEV2_EXCH_SA_INIT, ispi, 0, 0, false));
      mx.ike_in(R, ike_hdr(2, IKEV2_EXCH_SA_INIT, ispi, rspi, 0, true));
      mx.ike_out(H, R, ike_hdr(2, IKEV2_EXCH_AUTH, ispi, rspi, 1, false));
      mx.ike_in(R, ike_hdr(2, IKEV2_EXCH_AUTH, ispi, rspi, 1, true));
      mx.esp_in(R, 0x30000000u + k);
      mx.esp_out(H, R, 0x40000000u + k);
    }
    state.PauseTiming();  // freeing the table is not part of it
    const bool ok = mx.counter(VPNPT_ESP_C_BIND_IKE) == n;
    delete owned;
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("a host did not bind");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["hosts"] = n;
}
BENCHMARK(BM_FillIke)->Arg(10)->Arg(1000)->Arg(8192)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// IKE header parsing (kmod/ike.c), per message.

void BM_IkeParse(benchmark::State& state) {
  uint8_t buf[64] = {};
  const uint64_t ispi = 0x0102030405060708ull, rspi = 0x1112131415161718ull;
  for (int i = 0; i < 8; i++) {
    buf[i] = static_cast<uint8_t>(ispi >> (56 - 8 * i));
    buf[8 + i] = static_cast<uint8_t>(rspi >> (56 - 8 * i));
  }
  const bool v1 = state.range(0) == 1;
  buf[16] = 46;                               // next payload: SK (v2) / anything
  buf[17] = v1 ? 0x10 : 0x20;                 // version
  buf[18] = v1 ? IKEV1_EXCH_QUICK_MODE : IKEV2_EXCH_CREATE_CHILD;
  buf[19] = v1 ? 0x01 : IKEV2_FLAG_INITIATOR; // v1: encrypted
  buf[23] = 7;                                // message ID 7
  buf[27] = 64;                               // length 64
  struct ike_info info;
  if (ike_parse(buf, sizeof buf, &info) != 0 || !info.child) {
    state.SkipWithError("test header did not parse");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf);
    int r = ike_parse(buf, sizeof buf, &info);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(info);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(v1 ? "IKEv1 Quick Mode" : "IKEv2 CREATE_CHILD_SA");
}
BENCHMARK(BM_IkeParse)->Arg(1)->Arg(2);

// ---------------------------------------------------------------------------
// Memory: what the table allocates for N ESP SAs, each on its own LAN host
// up to 8,192 (one SA + one (host, peer) pair + one host each, 64 peers
// shared; beyond, several SAs per pair), with max_mappings = N as an admin
// would set it: the objects, and the hash tables sized for N.  The fixed
// cost of one table (one per network namespace) is apart.  The timed part
// is filling the table by the no-IKE rule: per mapping, it shows whether
// filling is O(N).

size_t htab_bytes(Mux& mx) {
  size_t b = 0;
  for (int t = 0; t < MUX_T_NUM; t++)
    b += kmalloc_class(sizeof(struct hlist_head) * (mux_tab_buckets(mx.m(), static_cast<enum mux_tab>(t)) + 1));
  return b;
}

void BM_Memory(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  int64_t fixed_k = 0, per = 0, per_k = 0, tables = 0;
  for (auto _ : state) {
    state.PauseTiming();
    struct mux_params p = roomy_params();
    p.max_mappings = std::max<uint32_t>(n, 1);
    AllocStats before = g_alloc;
    auto* mx = new Mux(&p);
    tables = static_cast<int64_t>(htab_bytes(*mx));
    prefault(*mx);
    fixed_k = g_alloc.live_kmalloc - before.live_kmalloc - tables;
    int64_t b0 = g_alloc.live_bytes, k0 = g_alloc.live_kmalloc;
    state.ResumeTiming();
    size_t got = fill_esp_first(*mx, n).size();
    state.PauseTiming();
    per = g_alloc.live_bytes - b0;
    per_k = g_alloc.live_kmalloc - k0;
    delete mx;
    state.ResumeTiming();
    if (got != n) {
      state.SkipWithError("could not bind the SAs");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["mappings"] = n;
  state.counters["bytes_per_mapping"] = static_cast<double>(per) / n;
  state.counters["kmalloc_per_mapping"] = static_cast<double>(per_k) / n;
  state.counters["tables_per_mapping"] = static_cast<double>(tables) / n;
  state.counters["total_per_mapping"] = static_cast<double>(per_k + tables) / n;
  state.counters["fixed_kmalloc"] = static_cast<double>(fixed_k + static_cast<int64_t>(sizeof(struct mux)));
}
BENCHMARK(BM_Memory)->Arg(1000)->Arg(100000)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The fixed cost of a table that was never enabled (a network namespace the
// module is loaded in but that does not multiplex): small hash tables.
void BM_MemoryIdle(benchmark::State& state) {
  int64_t k = 0;
  for (auto _ : state) {
    struct mux_params p;
    mux_params_default(&p);
    AllocStats before = g_alloc;
    Mux mx(&p);
    k = g_alloc.live_kmalloc - before.live_kmalloc + static_cast<int64_t>(sizeof(struct mux));
  }
  state.counters["idle_netns_kmalloc"] = static_cast<double>(k);
}
BENCHMARK(BM_MemoryIdle)->Iterations(1);

// The size of each object kind, told apart by the order objects.c allocates
// them in (pair_get: pair, then a new peer with its orphan ring, then a new
// host): a first ESP SA allocates pair, peer, ring, host, SA; an IKE SA of a
// new host pair, host, IKE SA; a held packet of a new host pair, host, held.
void BM_ObjectSizes(benchmark::State& state) {
  std::map<std::string, double> size;
  for (auto _ : state) {
    struct mux_params p = roomy_params();
    p.hold_max = 4;
    Mux mx(&p);
    const uint32_t H1 = host_addr(1), H2 = host_addr(2), H3 = host_addr(3), R = peer_addr(1);
    g_alloc.sizes.clear();
    g_alloc.log = true;
    mx.esp_out(H1, R, 0x1000);  // pair, peer, orphan ring, host, sa
    std::vector<size_t> a = g_alloc.sizes;
    g_alloc.sizes.clear();
    mx.ike_out(H2, R, ike_hdr(2, IKEV2_EXCH_SA_INIT, 0x77, 0, 0, false));  // pair, host, ike
    std::vector<size_t> b = g_alloc.sizes;
    g_alloc.sizes.clear();
    int cookie = 0;
    mx.esp_out(H3, R, 0x3000, &cookie);  // H1 owns R's window: pair, host, held
    std::vector<size_t> c = g_alloc.sizes;
    g_alloc.log = false;
    if (a.size() != 5 || b.size() != 3 || c.size() != 3) {
      state.SkipWithError("allocation order changed: update BM_ObjectSizes");
      return;
    }
    size = {{"pair", a[0]}, {"peer", a[1]}, {"orphan_ring", a[2]}, {"host", a[3]}, {"esp_sa", a[4]},
            {"ike_sa", b[2]}, {"held", c[2]}};
    std::vector<void*> tmp;
    mx.take_released(tmp);
  }
  for (const auto& [name, bytes] : size) state.counters["sizeof_" + name] = bytes;
  state.counters["sizeof_mux"] = sizeof(struct mux);
}
BENCHMARK(BM_ObjectSizes)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
