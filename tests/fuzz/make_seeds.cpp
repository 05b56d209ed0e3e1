// make_seeds.cpp: writes the seed corpus of fuzz_mux (tests/fuzz/corpus/).
// Each seed is a meaningful story in the step language of steps.h: hosts
// negotiating with shared peers, manual keys, rekeys, time and gc, and the
// attacks of issue 9 (stray ESP, IKE headers with random SPIs, a peer's
// address from the LAN, ICMP errors, fragments, NAT-T, broken headers),
// and allocations that fail.
// Deterministic: the same program writes the same files.
//
//   make_seeds DIR
#include <cstdio>
#include <random>
#include <string>

#include "harness.h"
#include "packet.h"
#include "steps.h"

using namespace kmodtest;
using namespace fuzzmux;

namespace {

struct Seed {
  Bytes b;
  explicit Seed(uint8_t flags, uint8_t hold = 4, uint8_t pending = 1, uint8_t idle = 20) {
    b = {flags, 3, 6, 12, 5, hold, pending, idle};
  }
  Seed& op(Op o, std::initializer_list<uint8_t> a = {}) {
    b.push_back(o);
    b.insert(b.end(), a);
    return *this;
  }
  Seed& u16(uint16_t v) { b.push_back(uint8_t(v >> 8)); b.push_back(uint8_t(v)); return *this; }
  Seed& negotiate(int h, int r, uint8_t f = 0) { return op(OP_NEGOTIATE, {uint8_t(h), uint8_t(r), f}); }
  Seed& progress(int n, uint16_t so, uint16_t si) { op(OP_PROGRESS, {uint8_t(n)}); return u16(so).u16(si); }
  Seed& manual(int h, int r, uint16_t so, uint16_t si) { op(OP_MANUAL_SA, {uint8_t(h), uint8_t(r)}); return u16(so).u16(si); }
  Seed& traffic(int sa, bool in) { return op(OP_TRAFFIC, {uint8_t(sa), uint8_t(in)}); }
  Seed& advance(uint16_t ms, bool nogc = false) { op(OP_ADVANCE); u16(ms); b.push_back(nogc); return *this; }
  Seed& raw(bool wan, const Bytes& pkt, uint8_t headlen = 255) {
    op(OP_RAW, {uint8_t(wan), headlen});
    u16(uint16_t(pkt.size()));
    b.insert(b.end(), pkt.begin(), pkt.end());
    return *this;
  }
  Seed& esp(uint8_t side, uint8_t src, uint8_t dst, uint16_t spi) { op(OP_FORGE_ESP, {side, src, dst}); return u16(spi); }
  Seed& ike(uint8_t side, uint8_t src, uint8_t dst, uint8_t hdr, uint8_t ispi, uint8_t msgid, uint8_t port = 0) {
    return op(OP_FORGE_IKE, {side, src, dst, hdr, ispi, msgid, port});
  }
  Seed& icmp(uint8_t side, uint8_t src, uint8_t isrc, uint8_t idst, uint16_t spi) { op(OP_FORGE_ICMP, {side, src, isrc, idst}); return u16(spi); }
};

// Two hosts to the same peer, each negotiating, answering and sending: the
// model test's story, told step by step.
Seed two_hosts(uint8_t flags, uint8_t negflags) {
  Seed s(flags);
  s.negotiate(0, 0, negflags).negotiate(1, 0, negflags).op(OP_REINJECT);
  s.progress(0, 0x100, 0x200).op(OP_REINJECT).progress(1, 0x101, 0x201).op(OP_REINJECT);
  s.progress(1, 0x101, 0x201);
  for (int i = 0; i < 4; i++) s.traffic(i % 2, i / 2).advance(300);
  s.negotiate(0, 0, negflags).progress(2, 0x102, 0x202).op(OP_REINJECT).traffic(2, true).traffic(2, false);
  s.advance(40000, false).op(OP_RETIRE).op(OP_GC);
  return s;
}

Seed random_story(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return int(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  Seed s(uint8_t(pick(8)), uint8_t(pick(8)), uint8_t(pick(5)), uint8_t(pick(60)));
  for (int i = 0; i < 60; i++) {
    int w = pick(100);
    if (w < 12) s.negotiate(pick(N_HOSTS), pick(N_PEERS), uint8_t(pick(8)));
    else if (w < 28) s.progress(pick(16), uint16_t(pick(4096)), uint16_t(pick(4096)));
    else if (w < 33) s.manual(pick(N_HOSTS), pick(N_PEERS), uint16_t(pick(4096)), uint16_t(pick(4096)));
    else if (w < 65) s.traffic(pick(16), pick(2));
    else if (w < 70) s.op(OP_RETIRE);
    else if (w < 80) s.advance(uint16_t(pick(3000)));
    else if (w < 88) s.op(OP_REINJECT);
    else if (w < 91) s.esp(uint8_t(pick(16)), uint8_t(pick(12)), uint8_t(pick(12)), uint16_t(pick(65536)));
    else if (w < 94) s.ike(uint8_t(pick(16)), uint8_t(pick(12)), uint8_t(pick(12)), uint8_t(pick(16)), uint8_t(pick(24)), uint8_t(pick(8)), uint8_t(pick(4)));
    else if (w < 96) s.icmp(uint8_t(pick(64)), uint8_t(pick(12)), uint8_t(pick(12)), uint8_t(pick(12)), uint16_t(pick(65536)));
    else if (w < 98) s.op(OP_GC);
    else s.op(OP_PARAM, {uint8_t(pick(10))}).u16(uint16_t(pick(65536)));
  }
  return s;
}

void write(const std::string& dir, const std::string& name, const Seed& s) {
  std::string path = dir + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  if (!f || fwrite(s.b.data(), 1, s.b.size(), f) != s.b.size() || fclose(f) != 0) {
    perror(path.c_str());
    exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  std::string d = argv[1];
  const uint32_t H0 = ip("192.168.1.10"), R0 = ip("198.51.100.10"), WAN = ip("203.0.113.1");
  const uint32_t STRAY = ip("192.168.1.66"), LANA = ip("192.168.1.1");

  write(d, "two-hosts-ikev2", two_hosts(0, 0));
  write(d, "two-hosts-ikev1", two_hosts(0, 1));
  write(d, "two-hosts-peer-rekeys", two_hosts(0, 2));
  write(d, "two-hosts-natt-ike", two_hosts(0, 4));
  write(d, "two-hosts-keep-ike-port", two_hosts(1, 0));
  write(d, "two-hosts-wan-ifindex", two_hosts(2, 0));
  write(d, "two-hosts-tight-limits", two_hosts(4, 0));
  write(d, "two-hosts-all-flags", two_hosts(7, 2));
  {
    Seed s(0);  // manual keys: two hosts, one peer, in turn
    s.manual(0, 0, 0x300, 0x400).manual(1, 0, 0x301, 0x401).op(OP_REINJECT).traffic(1, false);
    s.advance(1200).op(OP_REINJECT).traffic(1, false).traffic(0, true).traffic(1, true).advance(6000);
    write(d, "manual-keys-two-hosts", s);
  }
  {
    Seed s(4);  // a stray host keeps sending ESP the peer never answers
    s.negotiate(0, 0);
    for (int i = 0; i < 12; i++) s.esp(0, 0, 4, uint16_t(0x500 + i)).advance(900);
    s.progress(0, 0x10, 0x20).op(OP_REINJECT).progress(0, 0x10, 0x20).traffic(0, true);
    write(d, "attack-stray-esp", s);
  }
  {
    Seed s(4);  // IKE headers with random initiator SPIs fill the peer quota
    for (int i = 0; i < 24; i++) s.ike(0, uint8_t(i % 4), 4, 0, uint8_t(12 + i * 9), 0);
    s.negotiate(0, 0).progress(0, 1, 2).progress(0, 1, 2).traffic(0, true);
    write(d, "attack-ike-spi-flood", s);
  }
  {
    Seed s(0);  // a child-SA request every ~25 s keeps the peer's window
    s.negotiate(1, 0);
    for (int i = 0; i < 8; i++) s.ike(0, 0, 4, 2, uint8_t(12 + i), uint8_t(i)).advance(25000 / 16, false);
    s.negotiate(0, 0).op(OP_REINJECT).progress(1, 5, 6).traffic(0, true);
    write(d, "attack-window-keeper", s);
  }
  {
    Seed s(0);  // the peer's address from the LAN, to the router's LAN address
    s.negotiate(0, 0).progress(0, 0x40, 0x41);
    s.esp(0x1, 4, 0, 0x900).esp(0, 4, 9, 0x901).ike(0, 4, 9, 0x0a, 1, 1);
    s.raw(false, ipv4(R0, LANA, PROTO_ESP, esp(0x777)));
    s.progress(0, 0x40, 0x41).traffic(0, true);
    write(d, "attack-peer-from-lan", s);
    Seed w(2);
    w.b = s.b;
    w.b[0] = 2;
    write(d, "attack-peer-from-lan-wan-ifindex", w);
  }
  {
    Seed s(0);  // ICMP errors quoting ESP both ways
    s.manual(0, 0, 0x600, 0x700).icmp(1, 7, 8, 4, 0x600).icmp(0x14, 0, 4, 10, 0x700);
    s.raw(true, ipv4(ip("192.0.2.7"), WAN, PROTO_ICMP, icmp_error(11, ipv4(WAN, R0, PROTO_ESP, esp(0x1500)))));
    write(d, "icmp-errors", s);
  }
  {
    Seed s(0);  // raw packets of every kind the parser reads, and broken ones
    struct ike_info v2 = ike_hdr(2, IKEV2_EXCH_CREATE_CHILD, 0x1000000001ULL, 0x77, 3, false);
    Bytes e = ipv4(STRAY, R0, PROTO_ESP, esp(0x1234));
    s.raw(false, e).raw(false, e, 20).raw(false, e, 0);
    s.raw(true, ipv4(R0, WAN, PROTO_ESP, esp(0x4321)));
    s.raw(false, ipv4(STRAY, R0, PROTO_UDP, udp(500, 500, ike(v2))));
    s.raw(true, ipv4(R0, WAN, PROTO_UDP, udp(4500, 4500, natt(ike(v2)))));
    s.raw(false, ipv4(STRAY, R0, PROTO_UDP, udp(4500, 4500, Bytes{0xff})));           // keepalive
    s.raw(false, ipv4(STRAY, R0, PROTO_UDP, udp(4500, 4500, esp(0x1234, 40))));       // ESP in UDP
    s.raw(false, ipv4(STRAY, R0, PROTO_ESP, esp(0x1234), 0x2000));                    // fragment
    s.raw(false, ipv4(STRAY, R0, PROTO_UDP, udp(500, 500, Bytes(20, 0)), 0x0008));
    Bytes bad = e;
    bad[0] = 0x44;
    s.raw(false, bad);
    bad = e;
    bad[0] = 0x4f;
    s.raw(false, bad);
    bad = e;
    bad[3] = 0xff;
    s.raw(false, bad);
    s.raw(false, ipv4(STRAY, R0, PROTO_ESP, Bytes{0x12, 0x34}));  // ESP cut before its SPI
    Bytes q = ipv4(WAN, R0, PROTO_UDP, udp(500, 500, Bytes(8)));
    s.raw(true, ipv4(ip("192.0.2.7"), WAN, PROTO_ICMP, icmp_error(3, q)));  // quoting UDP
    q = ipv4(WAN, R0, PROTO_ESP, esp(0x1500));
    s.raw(true, ipv4(ip("192.0.2.7"), WAN, PROTO_ICMP, icmp_error(3, q, 22)));  // quote cut short
    s.raw(false, ipv4(WAN, R0, PROTO_ESP, esp(0x1234)));  // router-local source
    s.raw(false, ipv4(H0, R0, PROTO_ESP, esp(0x1234)));   // an honest host's address: not sent
    write(d, "raw-packets", s);
  }
  {
    Seed s(4);  // flush and parameter changes with mappings live
    s.negotiate(0, 0).progress(0, 1, 2).progress(0, 1, 2).manual(2, 1, 9, 10);
    s.op(OP_PARAM, {3}).u16(1).op(OP_PARAM, {9}).u16(100).op(OP_FLUSH).op(OP_ZONES_TAKE);
    s.op(OP_PARAM, {9}).u16(100).op(OP_GC).traffic(0, true).traffic(1, false).negotiate(0, 0).progress(1, 3, 4);
    write(d, "flush-and-params", s);
  }
  for (uint8_t k = 0; k < 6; k++) {
    // one of the table's allocations fails, early or during the story
    Seed s(0);
    Bytes story = two_hosts(0, k % 3).b;
    s.op(OP_ALLOC_FAIL, {uint8_t(k)});
    s.b.insert(s.b.end(), story.begin() + PARAM_BYTES, story.end());
    write(d, "alloc-fail-" + std::to_string(k), s);
  }
  {
    // the controller's handover: dumped mappings added again, new ones
    // (honest hosts and peers, pool addresses, zones at and past the
    // range's ends, draining, IKE), deletes, then the story goes on
    Seed s(4);  // tight limits: 6 zones, 3 SAs per host, 6 per peer, 12 in all
    Bytes story = two_hosts(0, 0).b;
    s.b.insert(s.b.end(), story.begin() + PARAM_BYTES, story.end());
    auto add = [&](uint8_t f, uint8_t h, uint8_t r, uint8_t z, uint16_t so, uint16_t si) {
      s.op(OP_ADD_MAPPING, {f, h, r, z}).u16(so).u16(si);
    };
    for (uint8_t i = 0; i < 4; i++) add(1, i, 0, 0, 0, 0);
    add(4 | 8, 2, 1, 3, 0x7001, 0x7002);           // honest host 2, peer 1
    add(4 | 8 | 64, 2, 1, 3, 0x7003, 0x7004);      // draining, same pair
    add(4 | 8 | 16 | 32, 3, 0, 4, 7, 8);           // honest SPI values
    add(2 | 4 | 8 | 16, 3, 2, 5, 0, 0);            // an honest IKE SA's ispi
    add(0, 0, 5, 0, 0x10, 0x11);                   // zone below the range
    add(4 | 8, 1, 2, 6, 0x20, 0x21);               // zone past the range
    add(4 | 8, 0, 1, 3, 0x30, 0x31);               // zone of another pair
    add(4, 1, 7, 1, 0x40, 0x41);                   // a pool peer
    s.traffic(0, true).traffic(1, true).advance(500);
    s.op(OP_DEL_MAPPING, {0}).op(OP_DEL_MAPPING, {2}).traffic(0, true).traffic(1, false);
    s.negotiate(1, 0).progress(3, 0x103, 0x203).op(OP_REINJECT).traffic(3, true);
    s.advance(40000).op(OP_GC).op(OP_ZONES_TAKE);
    add(4 | 8, 2, 1, 3, 0x7001, 0x7002);           // its zone now being flushed?
    s.op(OP_GC);
    add(4 | 8, 2, 1, 3, 0x7001, 0x7002);
    write(d, "handover", s);
  }
  for (uint32_t i = 0; i < 30; i++) {
    char name[32];
    snprintf(name, sizeof(name), "story-%02u", i);
    write(d, name, random_story(1000 + i));
  }
  return 0;
}
