// attack_test.cpp: what one LAN host (stray, stale or hostile) can do to the
// others through the vpnpt_esp tables, driven as the hooks drive them: held
// packets are re-injected when released, gc runs every simulated second.
// Each test is an attack of issue 9 and the property it must not break:
// another host still gets its tunnel within a bound of pending_timeout.
//
//   H1 192.168.1.11 (attacker) --+
//   H2 192.168.1.12 (victim)   --+-- router (WAN 203.0.113.1) --- R 198.51.100.7
#include <gtest/gtest.h>

#include <deque>
#include <iostream>
#include <random>

#include "harness.h"

using namespace kmodtest;

namespace {

const uint32_t H1 = ip("192.168.1.11"), H2 = ip("192.168.1.12"), H3 = ip("192.168.1.13");
const uint32_t R = ip("198.51.100.7");

struct ike_info sa_init(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_SA_INIT, ispi, 0, 0, false); }
struct ike_info auth_req(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_AUTH, ispi, 0x99, 1, false); }
struct ike_info auth_resp(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_AUTH, ispi, 0x99, 1, true); }
struct ike_info child_req(uint64_t ispi, uint32_t msgid) {
  return ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, ispi, 0x99, msgid, false);
}

// Packets as the hook sees them; a held one comes back when released.
class Driver {
 public:
  explicit Driver(const struct mux_params* p = nullptr) : mx(p) {}
  Mux mx;

  Result send(const struct mux_pkt& p) {
    pkts_.push_back(p);
    Result r = mx.run(pkts_.back(), &pkts_.back());
    if (r.v == MUX_HOLD) held_++;
    reinject();
    return r;
  }
  Result esp_out(uint32_t h, uint32_t r, uint32_t spi) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_ESP; p.dir = MUX_DIR_OUT; p.src = h; p.dst = r; p.spi = spi; p.len = 100;
    p.truesize = 768;
    return send(p);
  }
  Result esp_in(uint32_t r, uint32_t spi) { return mx.esp_in(r, spi); }
  Result ike_out(uint32_t h, uint32_t r, const struct ike_info& i) {
    struct mux_pkt p = {};
    p.type = MUX_PKT_IKE; p.dir = MUX_DIR_OUT; p.src = h; p.dst = r; p.ike = i; p.len = 300;
    p.truesize = 1280;
    return send(p);
  }
  Result ike_in(uint32_t r, const struct ike_info& i) { return mx.ike_in(r, i); }
  // Time passes in steps of at most 1 s (gc runs each step, as pernet.c's work).
  void advance(uint64_t ms) {
    while (ms) {
      uint64_t s = ms < 1000 ? ms : 1000;
      mx.advance(s);
      ms -= s;
      reinject();
    }
  }
  // Re-injected packets whose verdict was a zone (what the hook would do).
  std::vector<std::pair<struct mux_pkt, Result>> released;

 private:
  void reinject() {
    std::vector<void*> rel, exp;
    mx.take_expired(exp);
    for (int guard = 0; guard < 100; guard++) {
      rel.clear();
      mx.take_released(rel);
      if (rel.empty()) break;
      for (void* c : rel) {
        auto* p = static_cast<struct mux_pkt*>(c);
        Result r = mx.run(*p, p);
        released.emplace_back(*p, r);
      }
    }
  }
  std::deque<struct mux_pkt> pkts_;
  int held_ = 0;
};

// A manual-key tunnel of @h to R: the host sends on spi_out every 200 ms, the
// peer answers on spi_in each time the host's packet went out.  Returns the
// ms it took until the peer's packet landed in @h's zone, or -1.
int64_t manual_tunnel_until_bound(Driver& d, uint32_t h, uint32_t spi_out, uint32_t spi_in,
                                  uint64_t limit_ms, const std::function<void()>& attacker) {
  uint64_t t0 = d.mx.now;
  while (d.mx.now - t0 < limit_ms) {
    attacker();
    Result o = d.esp_out(h, R, spi_out);
    uint16_t zone = o.zone;
    for (auto& [p, r] : d.released)
      if (p.src == h && p.spi == spi_out && r.v == MUX_ZONE) { zone = r.zone; o = r; }
    d.released.clear();
    if (o.v == MUX_ZONE) {
      Result i = d.esp_in(R, spi_in);
      if (i.v == MUX_ZONE) {
        EXPECT_EQ(i.zone, zone) << "inbound put in another pair's zone";
        return int64_t(d.mx.now - t0);
      }
    }
    d.advance(200);
  }
  return -1;
}

}  // namespace

// A host whose SA the peer does not have keeps sending ESP on it (stale
// config, or hostile).  Before: its pending SA was refreshed by its own
// packets and never expired, and every bind at R was refused as ambiguous.
TEST(Attack, StrayHostEspDoesNotBlockAnotherHost) {
  Driver d;
  d.esp_out(H1, R, 0xdead0001);
  d.advance(2000);
  int64_t t = manual_tunnel_until_bound(d, H2, 0x1002, 0x2002, 60'000,
                                        [&] { d.esp_out(H1, R, 0xdead0001); });
  ASSERT_GE(t, 0) << "victim never bound; bind_ambiguous="
                  << d.mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS);
  EXPECT_LE(t, 3 * 5000) << "victim waited longer than 3 x pending_timeout";
  // A refused SPI stays refused while it flows (it may be the other host's):
  // the stray host must not make the victim's SPI ambiguous in the first place.
  EXPECT_EQ(d.mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS), 0u);
}

// Same with a stray host that sprays new SPIs: each would open a window.
TEST(Attack, StrayHostSprayingNewSpisDoesNotBlockAnotherHost) {
  Driver d;
  uint32_t spi = 0xdead0000;
  d.esp_out(H1, R, ++spi);
  d.advance(1000);
  int64_t t = manual_tunnel_until_bound(d, H2, 0x1002, 0x2002, 60'000,
                                        [&] { d.esp_out(H1, R, ++spi); });
  ASSERT_GE(t, 0) << "victim never bound";
  EXPECT_LE(t, 3 * 5000);
}

// A forged CREATE_CHILD_SA request with a new message ID every few seconds
// used to push the window's deadline forever (an exchange "in flight").
TEST(Attack, ForgedChildSaRequestsCannotKeepTheWindow) {
  Driver d;
  uint32_t msgid = 2;
  d.ike_out(H1, R, sa_init(0xa1));
  d.ike_out(H1, R, child_req(0xa1, msgid++));
  d.advance(1000);
  // the victim negotiates: IKE_SA_INIT, IKE_AUTH (may be held), response, ESP
  d.ike_out(H2, R, sa_init(0xb2));
  Result a = d.ike_out(H2, R, auth_req(0xb2));
  uint64_t t0 = d.mx.now;
  bool answered = a.v != MUX_HOLD;
  int64_t bound = -1;
  while (d.mx.now - t0 < 60'000 && bound < 0) {
    if (d.mx.now % 3000 < 200) d.ike_out(H1, R, child_req(0xa1, msgid++));
    for (auto& [p, r] : d.released)
      if (p.src == H2 && p.type == MUX_PKT_IKE && r.v != MUX_HOLD) answered = true;
    d.released.clear();
    if (answered) {
      d.ike_in(R, auth_resp(0xb2));
      bound = manual_tunnel_until_bound(d, H2, 0x1002, 0x2002, 200, [] {}) >= 0
                  ? int64_t(d.mx.now - t0) : -1;
      if (bound >= 0) break;
      continue;
    }
    d.advance(200);
  }
  ASSERT_GE(bound, 0) << "victim never bound; held=" << d.mx.counter(VPNPT_ESP_C_HELD)
                      << " hold_expired=" << d.mx.counter(VPNPT_ESP_C_HOLD_EXPIRED);
  EXPECT_LE(bound, 3 * 5000);
}

// Thousands of IKE_SA_INIT with random initiator SPIs from one host used to
// fill the peer's quota (max_per_peer counts IKE SAs) for everybody.
TEST(Attack, IkeSpiFloodFromOneHostLeavesRoomForOthers) {
  Driver d;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; i++) d.ike_out(H1, R, sa_init(rng() | 1));
  EXPECT_LE(d.mx.dump().size(), 16u) << "one host holds more IKE SAs than max_per_host";
  d.advance(1000);
  Result a = d.ike_out(H2, R, sa_init(0xb2));
  EXPECT_NE(a.v, MUX_DROP);
  Result b = d.ike_out(H2, R, auth_req(0xb2));
  ASSERT_NE(b.v, MUX_DROP) << "victim's IKE_AUTH dropped: quota_peer="
                           << d.mx.counter(VPNPT_ESP_C_QUOTA_PEER);
  d.ike_in(R, auth_resp(0xb2));
  EXPECT_GE(manual_tunnel_until_bound(d, H2, 0x1002, 0x2002, 15'000, [] {}), 0);
}

// ESP from one host to thousands of destinations used to take every zone
// (one per pair, 4096) and allocate a peer object for each before any check.
TEST(Attack, EspToManyDestinationsLeavesZonesForOthers) {
  Driver d;
  for (uint32_t i = 1; i <= 6000; i++) d.esp_out(H1, ip("10.200.0.0") + htonl(i), 0x5000 + i);
  EXPECT_LE(d.mx.counter(VPNPT_ESP_C_PAIRS), 16u) << "pairs of one host beyond max_per_host";
  EXPECT_LE(d.mx.counter(VPNPT_ESP_C_PEERS), 16u + 1) << "peers allocated before a quota check";
  int64_t t = manual_tunnel_until_bound(d, H2, 0x1002, 0x2002, 15'000, [] {});
  ASSERT_GE(t, 0) << "victim never bound; zones_full=" << d.mx.counter(VPNPT_ESP_C_ZONES_FULL);
}

// While H1 owns R's window, a third host filling the hold queue used to make
// the victim's own request drop (hold_full): the queue is shared per peer.
TEST(Attack, HeldPacketsOfOneHostDoNotCrowdOutAnother) {
  Driver d;
  d.esp_out(H1, R, 0x1001);  // H1 owns R's window (manual keys)
  for (uint32_t s = 0; s < 200; s++) d.esp_out(H3, R, 0x3000 + s);
  Result v = d.esp_out(H2, R, 0x1002);
  EXPECT_EQ(v.v, MUX_HOLD) << "victim dropped: hold_full=" << d.mx.counter(VPNPT_ESP_C_HOLD_FULL);
  EXPECT_LE(d.mx.counter(VPNPT_ESP_C_HELD_PACKETS), 16u);
}

// A zone taken for its conntrack flush used to be released into the new
// range when the range changed meanwhile: two pairs could share it.
TEST(Attack, ZoneRangeChangeDuringFlushCannotDoubleAZone) {
  Mux mx;
  mx.esp_out(H1, R, 0x1001);
  mx.advance(6000);  // H1's pending SA and pair expire: its zone is dirty
  uint16_t z[8];
  ASSERT_EQ(mux_zone_take_dirty(mx.m(), z, 8), 1u);
  struct mux_params p;
  mux_params_get(mx.m(), &p);
  p.zone_count = 2;
  EXPECT_NE(mux_params_set(mx.m(), &p), 0) << "zone range changed while a zone was being flushed";
  mux_zone_release(mx.m(), z[0]);
}

// Floods of every kind, from the LAN and from the WAN: the tables' memory
// stays under mux_mem_bound() (DESIGN.md states the figure), held packets'
// bytes under MUX_HELD_BYTES_MAX, and all of it comes back after a flush.
TEST(Attack, FloodsStayUnderTheMemoryBoundAndGoBackToZero) {
  Driver d;
  struct mux_params p;
  mux_params_get(d.mx.m(), &p);
  const uint64_t bound = mux_mem_bound(&p);
  std::mt19937_64 rng(11);
  uint64_t peak = 0;
  auto watch = [&] { peak = std::max(peak, d.mx.counter(VPNPT_ESP_C_MEM_BYTES)); };
  for (int round = 0; round < 20; round++) {
    // 300 LAN hosts: ESP and IKE to many destinations, new SPIs, IKE SPIs
    for (uint32_t h = 0; h < 300; h++) {
      uint32_t host = ip("10.1.0.0") + htonl(h + 1);
      uint32_t dst = ip("10.200.0.0") + htonl(uint32_t(rng() % 100000) + 1);
      d.esp_out(host, dst, uint32_t(rng()) | 0x100);
      d.esp_out(host, R, uint32_t(rng()) | 0x100);
      d.ike_out(host, dst, sa_init(rng() | 1));
      d.ike_out(host, R, child_req(rng() | 1, uint32_t(rng())));
    }
    // the WAN: unsolicited ESP, and random SPIs "from" a peer hosts use
    for (int i = 0; i < 2000; i++) {
      d.esp_in(ip("198.18.0.0") + htonl(uint32_t(rng() % 65536)), uint32_t(rng()) | 0x100);
      d.esp_in(R, uint32_t(rng()) | 0x100);
    }
    watch();
    d.advance(1000);
    watch();
  }
  std::cout << "tables peak " << peak << " bytes (" << d.mx.counter(VPNPT_ESP_C_PAIRS) << " pairs, "
            << d.mx.counter(VPNPT_ESP_C_PEERS) << " peers, " << d.mx.counter(VPNPT_ESP_C_HOSTS)
            << " hosts at the end); bound " << bound << " bytes\n";
  EXPECT_LE(peak, bound);
  EXPECT_GT(peak, 0u);
  mux_flush(d.mx.m(), d.mx.now);
  d.mx.advance(3'600'000);
  d.advance(1000);
  EXPECT_EQ(d.mx.counter(VPNPT_ESP_C_MEM_BYTES), 0u);
  EXPECT_EQ(d.mx.counter(VPNPT_ESP_C_HELD_BYTES), 0u);
  EXPECT_EQ(d.mx.counter(VPNPT_ESP_C_PEERS), 0u);
  EXPECT_EQ(d.mx.counter(VPNPT_ESP_C_HOSTS), 0u);
}

// The victim's window can open on its own packet, before gc has removed the
// stray host's pending SA: that SA must not make the victim's bind ambiguous
// (in the VM the victim's SPI was refused and then remembered as an orphan).
TEST(Attack, StrayPendingSaDoesNotRefuseTheNextWindowBeforeGc) {
  Driver d;
  d.esp_out(H1, R, 0xdead0001);  // stray: H1 owns R's window for 5 s
  EXPECT_EQ(d.esp_out(H2, R, 0x1002).v, MUX_HOLD);
  d.mx.now += 5000;              // the window ends; no gc has run yet
  // H2's next packet finds the window expired and takes it over at once
  Result o = d.esp_out(H2, R, 0x1002);
  for (auto& [p, r] : d.released)
    if (p.src == H2 && r.v == MUX_ZONE) o = r;
  ASSERT_EQ(o.v, MUX_ZONE);
  Result i = d.esp_in(R, 0x2002);
  EXPECT_EQ(i.v, MUX_ZONE) << "bind_ambiguous=" << d.mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS);
  EXPECT_EQ(i.zone, o.zone);
}
