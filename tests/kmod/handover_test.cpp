// handover_test.cpp: ADD_MAPPING / DEL_MAPPING (kmod/handover.c), the
// planned switchover of a router pair: router A's dumped mappings created on
// router B make B deliver as A did, through every limit a packet meets.
//
//   H1 192.168.1.11 --+                          +-- R  198.51.100.7
//                      >-- router A / B (WAN 203.0.113.1)
//   H2 192.168.1.12 --+                          +-- R2 198.51.100.8
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "harness.h"

using namespace kmodtest;

namespace {

const uint32_t H1 = ip("192.168.1.11"), H2 = ip("192.168.1.12"), H3 = ip("192.168.1.13");
const uint32_t R = ip("198.51.100.7"), R2 = ip("198.51.100.8");

struct ike_info sa_init(uint64_t ispi) { return ike_hdr(2, IKEV2_EXCH_SA_INIT, ispi, 0, 0, false); }
struct ike_info auth(uint64_t ispi, bool resp) { return ike_hdr(2, IKEV2_EXCH_AUTH, ispi, 0x99, 1, resp); }
struct ike_info child(uint64_t ispi, uint32_t msgid, bool resp) {
  return ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, ispi, 0x99, msgid, resp);
}

struct mux_mapping esp(uint32_t host, uint32_t peer, uint16_t zone, uint32_t out, uint32_t in,
                       uint8_t state = VPNPT_ESP_STATE_BOUND) {
  struct mux_mapping mp = {};
  mp.kind = VPNPT_ESP_KIND_ESP;
  mp.host = host;
  mp.peer = peer;
  mp.zone = zone;
  mp.spi_out = out;
  mp.spi_in = in;
  mp.state = state;
  return mp;
}

struct mux_mapping ike(uint32_t host, uint32_t peer, uint16_t zone, uint64_t ispi, uint64_t rspi) {
  struct mux_mapping mp = {};
  mp.kind = VPNPT_ESP_KIND_IKE;
  mp.host = host;
  mp.peer = peer;
  mp.zone = zone;
  mp.ispi = ispi;
  mp.rspi = rspi;
  mp.ike_version = 2;
  return mp;
}

// What the netlink command returns: -errno and the extack message.
struct Err {
  int err;
  std::string why;
};
Err add(Mux& mx, const struct mux_mapping& mp) {
  const char* why = nullptr;
  int e = mux_mapping_add(mx.m(), &mp, mx.now, &why);
  return {e, why ? why : ""};
}
Err del(Mux& mx, const struct mux_mapping& mp) {
  const char* why = nullptr;
  int e = mux_mapping_del(mx.m(), &mp, mx.now, &why);
  return {e, why ? why : ""};
}

// Router A: H1 and H2 each run an IKEv2 SA with R and one child SA
// (H1: out 0x1001 / in 0x5001, H2: out 0x1002 / in 0x6002), serialised
// by R's window as on a live router.
struct RouterA {
  Mux mx;
  uint16_t z1 = 0, z2 = 0;
  RouterA() {
    int c2 = 2;
    mx.ike_out(H1, R, sa_init(0xa1));
    mx.ike_out(H2, R, sa_init(0xb2));
    mx.ike_out(H1, R, auth(0xa1, false));
    EXPECT_EQ(mx.ike_out(H2, R, auth(0xb2, false), &c2).v, MUX_HOLD);
    mx.ike_in(R, auth(0xa1, true));
    z1 = mx.esp_in(R, 0x5001).zone;
    std::vector<void*> rel;
    mx.take_released(rel);
    EXPECT_EQ(rel.size(), 1u);
    mx.ike_out(H2, R, auth(0xb2, false), &c2);
    mx.ike_in(R, auth(0xb2, true));
    z2 = mx.esp_in(R, 0x6002).zone;
    mx.esp_out(H1, R, 0x1001);
    mx.esp_out(H2, R, 0x1002);
    EXPECT_NE(z1, 0);
    EXPECT_NE(z1, z2);
  }
};

// The gap (DESIGN.md "Router pair"): on a standby that saw none of it, the
// peer's ESP on H2's SA is delivered to no one, also once H1 re-bound
// there; after the handover it reaches H2's zone, A's zone.
TEST(Handover, PeerFirstTunnelIsDeliveredOnBAsOnA) {
  RouterA a;
  auto dump = a.mx.dump();
  ASSERT_EQ(dump.size(), 4u);  // 2 ESP + 2 IKE

  {  // control: B without the handover
    Mux b;
    b.esp_out(H1, R, 0x1001);      // H1 speaks first: esp-first window
    b.esp_in(R, 0x5001);           // binds H1
    Result r = b.esp_in(R, 0x6002);  // R speaks first to H2
    EXPECT_EQ(r.v, MUX_PASS) << "without a handover the peer-first SA is dead on B";
    EXPECT_EQ(b.esp_in(R, 0x6002).v, MUX_PASS);
    b.esp_out(H2, R, 0x1002);
    EXPECT_EQ(b.esp_in(R, 0x6002).v, MUX_PASS) << "an orphan: H2's own window cannot bind it";
  }

  Mux b;
  for (auto& v : dump) {
    Err e = add(b, mapping_of(v));
    EXPECT_EQ(e.err, 0) << e.why;
  }
  EXPECT_EQ(b.sas(), 2u);
  // inbound, peer first: each SPI reaches its own host's zone, A's zone
  Result i2 = b.esp_in(R, 0x6002);
  ASSERT_EQ(i2.v, MUX_ZONE);
  EXPECT_EQ(i2.zone, a.z2);
  Result i1 = b.esp_in(R, 0x5001);
  ASSERT_EQ(i1.v, MUX_ZONE);
  EXPECT_EQ(i1.zone, a.z1);
  // outbound: the fast path, in the same zones
  EXPECT_EQ(b.esp_out(H1, R, 0x1001).zone, a.z1);
  EXPECT_EQ(b.esp_out(H2, R, 0x1002).zone, a.z2);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_ESP_OUT_NEW_SPI), 0u) << "no slow path: the SPIs are known";
  EXPECT_EQ(b.counter(VPNPT_ESP_C_BIND_FALLBACK) + b.counter(VPNPT_ESP_C_BIND_IKE), 0u);
  // no cross-delivery: H2 sending on H1's SPI stays H1's (a collision)
  EXPECT_EQ(b.esp_out(H2, R, 0x1001).zone, a.z2);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_COLLISION_OUT), 1u);
  EXPECT_EQ(b.esp_in(R, 0x5001).zone, a.z1);
  // B's dump says what A's said (counters and ages aside)
  auto bd = b.dump();
  ASSERT_EQ(bd.size(), dump.size());
  for (auto& v : bd) {
    bool found = false;
    for (auto& w : dump)
      if (w.kind == v.kind && w.host == v.host && w.zone == v.zone && w.spi_in == v.spi_in &&
          w.spi_out == v.spi_out && w.ispi == v.ispi && w.rspi == v.rspi &&
          w.state == v.state && w.reason == v.reason)
        found = true;
    EXPECT_TRUE(found) << "host " << v.host << " spi_in " << v.spi_in << " ispi " << v.ispi;
  }

  // a later rekey of H1 through its handed-over IKE SA binds as usual
  b.advance(10000);
  EXPECT_EQ(b.ike_out(H1, R, child(0xa1, 2, false)).v, MUX_PASS);
  b.ike_in(R, child(0xa1, 2, true));
  EXPECT_EQ(b.esp_out(H1, R, 0x1011).zone, a.z1);
  Result n1 = b.esp_in(R, 0x5011);
  ASSERT_EQ(n1.v, MUX_ZONE);
  EXPECT_EQ(n1.zone, a.z1);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_BIND_IKE), 1u);
  int draining = 0;
  for (auto& v : b.dump())
    if (v.kind == VPNPT_ESP_KIND_ESP && v.state == VPNPT_ESP_STATE_DRAINING) {
      draining++;
      EXPECT_EQ(v.spi_in, 0x5001u) << "the replaced handed-over SA drains";
    }
  EXPECT_EQ(draining, 1);
  EXPECT_EQ(b.esp_in(R, 0x6002).zone, a.z2) << "H2 untouched by H1's rekey";
}

TEST(Handover, SameMappingAgainIsSuccess) {
  Mux b;
  uint16_t z = 32768 + 7;
  ASSERT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001)).err, 0);
  ASSERT_EQ(add(b, ike(H1, R, z, 0xa1, 0)).err, 0);
  uint64_t mem = b.counter(VPNPT_ESP_C_MEM_BYTES);
  EXPECT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001)).err, 0);
  EXPECT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001, VPNPT_ESP_STATE_DRAINING)).err, 0);
  EXPECT_EQ(add(b, ike(H1, R, z, 0xa1, 0x99)).err, 0) << "B learns the responder SPI";
  EXPECT_EQ(add(b, ike(H1, R, z, 0xa1, 0x99)).err, 0);
  EXPECT_EQ(b.sas(), 1u);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_PAIRS), 1u);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_MEM_BYTES), mem);
  EXPECT_EQ(add(b, ike(H1, R, z, 0xa1, 0x77)).err, -EEXIST) << "another responder SPI";
}

TEST(Handover, ZoneIsTakenOutOfTheFreeFifo) {
  struct mux_params p;
  mux_params_default(&p);
  p.zone_base = 100;
  p.zone_count = 4;
  Mux b(&p);
  ASSERT_EQ(add(b, esp(H3, R2, 102, 0x1001, 0x5001)).err, 0);
  // packets take the other zones, oldest first, and never 102
  std::vector<uint16_t> got;
  for (uint32_t h = 1; h <= 4; h++) {
    Result r = b.esp_out(ip("192.168.1.100") + (h << 24), R, 0x2000 + h);
    if (r.v == MUX_ZONE) got.push_back(r.zone);
    b.esp_in(R, 0x7000 + h);
    b.advance(6000);
  }
  EXPECT_EQ(got, (std::vector<uint16_t>{100, 101, 103}));
  EXPECT_EQ(b.counter(VPNPT_ESP_C_ZONES_FULL), 1u);
  EXPECT_EQ(b.esp_in(R2, 0x5001).zone, 102);
}

TEST(Handover, ZoneAndPairRefusals) {
  struct mux_params p;
  mux_params_default(&p);
  p.zone_base = 100;
  p.zone_count = 4;
  Mux b(&p);
  Err e = add(b, esp(H1, R, 99, 0x1001, 0x5001));
  EXPECT_EQ(e.err, -ERANGE);
  EXPECT_NE(e.why.find("ZONE outside"), std::string::npos) << e.why;
  EXPECT_EQ(add(b, esp(H1, R, 104, 0x1001, 0x5001)).err, -ERANGE);
  ASSERT_EQ(add(b, esp(H1, R, 101, 0x1001, 0x5001)).err, 0);
  e = add(b, esp(H2, R, 101, 0x1002, 0x5002));
  EXPECT_EQ(e.err, -EBUSY);
  EXPECT_NE(e.why.find("another (host, peer) pair"), std::string::npos) << e.why;
  e = add(b, esp(H1, R, 102, 0x1003, 0x5003));
  EXPECT_EQ(e.err, -EBUSY);
  EXPECT_NE(e.why.find("pair has another zone"), std::string::npos) << e.why;
  e = add(b, ike(H1, R, 103, 0xa1, 0));
  EXPECT_EQ(e.err, -EBUSY) << "an IKE SA of the pair too";
  // a zone freed by an expired pair waits for its conntrack flush
  Result r = b.esp_out(H2, R2, 0x1009);
  ASSERT_EQ(r.v, MUX_ZONE);
  b.advance(6000);  // pending, no answer: SA then pair go
  b.advance(6000);
  ASSERT_EQ(b.counter(VPNPT_ESP_C_PAIRS), 1u);
  e = add(b, esp(H2, R2, r.zone, 0x1002, 0x5002));
  EXPECT_EQ(e.err, -EBUSY);
  EXPECT_NE(e.why.find("being flushed"), std::string::npos) << e.why;
  b.recycle_zones();
  EXPECT_EQ(add(b, esp(H2, R2, r.zone, 0x1002, 0x5002)).err, 0) << "flushed: free again";
}

TEST(Handover, SpisMappedElsewhereAreRefused) {
  Mux b;
  uint16_t z1 = 32768 + 1, z2 = 32768 + 2;
  ASSERT_EQ(add(b, esp(H1, R, z1, 0x1001, 0x5001)).err, 0);
  ASSERT_EQ(add(b, ike(H1, R, z1, 0xa1, 0x99)).err, 0);
  Err e = add(b, esp(H2, R, z2, 0x1001, 0x5002));
  EXPECT_EQ(e.err, -EEXIST);
  EXPECT_NE(e.why.find("SPI_OUT"), std::string::npos) << e.why;
  e = add(b, esp(H2, R, z2, 0x1002, 0x5001));
  EXPECT_EQ(e.err, -EEXIST);
  EXPECT_NE(e.why.find("SPI_IN"), std::string::npos) << e.why;
  EXPECT_EQ(add(b, esp(H1, R, z1, 0x1001, 0x5009)).err, -EEXIST) << "same host, other SA";
  EXPECT_EQ(add(b, esp(H1, R, z1, 0x1009, 0x5001)).err, -EEXIST);
  e = add(b, ike(H2, R, z2, 0xa1, 0x99));
  EXPECT_EQ(e.err, -EEXIST);
  EXPECT_NE(e.why.find("IKE_ISPI"), std::string::npos) << e.why;
  // a pending SA the host started on B holds its SPI too
  b.esp_out(H2, R2, 0x3003);
  EXPECT_EQ(add(b, esp(H2, R2, z2, 0x3003, 0x6003)).err, -EEXIST);
  // the same SPIs with another peer are another SA
  EXPECT_EQ(add(b, esp(H3, R2, 32768 + 3, 0x1001, 0x5001)).err, 0);
  EXPECT_EQ(b.sas(), 3u);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_PAIRS), 3u) << "nothing left by the refusals";
}

TEST(Handover, MalformedMappingsAreRefused) {
  Mux b;
  uint16_t z = 32768;
  EXPECT_EQ(add(b, esp(H1, H1, z, 1, 2)).err, -EINVAL);
  EXPECT_EQ(add(b, esp(0, R, z, 1, 2)).err, -EINVAL);
  EXPECT_EQ(add(b, esp(H1, R, z, 1, 0)).err, -EINVAL);
  EXPECT_EQ(add(b, esp(H1, R, z, 1, 2, VPNPT_ESP_STATE_PENDING)).err, -EINVAL);
  struct mux_mapping i = ike(H1, R, z, 0, 1);
  EXPECT_EQ(add(b, i).err, -EINVAL);
  i = ike(H1, R, z, 1, 1);
  i.ike_version = 3;
  EXPECT_EQ(add(b, i).err, -EINVAL);
  i.kind = 9;
  EXPECT_EQ(add(b, i).err, -EINVAL);
  // a remote peer's address as a LAN host: refused as a packet's would be
  ASSERT_EQ(add(b, esp(H1, R, z, 1, 2)).err, 0);
  Err e = add(b, esp(R, R2, z + 1, 3, 4));
  EXPECT_EQ(e.err, -EINVAL);
  EXPECT_NE(e.why.find("remote peer"), std::string::npos) << e.why;
  EXPECT_EQ(b.sas(), 1u);
}

// Each limit refuses before anything is allocated: no pair, no zone taken.
TEST(Handover, LimitsAsForPackets) {
  struct mux_params p;
  mux_params_default(&p);
  p.max_per_host = 2;
  p.max_per_peer = 3;
  p.max_mappings = 5;
  p.zone_base = 100;
  p.zone_count = 8;
  Mux b(&p);
  ASSERT_EQ(add(b, esp(H1, R, 100, 1, 101)).err, 0);
  ASSERT_EQ(add(b, esp(H1, R, 100, 2, 102)).err, 0);
  uint64_t mem = b.counter(VPNPT_ESP_C_MEM_BYTES);
  Err e = add(b, esp(H1, R, 100, 3, 103));
  EXPECT_EQ(e.err, -EDQUOT);
  EXPECT_NE(e.why.find("max_per_host"), std::string::npos) << e.why;
  ASSERT_EQ(add(b, ike(H1, R, 100, 0xa1, 0)).err, 0) << "IKE SAs count apart per host";
  e = add(b, esp(H2, R, 101, 4, 104));
  EXPECT_EQ(e.err, -EDQUOT);
  EXPECT_NE(e.why.find("max_per_peer"), std::string::npos) << e.why;
  EXPECT_EQ(b.counter(VPNPT_ESP_C_PAIRS), 1u) << "no pair for a refused mapping";
  // pairs per host: H1 has R, R2 would be its second, a third is refused
  ASSERT_EQ(add(b, esp(H1, R2, 102, 5, 105)).err, -EDQUOT) << "H1's SAs are at max_per_host";
  ASSERT_EQ(add(b, ike(H1, R2, 102, 0xa2, 0)).err, 0);
  e = add(b, ike(H1, ip("198.51.100.9"), 103, 0xa3, 0));
  EXPECT_EQ(e.err, -EDQUOT);
  EXPECT_NE(e.why.find("max_per_host"), std::string::npos) << e.why;
  ASSERT_EQ(add(b, esp(H2, R2, 104, 6, 106)).err, 0);  // 5 mappings now
  mem = b.counter(VPNPT_ESP_C_MEM_BYTES);
  e = add(b, esp(H3, ip("198.51.100.10"), 105, 7, 107));
  EXPECT_EQ(e.err, -ENOSPC);
  EXPECT_NE(e.why.find("max_mappings"), std::string::npos) << e.why;
  EXPECT_EQ(b.counter(VPNPT_ESP_C_MEM_BYTES), mem) << "nothing allocated";
  EXPECT_EQ(b.counter(VPNPT_ESP_C_HOSTS), 2u);
  // zones: every zone of the range taken by handed-over pairs
  struct mux_params q;
  mux_params_default(&q);
  q.zone_base = 100;
  q.zone_count = 2;
  Mux c(&q);
  ASSERT_EQ(add(c, esp(H1, R, 100, 1, 101)).err, 0);
  ASSERT_EQ(add(c, esp(H2, R, 101, 2, 102)).err, 0);
  EXPECT_EQ(c.esp_out(H3, R, 3).v, MUX_DROP) << "no zone left for packets either";
  EXPECT_EQ(c.counter(VPNPT_ESP_C_ZONES_FULL), 1u);
}

TEST(Handover, DeleteForgetsOneMappingAndRemembersItsSpi) {
  Mux b;
  uint16_t z1 = 32768 + 1, z2 = 32768 + 2;
  ASSERT_EQ(add(b, esp(H1, R, z1, 0x1001, 0x5001)).err, 0);
  ASSERT_EQ(add(b, esp(H1, R, z1, 0x1011, 0x5011)).err, 0);
  ASSERT_EQ(add(b, ike(H1, R, z1, 0xa1, 0x99)).err, 0);
  EXPECT_EQ(del(b, esp(H2, R, 0, 0x1001, 0x5001)).err, -ENOENT) << "another host's";
  EXPECT_EQ(del(b, esp(H1, R, 0, 0x1001, 0x5009)).err, -ENOENT) << "another SA";
  EXPECT_EQ(del(b, esp(H1, R2, 0, 0x1001, 0x5001)).err, -ENOENT) << "another peer";
  EXPECT_EQ(del(b, esp(H1, R, 0, 0x1001, 0x5001)).err, 0);
  EXPECT_EQ(del(b, esp(H1, R, 0, 0x1001, 0x5001)).err, -ENOENT) << "gone";
  EXPECT_EQ(b.sas(), 1u);
  EXPECT_EQ(b.esp_in(R, 0x5011).zone, z1) << "the other SA stays";
  EXPECT_EQ(del(b, ike(H1, R, 0, 0xa1, 0x77)).err, -ENOENT);
  EXPECT_EQ(del(b, ike(H1, R, 0, 0xa1, 0x99)).err, 0);
  EXPECT_EQ(b.dump().size(), 1u);
  // the deleted inbound SPI is an orphan: another host's window never binds it
  b.esp_out(H2, R, 0x2002);  // H2 opens R's window (esp-first)
  EXPECT_EQ(b.esp_in(R, 0x5001).v, MUX_PASS);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_BIND_AMBIGUOUS), 1u);
  // the pair, unused, goes with gc; its zone is flushed, then free again
  EXPECT_EQ(del(b, esp(H1, R, 0, 0x1011, 0x5011)).err, 0);
  b.advance(6000);
  b.advance(6000);
  b.recycle_zones();
  EXPECT_EQ(add(b, esp(H3, R2, z1, 0x1001, 0x5001)).err, 0);
  EXPECT_EQ(b.esp_in(R2, 0x5001).zone, z1);
  (void)z2;
}

// A bound SA the peer started and the host has not answered yet (SPI_OUT
// 0 in A's dump): the host's first packet on B joins it, as on A.
TEST(Handover, PeerStartedSaWithoutOutboundSpi) {
  Mux b;
  uint16_t z = 32768 + 1;
  ASSERT_EQ(add(b, esp(H1, R, z, 0, 0x5001)).err, 0);
  EXPECT_EQ(add(b, esp(H1, R, z, 0, 0x5001)).err, 0) << "again";
  EXPECT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001)).err, -EEXIST) << "not the same mapping";
  EXPECT_EQ(b.esp_in(R, 0x5001).zone, z);
  EXPECT_EQ(b.esp_out(H1, R, 0x1001).zone, z);
  auto d = b.dump();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].spi_out, 0x1001u) << "joined the handed-over SA";
  EXPECT_EQ(d[0].state, VPNPT_ESP_STATE_BOUND);
  EXPECT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001)).err, 0);
}

// With keep_ike_port the peer's IKE messages go to the zone of the IKE
// SA's pair: a handed-over IKE SA gets them on B as on A (the control:
// unknown on B without it, never guessed).
TEST(Handover, IkeSaRoutesThePeersMessages) {
  struct mux_params p;
  mux_params_default(&p);
  p.keep_ike_port = true;
  struct ike_info info = ike_hdr(2, IKEV2_EXCH_INFORMATIONAL, 0xa1, 0x99, 7, false);
  Mux control(&p);
  EXPECT_EQ(control.ike_in(R, info).v, MUX_PASS);
  EXPECT_EQ(control.counter(VPNPT_ESP_C_IKE_UNKNOWN), 1u);
  Mux b(&p);
  uint16_t z = 32768 + 9;
  ASSERT_EQ(add(b, ike(H1, R, z, 0xa1, 0x99)).err, 0);
  Result r = b.ike_in(R, info);
  EXPECT_EQ(r.v, MUX_ZONE);
  EXPECT_EQ(r.zone, z);
  EXPECT_EQ(b.counter(VPNPT_ESP_C_IKE_UNKNOWN), 0u);
  EXPECT_EQ(b.ike_out(H2, R, info).v, MUX_PASS) << "another host with its ispi: a collision";
  EXPECT_EQ(b.counter(VPNPT_ESP_C_IKE_COLLISION), 1u);
}

TEST(Handover, DrainingMappingEndsAsADrainingSa) {
  Mux b;
  uint16_t z = 32768 + 1;
  ASSERT_EQ(add(b, esp(H1, R, z, 0x1001, 0x5001)).err, 0);
  ASSERT_EQ(add(b, esp(H1, R, z, 0x1000, 0x5000, VPNPT_ESP_STATE_DRAINING)).err, 0);
  EXPECT_EQ(b.esp_in(R, 0x5000).zone, z) << "still delivered while draining";
  for (int i = 0; i < 31; i++) {
    b.advance(1000);
    b.esp_in(R, 0x5001);
  }
  EXPECT_EQ(b.counter(VPNPT_ESP_C_DRAINED), 1u);
  EXPECT_EQ(b.esp_in(R, 0x5000).v, MUX_PASS);
  EXPECT_EQ(b.esp_in(R, 0x5001).zone, z);
}

}  // namespace
