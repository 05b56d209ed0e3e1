// table_test.cpp: one behaviour of the vpnpt_esp binding rules per test.
//
//   H1 192.168.1.11 --+                          +-- R  198.51.100.7
//                      >-- router (WAN 203.0.113.1)
//   H2 192.168.1.12 --+                          +-- R2 198.51.100.8
#include <gtest/gtest.h>

#include <set>

#include "harness.h"

using namespace kmodtest;

namespace {

const uint32_t H1 = ip("192.168.1.11"), H2 = ip("192.168.1.12"), H3 = ip("192.168.1.13");
const uint32_t R = ip("198.51.100.7"), R2 = ip("198.51.100.8");

// IKEv2 IKE_AUTH request from the host (initiator), msgid 1.
struct ike_info auth_req(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_AUTH, ispi, 0x99, 1, false); }
struct ike_info auth_resp(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_AUTH, ispi, 0x99, 1, true); }
struct ike_info sa_init(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_SA_INIT, ispi, 0, 0, false); }
struct ike_info child_req(uint64_t ispi, uint32_t msgid) {
  return ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, ispi, 0x99, msgid, false);
}

TEST(Esp, ManualKeysSingleHostBindsByFirstSpi) {
  Mux mx;
  Result o = mx.esp_out(H1, R, 0x1000);
  ASSERT_EQ(o.v, MUX_ZONE);
  Result i = mx.esp_in(R, 0x2000);
  ASSERT_EQ(i.v, MUX_ZONE);
  EXPECT_EQ(i.zone, o.zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_FALLBACK), 1u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_IKE), 0u);
  auto d = mx.dump();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].state, VPNPT_ESP_STATE_BOUND);
  EXPECT_EQ(d[0].reason, VPNPT_ESP_REASON_ESP_FIRST);
  EXPECT_EQ(d[0].spi_out, 0x1000u);
  EXPECT_EQ(d[0].spi_in, 0x2000u);
  EXPECT_EQ(d[0].pkts_out, 1u);
  EXPECT_EQ(d[0].pkts_in, 1u);
  // bound: further packets take the RCU path and stay in the zone
  EXPECT_EQ(mx.esp_in(R, 0x2000).zone, o.zone);
  EXPECT_EQ(mx.esp_out(H1, R, 0x1000).zone, o.zone);
}

TEST(Esp, UnsolicitedInboundNeverAllocates) {
  Mux mx;
  for (uint32_t s = 1; s <= 20000; s++) {
    Result r = mx.esp_in(ip("198.51.100.200") + (s << 24), s);
    ASSERT_EQ(r.v, MUX_PASS);
  }
  EXPECT_EQ(mx.sas(), 0u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN), 20000u);
  EXPECT_TRUE(mx.dump().empty());
  // a peer a host talks to, but no window open: still nothing allocated
  mx.esp_out(H1, R, 0x1000);
  mx.esp_in(R, 0x2000);  // binds (window open)
  uint32_t before = mx.sas();
  for (uint32_t s = 0x3000; s < 0x3100; s++) EXPECT_EQ(mx.esp_in(R, s).v, MUX_PASS);
  EXPECT_EQ(mx.sas(), before);
}

TEST(Esp, InboundKeyedByPeerAndSpiNotSpiAlone) {
  Mux mx;
  Result a = mx.esp_out(H1, R, 0x1000);
  mx.esp_in(R, 0x4242);
  mx.advance(6000);
  Result b = mx.esp_out(H2, R2, 0x1000);
  Result bi = mx.esp_in(R2, 0x4242);  // same SPI, other peer
  ASSERT_EQ(bi.v, MUX_ZONE);
  EXPECT_EQ(bi.zone, b.zone);
  EXPECT_NE(a.zone, b.zone);
  EXPECT_EQ(mx.esp_in(R, 0x4242).zone, a.zone);
}

// Two hosts negotiate with one peer at the same moment: the later is held
// until the earlier host's SA is bound, then released; no cross-delivery.
TEST(Ike, ConcurrentNegotiationsAreSerialised) {
  Mux mx;
  int c1 = 1, c2 = 2;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H2, R, sa_init(0xb2));
  EXPECT_EQ(mx.ike_out(H1, R, auth_req(0xa1), &c1).v, MUX_PASS);
  EXPECT_EQ(mx.ike_out(H2, R, auth_req(0xb2), &c2).v, MUX_HOLD);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HELD), 1u);
  EXPECT_EQ(mx.ike_in(R, auth_resp(0xa1)).v, MUX_PASS);
  // R's first ESP on H1's new SA binds to H1 and closes H1's window
  Result z1 = mx.esp_in(R, 0x5001);
  ASSERT_EQ(z1.v, MUX_ZONE);
  std::vector<void*> rel;
  mx.take_released(rel);
  ASSERT_EQ(rel.size(), 1u);
  EXPECT_EQ(rel[0], &c2);
  // re-injected: H2's request passes now, H2 owns the window
  EXPECT_EQ(mx.ike_out(H2, R, auth_req(0xb2), &c2).v, MUX_PASS);
  mx.ike_in(R, auth_resp(0xb2));
  Result z2 = mx.esp_in(R, 0x6002);
  ASSERT_EQ(z2.v, MUX_ZONE);
  EXPECT_NE(z1.zone, z2.zone);
  EXPECT_EQ(mx.esp_out(H1, R, 0x1001).zone, z1.zone);
  EXPECT_EQ(mx.esp_out(H2, R, 0x1002).zone, z2.zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_IKE), 2u);
  for (auto& v : mx.dump())
    if (v.kind == VPNPT_ESP_KIND_ESP) {
      EXPECT_EQ(v.state, VPNPT_ESP_STATE_BOUND);
      EXPECT_EQ(v.reason, VPNPT_ESP_REASON_IKE);
    }
}

// The feature-off case: without serialisation (H2's request let through)
// the same sequence would bind H2's SPI to H1.  Proves the test above can fail.
TEST(Ike, WithoutHoldTheSecondSpiWouldGoToTheFirstHost) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.ike_in(R, auth_resp(0xa1));
  Result h1 = mx.esp_out(H1, R, 0x1001);
  // R answered H2 too (H2's request was not seen): its SPI arrives first
  Result wrong = mx.esp_in(R, 0x6002);
  ASSERT_EQ(wrong.v, MUX_ZONE);
  EXPECT_EQ(wrong.zone, h1.zone) << "an unseen negotiation cannot be told apart";
}

TEST(Ike, WindowExpiryHandsOverToTheHeldHost) {
  Mux mx;
  int c2 = 2;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H2, R, sa_init(0xb2));
  mx.ike_out(H1, R, auth_req(0xa1));
  EXPECT_EQ(mx.ike_out(H2, R, auth_req(0xb2), &c2).v, MUX_HOLD);
  // an exchange in flight keeps the window 2 x pending_timeout (its cap)
  mx.advance(9999);
  std::vector<void*> rel;
  mx.take_released(rel);
  EXPECT_TRUE(rel.empty());
  mx.advance(1);  // H1's negotiation failed: its window expires
  mx.take_released(rel);
  ASSERT_EQ(rel.size(), 1u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_WINDOW_EXPIRED), 1u);
  EXPECT_EQ(mx.ike_out(H2, R, auth_req(0xb2), &c2).v, MUX_PASS);
  EXPECT_EQ(mx.esp_in(R, 0x6002).v, MUX_PASS) << "no answer yet: R cannot send on it";
  mx.ike_in(R, auth_resp(0xb2));
  Result in = mx.esp_in(R, 0x6003);
  EXPECT_EQ(in.zone, mx.esp_out(H2, R, 0x1002).zone);
}

TEST(Ike, HeldPacketsAreBoundedPerHostAndPerPeer) {
  struct mux_params p;
  mux_params_default(&p);
  p.hold_max = 4;  // a quarter of it, 1, per host
  Mux mx(&p);
  int c[8];
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  EXPECT_EQ(mx.esp_out(H2, R, 0x2, &c[0]).v, MUX_HOLD);
  EXPECT_EQ(mx.esp_out(H2, R, 0x2, &c[1]).v, MUX_DROP);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_QUOTA_HOST_HELD), 1u);
  for (uint32_t h = 3; h <= 5; h++)
    EXPECT_EQ(mx.esp_out(ip("192.168.1.10") + htonl(h), R, h, &c[h]).v, MUX_HOLD);
  EXPECT_EQ(mx.esp_out(ip("192.168.1.16"), R, 0x6, &c[6]).v, MUX_DROP);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HOLD_FULL), 1u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HELD_PACKETS), 4u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HELD_BYTES), 0u) << "the harness gives no truesize";
}

TEST(Ike, HeldPacketsExpire) {
  Mux mx;
  int c[10];
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  // eight hosts queue behind H1; each gets the window in turn (5 s each,
  // as nobody here answers); the last ones wait past 7 x pending_timeout
  for (uint32_t h = 2; h <= 9; h++)
    EXPECT_EQ(mx.esp_out(ip("192.168.1.20") + htonl(h), R, h, &c[h]).v, MUX_HOLD);
  std::vector<void*> rel, exp;
  for (int s = 0; s < 60; s++) {
    mx.advance(1000);
    mx.take_released(rel);
    mx.take_expired(exp);
  }
  EXPECT_GE(exp.size(), 1u);
  EXPECT_EQ(rel.size() + exp.size(), 8u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HOLD_EXPIRED), exp.size());
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_HELD_PACKETS), 0u);
}

TEST(Ike, PeerInitiatedChildSaOpensTheHostsWindow) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.ike_in(R, auth_resp(0xa1));
  Result z = mx.esp_in(R, 0x5001);
  mx.advance(10000);
  // R rekeys: CREATE_CHILD_SA request from R (R's own message IDs)
  EXPECT_EQ(mx.ike_in(R, child_req(0xa1, 0)).v, MUX_PASS);
  struct ike_info resp = child_req(0xa1, 0);
  resp.response = true;
  EXPECT_EQ(mx.ike_out(H1, R, resp).v, MUX_PASS);  // H1 answers: R installs
  EXPECT_EQ(mx.esp_in(R, 0x5002).zone, z.zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_IKE), 2u);
}

TEST(Ike, QuickModeIKEv1) {
  Mux mx;
  struct ike_info mm = ike_hdr(1, 2, 0xc1, 0, 0, false);
  mx.ike_out(H1, R, mm);
  struct ike_info qm = ike_hdr(1, IKEV1_EXCH_QUICK_MODE, 0xc1, 0xd1, 0x1234, false);
  int c2 = 2;
  mx.ike_out(H2, R, ike_hdr(1, 2, 0xc2, 0, 0, false));
  EXPECT_EQ(mx.ike_out(H1, R, qm).v, MUX_PASS);
  EXPECT_EQ(mx.ike_in(R, qm).v, MUX_PASS);   // QM 2: same message ID, not a new exchange
  EXPECT_EQ(mx.ike_out(H1, R, qm).v, MUX_PASS);  // QM 3
  EXPECT_EQ(mx.ike_out(H2, R, ike_hdr(1, 32, 0xc2, 0xd2, 0x777, false), &c2).v, MUX_HOLD);
  Result in = mx.esp_in(R, 0x9001);
  EXPECT_EQ(in.zone, mx.esp_out(H1, R, 0x11).zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_CHILD_EXCHANGES), 1u);
}

TEST(Ike, RekeyDrainsTheOldSa) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.ike_in(R, auth_resp(0xa1));
  mx.esp_out(H1, R, 0x1001);
  Result z = mx.esp_in(R, 0x5001);
  mx.advance(60000);
  mx.esp_in(R, 0x5001);
  mx.ike_out(H1, R, child_req(0xa1, 2));
  struct ike_info resp = child_req(0xa1, 2);
  resp.response = true;
  mx.ike_in(R, resp);
  mx.esp_out(H1, R, 0x1002);
  EXPECT_EQ(mx.esp_in(R, 0x5002).zone, z.zone);
  int draining = 0;
  for (auto& v : mx.dump())
    if (v.kind == VPNPT_ESP_KIND_ESP && v.state == VPNPT_ESP_STATE_DRAINING) {
      draining++;
      EXPECT_EQ(v.spi_in, 0x5001u);
    }
  EXPECT_EQ(draining, 1);
  EXPECT_EQ(mx.esp_in(R, 0x5001).zone, z.zone) << "old SA works while draining";
  mx.advance(30000);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_DRAINED), 1u);
  EXPECT_EQ(mx.esp_in(R, 0x5001).v, MUX_PASS) << "old SPI forgotten";
  EXPECT_EQ(mx.esp_in(R, 0x5002).zone, z.zone);
}

TEST(Ike, ParallelChildSaIsRevivedAfterDrain) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.ike_in(R, auth_resp(0xa1));
  Result z = mx.esp_in(R, 0x5001);
  mx.advance(10000);
  mx.ike_out(H1, R, child_req(0xa1, 2));
  struct ike_info resp = child_req(0xa1, 2);
  resp.response = true;
  mx.ike_in(R, resp);
  mx.esp_in(R, 0x5002);
  for (int i = 0; i < 30; i++) {
    mx.advance(1000);
    mx.esp_in(R, 0x5001);  // still in use: a second child SA, not a rekey
  }
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_DRAIN_REVIVED), 1u);
  EXPECT_EQ(mx.esp_in(R, 0x5001).zone, z.zone);
}

TEST(Lifecycle, PendingAndIdleExpire) {
  Mux mx;
  mx.esp_out(H1, R, 0x1001);  // the peer never answers
  EXPECT_EQ(mx.sas(), 1u);
  mx.advance(5000);
  EXPECT_EQ(mx.sas(), 0u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_EXPIRED_PENDING), 1u);
  mx.esp_out(H1, R, 0x1002);
  mx.esp_in(R, 0x5002);
  mx.advance(599000);
  EXPECT_EQ(mx.sas(), 1u);
  mx.advance(1000);
  EXPECT_EQ(mx.sas(), 0u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_EXPIRED_IDLE), 1u);
  EXPECT_EQ(mx.esp_in(R, 0x5002).v, MUX_PASS);
}

// gc takes its clock once, then walks the table under the lock while the
// packet path, lockless, stamps last_seen with a later clock: a timestamp
// newer than gc's "now" is a fresh SA, not one idle for 2^64 ms (the in-VM
// bench lost 24 of 100,000 busy SAs to "expired_idle" that way).
TEST(Lifecycle, SaSeenAfterGcReadItsClockIsNotIdle) {
  Mux mx;
  mx.esp_out(H1, R, 0x1001);
  mx.esp_in(R, 0x5001);
  const uint64_t gc_clock = mx.now;
  mx.now += 1;                      // another CPU, a millisecond later
  mx.esp_out(H1, R, 0x1001);
  mx.esp_in(R, 0x5001);
  mux_gc(mx.m(), gc_clock);
  EXPECT_EQ(mx.sas(), 1u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_EXPIRED_IDLE), 0u);
  EXPECT_EQ(mx.esp_in(R, 0x5001).v, MUX_ZONE);
}

TEST(Lifecycle, FreedZonesAreFlushedThenReusedLast) {
  struct mux_params p;
  mux_params_default(&p);
  p.zone_count = 2;
  Mux mx(&p);
  uint16_t a = mx.esp_out(H1, R, 1).zone;
  mx.advance(6000);  // pending expired, pair idle: freed
  mx.advance(6000);
  EXPECT_EQ(mx.esp_out(H2, R, 2).zone, a + 1) << "a freed zone is not reused before its flush";
  mx.advance(6000);
  mx.advance(6000);
  EXPECT_EQ(mx.esp_out(H3, R, 3).v, MUX_DROP) << "both zones dirty";
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_ZONES_FULL), 1u);
  auto flushed = mx.recycle_zones();
  EXPECT_EQ(flushed.size(), 2u);
  EXPECT_EQ(mx.esp_out(H3, R, 3).v, MUX_ZONE);
}

TEST(Quota, PerHostPerPeerAndTable) {
  struct mux_params p;
  mux_params_default(&p);
  p.max_per_host = 2;
  p.max_per_peer = 3;
  p.max_mappings = 4;
  Mux mx(&p);
  // H1: two SAs with R (each bound before the next one starts)
  mx.esp_out(H1, R, 1); mx.esp_in(R, 101);
  mx.esp_out(H1, R, 2); mx.esp_in(R, 102);
  EXPECT_EQ(mx.esp_out(H1, R, 3).v, MUX_DROP);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_QUOTA_HOST), 1u);
  mx.esp_out(H2, R, 4); mx.esp_in(R, 104);
  EXPECT_EQ(mx.esp_out(H3, R, 5).v, MUX_DROP);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_QUOTA_PEER), 1u);
  mx.esp_out(H3, R2, 6); mx.esp_in(R2, 106);
  EXPECT_EQ(mx.esp_out(H3, R2, 7).v, MUX_DROP);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_TABLE_FULL), 1u);
  EXPECT_EQ(mx.sas(), 4u);
  // bound SAs keep working at the limit
  EXPECT_EQ(mx.esp_in(R, 104).v, MUX_ZONE);
}

TEST(Esp, RouterOwnSaIsNeverBound) {
  Mux mx;
  mx.local_spis.insert({ip("203.0.113.1"), 0x7777});
  mx.esp_out(H1, R, 0x1001);  // H1's window is open
  EXPECT_EQ(mx.esp_in(R, 0x7777).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_LOCAL_SKIP), 1u);
  EXPECT_EQ(mx.esp_in(R, 0x5001).v, MUX_ZONE);
}

TEST(Esp, SecondHostsFirstEspIsHeldWithManualKeys) {
  Mux mx;
  int c = 7;
  Result a = mx.esp_out(H1, R, 0x1001);
  EXPECT_EQ(mx.esp_out(H2, R, 0x1002, &c).v, MUX_HOLD);
  mx.esp_in(R, 0x5001);  // H1 bound, window passes to H2
  std::vector<void*> rel;
  mx.take_released(rel);
  ASSERT_EQ(rel.size(), 1u);
  Result b = mx.esp_out(H2, R, 0x1002, &c);
  ASSERT_EQ(b.v, MUX_ZONE);
  EXPECT_EQ(mx.esp_in(R, 0x5002).zone, b.zone);
  EXPECT_NE(a.zone, b.zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_FALLBACK), 2u);
}

TEST(Esp, OutboundSpiCollisionStaysWithTheFirstHost) {
  Mux mx;
  Result a = mx.esp_out(H1, R, 0x1001);
  mx.esp_in(R, 0x5001);
  Result b = mx.esp_out(H2, R, 0x1001);
  EXPECT_EQ(b.v, MUX_ZONE);
  EXPECT_NE(a.zone, b.zone);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_COLLISION_OUT), 1u);
}

TEST(Icmp, ErrorsQuotingEspGoToTheRightHost) {
  Mux mx;
  Result a = mx.esp_out(H1, R, 0x1001);
  mx.esp_in(R, 0x5001);
  mx.advance(6000);
  Result b = mx.esp_out(H2, R, 0x1002);
  mx.esp_in(R, 0x5002);
  const uint32_t wan = ip("203.0.113.1"), hop = ip("198.51.100.1");
  Result e1 = mx.icmp(MUX_DIR_IN, hop, wan, R, 0x1001);
  Result e2 = mx.icmp(MUX_DIR_IN, hop, wan, R, 0x1002);
  EXPECT_EQ(e1.zone, a.zone);
  EXPECT_EQ(e2.zone, b.zone);
  EXPECT_EQ(mx.icmp(MUX_DIR_OUT, H2, R, H2, 0x5002).zone, b.zone);
  EXPECT_EQ(mx.icmp(MUX_DIR_OUT, H1, R, H1, 0x5002).v, MUX_PASS) << "H1 quoting H2's SA";
  EXPECT_EQ(mx.icmp(MUX_DIR_IN, hop, wan, R, 0x9999).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_ICMP_MAPPED), 3u);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_ICMP_UNKNOWN), 2u);
}

TEST(IkePort, KeepPort500RoutesRepliesByIkeSpi) {
  struct mux_params p;
  mux_params_default(&p);
  p.keep_ike_port = true;
  Mux mx(&p);
  Result o1 = mx.ike_out(H1, R, sa_init(0x1111111122222222ULL));
  Result o2 = mx.ike_out(H2, R, sa_init(0x1111111133333333ULL));  // same low 32 bits? no: differ in low
  ASSERT_EQ(o1.v, MUX_ZONE);
  ASSERT_EQ(o2.v, MUX_ZONE);
  EXPECT_NE(o1.zone, o2.zone);
  struct ike_info r1 = ike_hdr(2, IKEV2_EXCH_SA_INIT, 0x1111111122222222ULL, 0xabc, 0, true);
  struct ike_info r2 = ike_hdr(2, IKEV2_EXCH_SA_INIT, 0x1111111133333333ULL, 0xdef, 0, true);
  EXPECT_EQ(mx.ike_in(R, r1).zone, o1.zone);
  EXPECT_EQ(mx.ike_in(R, r2).zone, o2.zone);
  // 64-bit key: SPIs that share their low or high half stay apart
  Result o3 = mx.ike_out(H3, R, sa_init(0x2222222222222222ULL));
  struct ike_info r3 = ike_hdr(2, IKEV2_EXCH_SA_INIT, 0x2222222222222222ULL, 1, 0, true);
  EXPECT_EQ(mx.ike_in(R, r3).zone, o3.zone);
  // an IKE SA nobody started, with three hosts talking to R: not attributable
  struct ike_info unk = ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, 0x4444, 0x5555, 0, false);
  EXPECT_EQ(mx.ike_in(R, unk).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_UNKNOWN), 1u);
}

TEST(IkePort, UnknownIkeSaFromPeerIsNeverGuessed) {
  struct mux_params p;
  mux_params_default(&p);
  p.keep_ike_port = true;
  Mux mx(&p);
  mx.ike_out(H1, R, sa_init(0xa1));  // H1 alone talks IKE to R
  struct ike_info n = ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, 0xfeed, 0xa1, 0, false);
  EXPECT_EQ(mx.ike_in(R, n).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_UNKNOWN), 1u);
  // R negotiates a child SA with someone: no unknown SPI of R is bound now
  mx.esp_out(H1, R, 0x1001);
  EXPECT_EQ(mx.esp_in(R, 0x5001).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS), 1u);
}

TEST(IkePort, OffLeavesIkeToPlainNat) {
  Mux mx;
  EXPECT_EQ(mx.ike_out(H1, R, sa_init(0xa1)).v, MUX_PASS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_OUT), 1u);
}

TEST(IkePort, IkeCollisionIsCounted) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H2, R, sa_init(0xa1));
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_COLLISION), 1u);
}

TEST(Control, FlushAndParams) {
  Mux mx;
  mx.esp_out(H1, R, 1);
  mx.esp_in(R, 2);
  mx.ike_out(H1, R, sa_init(0xa1));
  EXPECT_EQ(mx.dump().size(), 2u);
  mux_flush(mx.m(), mx.now);
  EXPECT_TRUE(mx.dump().empty());
  EXPECT_EQ(mx.recycle_zones().size(), 1u) << "the pair's zone waits for its conntrack flush";
  EXPECT_EQ(mx.esp_in(R, 2).v, MUX_PASS);
  struct mux_params p;
  mux_params_get(mx.m(), &p);
  p.idle_timeout = 0;
  EXPECT_EQ(mux_params_set(mx.m(), &p), -EINVAL) << "idle below pending";
  p.idle_timeout = 60;
  p.zone_base = 100;
  EXPECT_EQ(mux_params_set(mx.m(), &p), 0) << "zones unused after flush";
  EXPECT_EQ(mx.esp_out(H1, R, 1).zone, 100);
  p.zone_base = 200;
  EXPECT_EQ(mux_params_set(mx.m(), &p), -EBUSY) << "zone range busy";
}

// A dump in many messages resumes where the last one ended (the position
// in the tables, not an index walked to from the head): every mapping is
// taken exactly once, however small the messages, and a change between two
// messages shows in the generation.
TEST(Control, DumpResumesWhereTheLastMessageEnded) {
  Mux mx;
  std::set<std::pair<uint32_t, uint32_t>> want;
  for (uint32_t i = 0; i < 10; i++) {
    mx.esp_out(H1 + (i << 24), R, 100 + i);
    mx.advance(6000);  // pending expiry: none bound, so re-create
  }
  // 300 pending SAs: 20 hosts (max_per_host is 16), each to a peer of its own
  for (uint32_t h = 0; h < 20; h++)
    for (uint32_t spi = 1; spi <= 15; spi++) {
      mx.esp_out(H1 + (h << 24), R + (h << 24), h * 100 + spi);
      want.insert({H1 + (h << 24), h * 100 + spi});
    }
  struct Batch {
    std::vector<struct mux_view> got;
    size_t limit;  // a message full: the mapping is refused, taken next time
  };
  for (size_t room : {1, 7, 1000}) {
    struct mux_dump_pos pos = {};
    Batch b{{}, 0};
    u32 gen0 = 0, gen = 0, calls = 0;
    while (pos.phase != MUX_DUMP_DONE) {
      size_t before = b.got.size();
      b.limit = before + room;
      u32 taken = mux_dump(mx.m(), &pos, mx.now, [](void* ctx, const struct mux_view* v) {
        auto* bb = static_cast<Batch*>(ctx);
        if (bb->got.size() == bb->limit) return 1;
        bb->got.push_back(*v);
        return 0;
      }, &b, &gen);
      if (!calls++) gen0 = gen;
      EXPECT_EQ(gen, gen0);
      EXPECT_EQ(taken, b.got.size() - before);
      EXPECT_LE(taken, room);
      ASSERT_LT(calls, 1000u);
    }
    std::set<std::pair<uint32_t, uint32_t>> have;
    for (auto& v : b.got)
      EXPECT_TRUE(have.insert({v.host, v.spi_out}).second) << "taken twice: " << v.spi_out;
    EXPECT_EQ(have, want) << "room " << room;
  }
  // a new mapping between two messages bumps the generation
  struct mux_dump_pos pos = {};
  u32 g1 = 0, g2 = 0;
  mux_dump(mx.m(), &pos, mx.now, [](void*, const struct mux_view*) { return 1; }, nullptr, &g1);
  mx.esp_out(H1, R, 1000);
  mux_dump(mx.m(), &pos, mx.now, [](void*, const struct mux_view*) { return 1; }, nullptr, &g2);
  EXPECT_NE(g1, g2);
}

}  // namespace

namespace {
// Manual keys resuming after idle_timeout: the mapping went, the SPIs did
// not; they bind again (an idle-expired SA leaves no tombstone).
TEST(Lifecycle, ManualKeysResumeAfterIdleExpiry) {
  struct mux_params p;
  mux_params_default(&p);
  p.idle_timeout = 10;
  Mux mx(&p);
  const uint32_t H = ip("192.168.1.11"), P = ip("198.51.100.7");
  Result o = mx.esp_out(H, P, 0x1001);
  ASSERT_EQ(mx.esp_in(P, 0x2001).zone, o.zone);
  mx.advance(11000);
  mx.advance(1000);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_EXPIRED_IDLE), 1u);
  Result o2 = mx.esp_out(H, P, 0x1001);
  ASSERT_EQ(o2.v, MUX_ZONE);
  Result i2 = mx.esp_in(P, 0x2001);
  EXPECT_EQ(i2.v, MUX_ZONE) << "bind_ambiguous=" << mx.counter(VPNPT_ESP_C_BIND_AMBIGUOUS);
  EXPECT_EQ(i2.zone, o2.zone);
}
}  // namespace

// pending_timeout lowered while H1's exchange is in flight: H1's window ends
// at the cap the new value gives, so R's answer that comes after it is late
// (another host may own the window by then) and R's SPIs are not bound to
// the host that is next (fuzz_mux found H1's SPI in H2's zone).
TEST(Ike, LoweredPendingTimeoutEndsOpenWindowsAtTheNewCap) {
  Mux mx;
  int c2 = 2;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));  // window: cap 2 x 5 s
  EXPECT_EQ(mx.esp_out(H2, R, 0x1002, &c2).v, MUX_HOLD);
  struct mux_params p;
  mux_params_get(mx.m(), &p);
  p.pending_timeout = 1;              // cap now 2 s from the opening
  ASSERT_EQ(mux_params_set(mx.m(), &p), 0);
  mx.now += 2500;                     // no gc ran yet
  mx.ike_in(R, auth_resp(0xa1));      // R installs H1's SA after the cap
  Result in = mx.esp_in(R, 0x6001);   // H1's SA
  Result h2 = mx.esp_out(H2, R, 0x1002);
  EXPECT_FALSE(in.v == MUX_ZONE && in.zone == h2.zone) << "H1's SPI bound to H2";
  EXPECT_GE(mx.counter(VPNPT_ESP_C_WINDOW_CAPPED), 1u);
}

// A pending SA outlives its window until gc.  Its host's next packet on it
// asks for a window again, as a new SPI would: it used to pass on the fast
// path while another host owned the window, and R's answer to it was then
// bound to that other host (fuzz_mux: a manual SA re-created with an old
// outbound SPI; the answer landed in a LAN attacker's zone).
TEST(Esp, PendingSaPastItsWindowAsksForANewOne) {
  Mux mx;
  int c1 = 1;
  Result h1 = mx.esp_out(H1, R, 0x1001);        // H1's window, pending
  ASSERT_EQ(h1.v, MUX_ZONE);
  mx.now += 5000;                               // over; no gc ran yet
  Result h2 = mx.esp_out(H2, R, 0x1002);        // H2's window now
  ASSERT_EQ(h2.v, MUX_ZONE);
  Result again = mx.esp_out(H1, R, 0x1001, &c1);
  EXPECT_EQ(again.v, MUX_HOLD) << "H1's stale pending SA went out in H2's window";
  if (again.v != MUX_HOLD) {
    Result in = mx.esp_in(R, 0x6001);           // R answers H1
    EXPECT_FALSE(in.v == MUX_ZONE && in.zone == h2.zone) << "H1's SPI bound to H2";
  }
  Result in2 = mx.esp_in(R, 0x6002);            // R answers H2
  EXPECT_EQ(in2.zone, h2.zone);
}

// An SA idle for idle_timeout is gone at both ends, also before gc has
// removed it: a manual SA re-created with its outbound SPI (and a new
// inbound one) needs a window, or R's new SPI is bound to whoever owns the
// window then (fuzz_mux: H1's answer in H3's zone).
TEST(Esp, IdleSaNotYetCollectedIsGoneForItsOutboundSpi) {
  Mux mx;
  int c1 = 1;
  struct mux_params p;
  mux_params_get(mx.m(), &p);
  Result h1 = mx.esp_out(H1, R, 0x1001);
  ASSERT_EQ(mx.esp_in(R, 0x6001).zone, h1.zone);
  mx.now += uint64_t(p.idle_timeout) * 1000;  // gone; no gc ran yet
  Result h2 = mx.esp_out(H2, R, 0x1002);       // H2's window
  ASSERT_EQ(h2.v, MUX_ZONE);
  Result again = mx.esp_out(H1, R, 0x1001, &c1);
  if (again.v == MUX_ZONE) {                    // before: it went out at once
    Result in = mx.esp_in(R, 0x6009);          // and R answered it
    EXPECT_FALSE(in.v == MUX_ZONE && in.zone == h2.zone) << "H1's SPI bound to H2";
  }
  ASSERT_EQ(again.v, MUX_HOLD) << "H1's new SA went out in H2's window";
  EXPECT_EQ(mx.esp_in(R, 0x6002).zone, h2.zone);  // H2's window closes
  std::vector<void*> rel;
  mx.take_released(rel);
  ASSERT_EQ(rel.size(), 1u);
  Result h1new = mx.esp_out(H1, R, 0x1001, &c1);  // re-injected: H1's window
  ASSERT_EQ(h1new.v, MUX_ZONE);
  EXPECT_EQ(mx.esp_in(R, 0x6009).zone, h1new.zone);
}

// FLUSH forgets the IKE SAs and windows, so an exchange in flight is
// finished blind: R's first packets on that SA must be remembered (orphans)
// and never bound to a later window of another host.  Before, the flush
// also freed the peer, so R's packet was unsolicited, remembered nowhere,
// and bound to the next owner (fuzz_mux: H0's SA in a LAN attacker's zone).
TEST(Control, FlushLeavesAnExchangeInFlightUnbound) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mux_flush(mx.m(), mx.now);
  mx.advance(1000);
  mx.ike_in(R, auth_resp(0xa1));   // R installs H1's SA
  mx.esp_in(R, 0x6001);            // and sends on it
  mx.esp_out(H1, R, 0x1001);       // H1 sends; the table takes it for a new SA
  mx.advance(11'000);              // no answer in H1's window: it ends
  Result h2 = mx.esp_out(H2, R, 0x1002);
  ASSERT_EQ(h2.v, MUX_ZONE);
  Result in = mx.esp_in(R, 0x6001);
  EXPECT_FALSE(in.v == MUX_ZONE && in.zone == h2.zone) << "H1's SA bound to H2";
}

// R answers H1's exchange after H1's window ended and nobody owns R's
// window yet: the next window, whoever opens it, must not take R's first
// packets on H1's new SA.  Before, the late answer raised contention only
// while another host owned the window.
TEST(Ike, LateAnswerWithNoWindowOwnerContendsThePeer) {
  Mux mx;
  mx.ike_out(H1, R, sa_init(0xa1));
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.advance(10'000);                       // H1's window ends at its cap
  mx.ike_in(R, auth_resp(0xa1));            // late: R installs H1's SA
  Result h2 = mx.esp_out(H2, R, 0x1002);    // H2's window opens
  ASSERT_EQ(h2.v, MUX_ZONE);
  Result in = mx.esp_in(R, 0x6001);         // R on H1's SA
  EXPECT_FALSE(in.v == MUX_ZONE && in.zone == h2.zone) << "H1's SA bound to H2";
}

// Manual keys: the host speaks first.  When R's window passes to a held
// host, its packet is released but not yet back through the hook; an
// unknown SPI from R in that moment is not that host's new SA (R has not
// seen its packet) and must not be bound to it.  Before, it was, the
// host's packet then attached to that SPI without a window, and R's real
// answer to it was lost or bound in the next window, another host's
// (fuzz_mux: blind-period-cascade).
TEST(Esp, EspFirstWindowBindsOnlyAfterItsHostsPacket) {
  Mux mx;
  int c2 = 2;
  mx.esp_out(H1, R, 0x1001);                                // H1's window
  EXPECT_EQ(mx.esp_out(H2, R, 0x1002, &c2).v, MUX_HOLD);
  EXPECT_EQ(mx.esp_in(R, 0x6001).v, MUX_ZONE);               // H1 bound: H2's turn
  std::vector<void*> rel;
  mx.take_released(rel);
  ASSERT_EQ(rel.size(), 1u);                                 // H2's packet on its way
  EXPECT_EQ(mx.esp_in(R, 0x7777).v, MUX_PASS) << "a stray SPI bound to H2";
  Result h2 = mx.esp_out(H2, R, 0x1002, &c2);                // re-injected
  ASSERT_EQ(h2.v, MUX_ZONE);
  Result in = mx.esp_in(R, 0x6002);                          // R answers H2
  EXPECT_EQ(in.v, MUX_ZONE);
  EXPECT_EQ(in.zone, h2.zone);
}

// The hash tables are small until the module is enabled, then sized from
// max_mappings and zone_count, with the mappings that exist moved over
// (remove keeps them, apply enables again): every SA still answers on the
// fast path, and binds go on in the new tables, also when they shrink.
TEST(Tables, SizedAtEnableWithLiveMappingsMoved) {
  Mux mx;  // defaults: not enabled
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IN), (1u << MUX_HTAB_MIN_BITS) - 1);
  const uint32_t n = 600;  // > the small table's buckets: chains, then not
  auto host = [](uint32_t k) { return htonl(0x0a000000u + 1 + k); };
  auto peer = [](uint32_t k) { return htonl(0xc6336400u + 10 + k % 8); };  // max_per_peer
  std::vector<uint16_t> zone(n);
  for (uint32_t k = 0; k < n; k++) {
    Result o = mx.esp_out(host(k), peer(k), 0x100000 + k);
    Result i = mx.esp_in(peer(k), 0x200000 + k);
    ASSERT_EQ(i.v, MUX_ZONE);
    ASSERT_EQ(i.zone, o.zone);
    zone[k] = o.zone;
  }
  auto all_fast = [&](const char* when) {
    uint64_t slow = mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN) + mx.counter(VPNPT_ESP_C_ESP_OUT_NEW_SPI);
    for (uint32_t k = 0; k < n; k++) {
      ASSERT_EQ(mx.esp_out(host(k), peer(k), 0x100000 + k).zone, zone[k]) << when;
      ASSERT_EQ(mx.esp_in(peer(k), 0x200000 + k).zone, zone[k]) << when;
      ASSERT_EQ(mx.icmp(MUX_DIR_IN, ip("192.0.2.1"), ip("203.0.113.1"), peer(k), 0x100000 + k).zone, zone[k]) << when;
    }
    EXPECT_EQ(mx.counter(VPNPT_ESP_C_ESP_IN_UNKNOWN) + mx.counter(VPNPT_ESP_C_ESP_OUT_NEW_SPI), slow) << when;
  };
  struct mux_params p;
  mux_params_get(mx.m(), &p);
  p.max_mappings = 1u << 16;
  p.zone_count = MUX_ZONE_COUNT_MAX;
  ASSERT_EQ(mux_params_set(mx.m(), &p), -EBUSY) << "zones in use";
  mux_params_get(mx.m(), &p);
  p.max_mappings = 1u << 16;
  ASSERT_EQ(mux_params_set(mx.m(), &p), 0);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IN), (1u << MUX_HTAB_MIN_BITS) - 1) << "not enabled: kept";
  p.enabled = true;
  ASSERT_EQ(mux_params_set(mx.m(), &p), 0);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IN), (1u << 16) - 1);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_OUT), (1u << 16) - 1);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IKE), (1u << 15) - 1);
  all_fast("grown");
  // new pairs and IKE SAs find their way in the new tables
  EXPECT_EQ(mx.ike_out(H1, R, sa_init(0xa1)).v, MUX_PASS);
  mx.ike_out(H1, R, auth_req(0xa1));
  mx.ike_in(R, auth_resp(0xa1));
  Result i1 = mx.esp_in(R, 0x7001), o1 = mx.esp_out(H1, R, 0x7002);
  EXPECT_EQ(i1.v, MUX_ZONE);
  EXPECT_EQ(i1.zone, o1.zone);
  p.enabled = false;  // remove: tables and mappings kept
  ASSERT_EQ(mux_params_set(mx.m(), &p), 0);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IN), (1u << 16) - 1);
  p.enabled = true;
  p.max_mappings = 700;
  ASSERT_EQ(mux_params_set(mx.m(), &p), 0);
  EXPECT_EQ(mux_tab_buckets(mx.m(), MUX_T_IN), 1023u);
  all_fast("shrunk");
  EXPECT_EQ(mx.esp_in(R, 0x7001).zone, i1.zone);
  EXPECT_EQ(mx.esp_out(H1, R, 0x7002).zone, i1.zone);
  EXPECT_EQ(mx.dump().size(), n + 2);
}
