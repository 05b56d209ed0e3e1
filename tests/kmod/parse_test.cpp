// parse_test.cpp: what the vpnpt_esp hook reads of a packet (kmod/parse.c),
// one kind of packet per test, from bytes as they arrive in PRE_ROUTING.
//
//   H1 192.168.1.11 --[lan, if 2]-- router --[wan, if 3, 203.0.113.1]-- R 198.51.100.7
//                          192.168.1.1
#include <gtest/gtest.h>

#include "harness.h"
#include "packet.h"

using namespace kmodtest;

namespace {

const uint32_t H1 = ip("192.168.1.11"), R = ip("198.51.100.7");
const uint32_t WAN = ip("203.0.113.1"), LANADDR = ip("192.168.1.1");
const uint32_t IF_LAN = 2, IF_WAN = 3;

class Parse : public ::testing::Test {
 protected:
  // the controller always names the WAN interface (the module needs it)
  Parse() {
    mx.local = {WAN, LANADDR};
    set_wan(IF_WAN);
  }
  enum mux_parse_res parse(const Bytes& b, uint32_t iif, uint32_t headlen = UINT32_MAX) {
    return rt.parse(mx.m(), b, iif, &p, headlen, 777);
  }
  // parse, then classify as the hook does: ESP's direction rule is
  // applied there (mux_pkt.local_later), MUX_NOT_OURS reads as
  // MUX_PARSE_DIRECTION
  enum mux_parse_res hook(const Bytes& b, uint32_t iif, enum mux_verdict* v = nullptr) {
    rt.gen = mx.local_gen;  // as the kernel's hook fills mux_pkt.local_gen
    enum mux_parse_res r = parse(b, iif);
    if (r != MUX_PARSE_OURS) return r;
    uint16_t zone = 0;
    enum mux_verdict got = mux_classify(mx.m(), &p, mx.now, nullptr, nullptr, &zone);
    if (v) *v = got;
    return got == MUX_NOT_OURS ? MUX_PARSE_DIRECTION : MUX_PARSE_OURS;
  }
  void set_wan(uint32_t ifindex) {
    struct mux_params prm;
    mux_params_get(mx.m(), &prm);
    prm.wan_ifindex = ifindex;
    ASSERT_EQ(mux_params_set(mx.m(), &prm), 0);
  }
  Mux mx;
  Router rt;
  struct mux_pkt p = {};
};

struct ike_info v2(uint8_t exch, uint64_t ispi, uint64_t rspi, uint32_t msgid, bool response) {
  return ike_hdr(2, exch, ispi, rspi, msgid, response);
}

TEST_F(Parse, EspFromLanHostIsOutbound) {
  Bytes b = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  ASSERT_EQ(parse(b, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.type, MUX_PKT_ESP);
  EXPECT_EQ(p.dir, MUX_DIR_OUT);
  EXPECT_EQ(p.src, H1);
  EXPECT_EQ(p.dst, R);
  EXPECT_EQ(p.spi, 0x1000u);
  EXPECT_EQ(p.len, b.size());
  EXPECT_EQ(p.truesize, 777u);
}

TEST_F(Parse, EspToRouterIsInbound) {
  ASSERT_EQ(parse(ipv4(R, WAN, PROTO_ESP, esp(0xc0ffee01)), IF_WAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.type, MUX_PKT_ESP);
  EXPECT_EQ(p.dir, MUX_DIR_IN);
  EXPECT_EQ(p.spi, 0xc0ffee01u);
}

TEST_F(Parse, EspReservedSpisAreIgnored) {
  for (uint32_t spi : {0u, 1u, 255u})
    EXPECT_EQ(parse(ipv4(H1, R, PROTO_ESP, esp(spi)), IF_LAN), MUX_PARSE_NOT_OURS) << spi;
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_ESP, esp(256)), IF_LAN), MUX_PARSE_OURS);
}

TEST_F(Parse, EspTooShortForItsSpi) {
  Bytes b = ipv4(H1, R, PROTO_ESP, Bytes{0x00, 0x00, 0x10});
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
}

TEST_F(Parse, IkeOn500BothDirections) {
  Bytes out = ipv4(H1, R, PROTO_UDP, udp(500, 500, ike(v2(IKEV2_EXCH_AUTH, 0x11, 0x22, 1, false))));
  ASSERT_EQ(parse(out, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.type, MUX_PKT_IKE);
  EXPECT_EQ(p.dir, MUX_DIR_OUT);
  EXPECT_FALSE(p.natt);
  EXPECT_EQ(p.ike.version, 2);
  EXPECT_EQ(p.ike.ispi, 0x11u);
  EXPECT_EQ(p.ike.rspi, 0x22u);
  EXPECT_TRUE(p.ike.child);
  EXPECT_FALSE(p.ike.response);

  // the reply comes back to the port the router's NAT chose
  Bytes in = ipv4(R, WAN, PROTO_UDP, udp(500, 1024, ike(v2(IKEV2_EXCH_AUTH, 0x11, 0x22, 1, true))));
  ASSERT_EQ(parse(in, IF_WAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.dir, MUX_DIR_IN);
  EXPECT_TRUE(p.ike.response);
}

TEST_F(Parse, IkeV1QuickMode) {
  Bytes b = ipv4(H1, R, PROTO_UDP, udp(500, 500, ike(ike_hdr(1, IKEV1_EXCH_QUICK_MODE, 7, 8, 0x99, false))));
  ASSERT_EQ(parse(b, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.ike.version, 1);
  EXPECT_TRUE(p.ike.child);
  EXPECT_EQ(p.ike.msgid, 0x99u);
}

TEST_F(Parse, PortIsReadOnThePeersSide) {
  // the host's side is 500, the peer's is not: some other UDP service
  Bytes b = ipv4(H1, R, PROTO_UDP, udp(500, 53, ike(v2(IKEV2_EXCH_SA_INIT, 1, 0, 0, false))));
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_NOT_OURS);
  Bytes in = ipv4(R, WAN, PROTO_UDP, udp(53, 500, ike(v2(IKEV2_EXCH_SA_INIT, 1, 0, 0, true))));
  EXPECT_EQ(parse(in, IF_WAN), MUX_PARSE_NOT_OURS);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(1000, 53, Bytes(40))), IF_LAN), MUX_PARSE_NOT_OURS);
}

TEST_F(Parse, NotIkeOn500IsCounted) {
  Bytes zero_ispi = ike(v2(IKEV2_EXCH_SA_INIT, 0, 0, 0, false));
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(500, 500, zero_ispi)), IF_LAN), MUX_PARSE_IKE_BAD);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(500, 500, Bytes(27, 1))), IF_LAN), MUX_PARSE_IKE_BAD);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(500, 500, Bytes())), IF_LAN), MUX_PARSE_IKE_BAD);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_BAD), 3u);
}

TEST_F(Parse, NattIkeBehindTheNonEspMarker) {
  Bytes msg = ike(v2(IKEV2_EXCH_CREATE_CHILD, 0x11, 0x22, 5, false));
  ASSERT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(4500, 4500, natt(msg))), IF_LAN), MUX_PARSE_OURS);
  EXPECT_TRUE(p.natt);
  EXPECT_EQ(p.type, MUX_PKT_IKE);
  EXPECT_EQ(p.ike.msgid, 5u);
  EXPECT_EQ(p.ike.exch, IKEV2_EXCH_CREATE_CHILD);
}

TEST_F(Parse, NattEspInUdpAndKeepalivesAreLeftAlone) {
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(4500, 4500, esp(0x1000, 40))), IF_LAN),
            MUX_PARSE_NOT_OURS);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(4500, 4500, Bytes{0xff})), IF_LAN),
            MUX_PARSE_NOT_OURS);
  // a marker but no room for an IKE header behind it
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(4500, 4500, Bytes(31, 0))), IF_LAN),
            MUX_PARSE_NOT_OURS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_IKE_BAD), 0u);
}

TEST_F(Parse, IcmpErrorQuotingEsp) {
  Bytes quoted = ipv4(WAN, R, PROTO_ESP, esp(0x4242));
  for (uint8_t type : {3, 11, 12}) {
    ASSERT_EQ(parse(ipv4(ip("198.51.100.1"), WAN, PROTO_ICMP, icmp_error(type, quoted)), IF_WAN),
              MUX_PARSE_OURS) << int(type);
    EXPECT_EQ(p.type, MUX_PKT_ICMP_ESP);
    EXPECT_EQ(p.dir, MUX_DIR_IN);
    EXPECT_EQ(p.inner_src, WAN);
    EXPECT_EQ(p.inner_dst, R);
    EXPECT_EQ(p.spi, 0x4242u);
  }
}

TEST_F(Parse, IcmpThatIsNotAnErrorAboutEsp) {
  Bytes quoted = ipv4(WAN, R, PROTO_ESP, esp(0x4242));
  EXPECT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(0, quoted)), IF_WAN), MUX_PARSE_NOT_OURS);
  EXPECT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(8, quoted)), IF_WAN), MUX_PARSE_NOT_OURS);
  Bytes udpq = ipv4(WAN, R, PROTO_UDP, udp(500, 500, Bytes(8)));
  EXPECT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(3, udpq)), IF_WAN), MUX_PARSE_NOT_OURS);
  // the quote ends before the SPI
  EXPECT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(3, quoted, 22)), IF_WAN), MUX_PARSE_NOT_OURS);
  // a quoted header length below 20 bytes
  Bytes bad = quoted;
  bad[0] = 0x44;
  EXPECT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(3, bad)), IF_WAN), MUX_PARSE_NOT_OURS);
}

TEST_F(Parse, IcmpQuoteWithOptionsReadsTheSpiAfterThem) {
  Bytes q = ipv4(WAN, R, PROTO_ESP, esp(0x5151));
  q[0] = 0x46;                                  // ihl 6: 4 option bytes
  q.insert(q.begin() + 20, {1, 1, 1, 1});       // NOPs
  ASSERT_EQ(parse(ipv4(R, WAN, PROTO_ICMP, icmp_error(11, q, 32)), IF_WAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.spi, 0x5151u);
}

TEST_F(Parse, FragmentsAreCountedAndLeftAlone) {
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_ESP, esp(0x1000), 0x2000), IF_LAN), MUX_PARSE_FRAGMENT);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_ESP, esp(0x1000), 0x0010), IF_LAN), MUX_PARSE_FRAGMENT);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(500, 500, Bytes(40)), 0x2000), IF_LAN),
            MUX_PARSE_FRAGMENT);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_FRAGMENT_PASSED), 3u);
  // DF is not a fragment; a fragment of other UDP is not counted
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_ESP, esp(0x1000), 0x4000), IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_UDP, udp(53, 53, Bytes(40)), 0x2000), IF_LAN),
            MUX_PARSE_NOT_OURS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_FRAGMENT_PASSED), 3u);
}

TEST_F(Parse, BadIpv4HeadersAreRejected) {
  Bytes good = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  Bytes b = good;
  b[0] = 0x44;  // ihl 4
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  b = good;
  b[0] = 0x65;  // version 6
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  b = good;
  b[0] = 0x4f;  // ihl 15 (60 bytes) in a 44-byte packet
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  b = good;
  b[2] = 0; b[3] = 19;  // tot_len below the header
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  b = good;
  b[3] += 1;  // tot_len past the buffer: truncated
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  EXPECT_EQ(parse(Bytes(good.begin(), good.begin() + 19), IF_LAN), MUX_PARSE_BAD);
}

TEST_F(Parse, ZeroAddressesAreNeverHostsOrPeers) {
  EXPECT_EQ(parse(ipv4(0, R, PROTO_ESP, esp(0x1000)), IF_LAN), MUX_PARSE_BAD);
  EXPECT_EQ(parse(ipv4(H1, 0, PROTO_ESP, esp(0x1000)), IF_LAN), MUX_PARSE_BAD);
  EXPECT_EQ(parse(ipv4(0, WAN, PROTO_UDP, udp(500, 500, ike(v2(IKEV2_EXCH_SA_INIT, 1, 0, 0, false)))),
                  IF_WAN), MUX_PARSE_BAD);
}

// Found by tests/fuzz: one ESP packet from 0.0.0.0 made a pair that gc
// never freed (its host 0 matched the "no owner" of a closed window).
TEST_F(Parse, EspFromZeroSourceLeavesNothingBehind) {
  struct mux_pkt pk;
  Bytes b = ipv4(0, R, PROTO_ESP, esp(0x1000));
  if (rt.parse(mx.m(), b, IF_LAN, &pk) == MUX_PARSE_OURS) {
    uint16_t zone;
    mux_classify(mx.m(), &pk, mx.now, nullptr, nullptr, &zone);
  }
  mx.advance(3600 * 1000);
  EXPECT_EQ(mx.recycle_zones().size(), 0u);  // no pair was ever made
  EXPECT_EQ(mx.m()->n_pairs, 0u);
}

TEST_F(Parse, BytesPastTotLenAreNotPartOfThePacket) {
  Bytes b = ipv4(H1, R, PROTO_ESP, Bytes{0, 0});  // ESP cut after 2 bytes
  size_t tot = b.size();
  b.insert(b.end(), {0x10, 0x00, 0, 0, 0, 0});    // link-layer padding
  EXPECT_EQ(parse(b, IF_LAN), MUX_PARSE_BAD);
  b = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  tot = b.size();
  b.resize(b.size() + 10, 0);
  ASSERT_EQ(parse(b, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.len, tot);
}

TEST_F(Parse, Ipv4OptionsMoveTheSpi) {
  Bytes b = ipv4(H1, R, PROTO_ESP, esp(0x7777));
  b[0] = 0x48;  // ihl 8: 12 option bytes
  b.insert(b.begin() + 20, 12, 1);
  b[3] += 12;
  ASSERT_EQ(parse(b, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.spi, 0x7777u);
}

TEST_F(Parse, TruncatedPacketsParseOnlyWithTheirWholeHeader) {
  // each packet and the bytes the parser needs of it
  std::vector<std::pair<Bytes, size_t>> full = {
      {ipv4(H1, R, PROTO_ESP, esp(0x1000)), 20 + 4},
      {ipv4(H1, R, PROTO_UDP, udp(500, 500, ike(v2(IKEV2_EXCH_AUTH, 0x11, 0x22, 1, false), 0))),
       20 + 8 + 28},
      {ipv4(H1, R, PROTO_UDP, udp(4500, 4500, natt(ike(v2(IKEV2_EXCH_AUTH, 0x11, 0x22, 1, false), 0)))),
       20 + 8 + 4 + 28},
      {ipv4(H1, R, PROTO_ICMP, icmp_error(3, ipv4(R, H1, PROTO_ESP, esp(0x4242)))),
       20 + 8 + 20 + 4},  // a LAN host's error about the peer's ESP
  };
  for (const auto& [f, need] : full) {
    ASSERT_EQ(parse(f, IF_LAN), MUX_PARSE_OURS);
    for (size_t n = 0; n < f.size(); n++) {
      Bytes cut(f.begin(), f.begin() + n);  // the IPv4 header says how long it was
      EXPECT_EQ(parse(cut, IF_LAN), MUX_PARSE_BAD) << n;
      if (n < 20) continue;
      cut[2] = uint8_t(n >> 8);  // a packet that really is this short
      cut[3] = uint8_t(n);
      EXPECT_EQ(parse(cut, IF_LAN) == MUX_PARSE_OURS, n >= need) << n;
    }
  }
}

TEST_F(Parse, NonLinearPacketsParseAlike) {
  std::vector<std::pair<Bytes, uint32_t>> pkts = {
      {ipv4(H1, R, PROTO_ESP, esp(0x1000)), IF_LAN},
      {ipv4(R, WAN, PROTO_UDP, udp(500, 500, ike(v2(IKEV2_EXCH_AUTH, 0x11, 0x22, 1, true)))), IF_WAN},
      {ipv4(H1, R, PROTO_UDP, udp(4500, 4500, natt(ike(v2(IKEV2_EXCH_CREATE_CHILD, 3, 4, 2, false))))), IF_LAN},
      {ipv4(R, WAN, PROTO_ICMP, icmp_error(3, ipv4(WAN, R, PROTO_ESP, esp(0x4242)))), IF_WAN},
  };
  for (auto& [b, iif] : pkts) {
    ASSERT_EQ(parse(b, iif), MUX_PARSE_OURS);
    struct mux_pkt linear = p;
    for (uint32_t h = 0; h < b.size(); h++) {
      ASSERT_EQ(parse(b, iif, h), MUX_PARSE_OURS) << h;
      EXPECT_EQ(memcmp(&p, &linear, sizeof(p)), 0) << "headlen " << h;
    }
  }
}

TEST_F(Parse, OtherProtocolsAreNotOurs) {
  EXPECT_EQ(parse(ipv4(H1, R, PROTO_TCP, Bytes(40)), IF_LAN), MUX_PARSE_NOT_OURS);
  EXPECT_EQ(parse(ipv4(H1, R, 51 /* AH */, Bytes(40)), IF_LAN), MUX_PARSE_NOT_OURS);
}

TEST_F(Parse, RouterLocalSourceIsLeftAlone) {
  EXPECT_EQ(hook(ipv4(WAN, R, PROTO_ESP, esp(0x1000)), IF_LAN), MUX_PARSE_DIRECTION);
  // to a local address from the LAN side it is no peer's (hairpin, or a
  // LAN host's IPsec with the router itself)
  EXPECT_EQ(hook(ipv4(LANADDR, WAN, PROTO_ESP, esp(0x1000)), IF_LAN), MUX_PARSE_DIRECTION);
}

TEST_F(Parse, WanInterfaceDecidesWhoIsAPeer) {
  Bytes in = ipv4(R, WAN, PROTO_ESP, esp(0x2000));
  Bytes out = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  Bytes spoof = ipv4(R, LANADDR, PROTO_ESP, esp(0x2000));  // "from R" on the LAN
  EXPECT_EQ(hook(in, IF_WAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.dir, MUX_DIR_IN);
  EXPECT_EQ(hook(in, IF_LAN), MUX_PARSE_DIRECTION);
  EXPECT_EQ(hook(spoof, IF_LAN), MUX_PARSE_DIRECTION);
  EXPECT_EQ(hook(out, IF_LAN), MUX_PARSE_OURS);
  EXPECT_EQ(p.dir, MUX_DIR_OUT);
  EXPECT_EQ(hook(out, IF_WAN), MUX_PARSE_DIRECTION);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_WRONG_IFACE), 3u);
  // no WAN interface now (a PPP link down): nothing is a peer's
  set_wan(0);
  EXPECT_EQ(hook(in, IF_WAN), MUX_PARSE_DIRECTION);
  EXPECT_EQ(hook(out, IF_LAN), MUX_PARSE_OURS);
}

// ESP's direction rule costs two route lookups in the kernel: it is asked
// for a bound SA's first packet and again only after mux_pkt.local_gen moved
// (the kernel's rt_genid: any address or route change).
TEST_F(Parse, EspDirectionAskedOncePerSaAndAddressChange) {
  Bytes out = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  Bytes in = ipv4(R, WAN, PROTO_ESP, esp(0x2000));
  enum mux_verdict v = MUX_PASS;
  ASSERT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_OURS);  // opens a window
  ASSERT_EQ(hook(in, IF_WAN, &v), MUX_PARSE_OURS);   // binds 0x2000 to H1
  ASSERT_EQ(v, MUX_ZONE);
  for (int i = 0; i < 3; i++) {
    unsigned asked = mx.local_asked;
    ASSERT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_OURS);
    EXPECT_EQ(v, MUX_ZONE);
    ASSERT_EQ(hook(in, IF_WAN, &v), MUX_PARSE_OURS);
    EXPECT_EQ(v, MUX_ZONE);
    // the first time: R and H1 not local, WAN local; then nothing
    EXPECT_EQ(mx.local_asked - asked, i == 0 ? 3u : 0u) << i;
  }
  // The router takes R's address (a hairpin, a lab): until the generation
  // moves the SA's answer stands, as the kernel's cached routes do; the
  // kernel moves it in the same change.
  mx.local.insert(R);
  EXPECT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_OURS);
  mx.local_gen++;
  uint64_t wrong = mx.counter(VPNPT_ESP_C_WRONG_IFACE);
  EXPECT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_DIRECTION);
  EXPECT_EQ(v, MUX_NOT_OURS);
  EXPECT_EQ(mx.counter(VPNPT_ESP_C_WRONG_IFACE), wrong + 1);
  // ... and gives it back: the SA carries its traffic again
  mx.local.erase(R);
  mx.local_gen++;
  EXPECT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_OURS);
  EXPECT_EQ(v, MUX_ZONE);
  // The WAN address goes: the peer's ESP to it is no longer the router's
  mx.local.erase(WAN);
  mx.local_gen++;
  EXPECT_EQ(hook(in, IF_WAN, &v), MUX_PARSE_DIRECTION);
  EXPECT_EQ(v, MUX_NOT_OURS);
}

// A spoofed router source from the LAN on a bound SA's (peer, SPI) and
// host: the fast path asks the rule too.
TEST_F(Parse, EspOnBoundSaFromRouterSourceIsLeftAlone) {
  Bytes out = ipv4(H1, R, PROTO_ESP, esp(0x1000));
  enum mux_verdict v = MUX_PASS;
  ASSERT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_OURS);
  ASSERT_EQ(hook(ipv4(R, WAN, PROTO_ESP, esp(0x2000)), IF_WAN, &v), MUX_PARSE_OURS);
  ASSERT_EQ(v, MUX_ZONE);
  mx.local.insert(H1);  // H1's address is now the router's
  mx.local_gen++;
  EXPECT_EQ(hook(out, IF_LAN, &v), MUX_PARSE_DIRECTION);
  EXPECT_EQ(v, MUX_NOT_OURS);
}

}  // namespace
