// mux_transfer_test.cpp: vpnpt mux export/import's document and its
// all-or-nothing import (a fake module refuses where told).
#include "mux_transfer.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "conntrack.h"
#include "error.h"
#include "nlattr.h"

namespace {

using vpnpt::Error;
using vpnpt::ErrorKind;
using namespace vpnpt::muxxfer;

vpnpt::espmux::Mapping esp(const char* host, uint32_t out, uint32_t in, const char* state, uint16_t zone) {
  vpnpt::espmux::Mapping m;
  m.kind = "esp";
  m.host = host;
  m.peer = "203.0.113.2";
  m.spi_out = out;
  m.spi_in = in;
  m.state = state;
  m.zone = zone;
  m.packets_in = 7;  // counters are not part of the document
  m.reason = "esp-first";
  return m;
}

vpnpt::espmux::Mapping ike(const char* host, uint64_t i, uint64_t r, uint16_t zone) {
  vpnpt::espmux::Mapping m;
  m.kind = "ike";
  m.host = host;
  m.peer = "203.0.113.2";
  m.ike_ispi = i;
  m.ike_rspi = r;
  m.ike_version = 2;
  m.zone = zone;
  return m;
}

Document sample() {
  Document d = from_dump({esp("192.168.1.2", 0xc001, 0xc101, "bound", 1024),
                          esp("192.168.1.3", 0xc002, 0, "pending", 1025),
                          esp("192.168.1.2", 0xc003, 0xc103, "draining", 1024),
                          ike("192.168.1.3", 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 1025)});
  d.router = "ra";
  d.exported_at = "2026-12-01T14:00:00Z";
  return d;
}

std::string problem_of(const std::string& text) {
  try {
    parse(text, "/tmp/m.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_EQ(e.subject(), "/tmp/m.json");
    return e.problem();
  }
  return "(accepted)";
}

// One entry in an otherwise valid document.
std::string with_entry(const std::string& entry) {
  return R"({"format": "vpnpt-mux-mappings", "version": 1, "mappings": [)" + entry + "]}";
}

const char kGoodEsp[] =
    R"({"kind": "esp", "host": "192.168.1.2", "peer": "203.0.113.2", "zone": 1024, "spi_out": "0x0000c001", "spi_in": "0x0000c101", "state": "bound"})";

}  // namespace

TEST(MuxTransfer, PendingIsCountedNotExported) {
  Document d = sample();
  ASSERT_EQ(d.mappings.size(), 3u);
  EXPECT_EQ(d.pending_not_exported, 1u);
  EXPECT_EQ(d.mappings[1].state, "draining");
  EXPECT_EQ(d.mappings[2].kind, "ike");
}

TEST(MuxTransfer, RenderThenParseIsTheSame) {
  Document d = sample();
  std::string text = render(d);
  // SPIs as hex strings, as ip xfrm prints them; the 64-bit IKE SPI exact
  EXPECT_NE(text.find(R"("spi_in": "0x0000c101")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("ike_ispi": "0x0123456789abcdef")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("pending_not_exported": 1)"), std::string::npos) << text;
  Document back = parse(text, "f");
  ASSERT_EQ(back.mappings.size(), d.mappings.size());
  for (size_t i = 0; i < d.mappings.size(); i++) {
    EXPECT_TRUE(back.mappings[i].same_mapping(d.mappings[i])) << i;
    EXPECT_EQ(back.mappings[i].zone, d.mappings[i].zone);
    EXPECT_EQ(back.mappings[i].state, d.mappings[i].state);
    EXPECT_EQ(back.mappings[i].ike_version, d.mappings[i].ike_version);
    EXPECT_EQ(back.mappings[i].reason, d.mappings[i].reason);
  }
  EXPECT_EQ(back.router, "ra");
  EXPECT_EQ(render(back), text);
}

// A bound SA the peer started, the host silent on it so far: no outbound
// SPI yet, but transferable (the module joins the host's first packet).
TEST(MuxTransfer, PeerStartedSaWithoutOutboundSpiIsExported) {
  auto m = esp("192.168.1.4", 0, 0xc104, "bound", 1026);
  m.reason = "ike";
  Document d = from_dump({m});
  ASSERT_EQ(d.mappings.size(), 1u);
  EXPECT_EQ(d.pending_not_exported, 0u);
  Document back = parse(render(d), "f");
  ASSERT_EQ(back.mappings.size(), 1u);
  EXPECT_EQ(back.mappings[0].spi_out, 0u);
  EXPECT_EQ(back.mappings[0].reason, "ike");
}

TEST(MuxTransfer, StateDefaultsToBound) {
  std::string e = kGoodEsp;
  e.erase(e.find(R"(, "state": "bound")"), std::string(R"(, "state": "bound")").size());
  EXPECT_EQ(parse(with_entry(e), "f").mappings.at(0).state, "bound");
}

TEST(MuxTransfer, WrongDocumentsNameFileAndEntry) {
  EXPECT_EQ(problem_of(with_entry(kGoodEsp)), "(accepted)");
  EXPECT_NE(problem_of("{").find("not JSON"), std::string::npos);
  EXPECT_NE(problem_of(R"({"format": "x", "version": 1, "mappings": []})").find("not a vpnpt mux export"),
            std::string::npos);
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 3, "mappings": []})"),
            "version 3: this vpnpt reads versions 1 to 2");
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 0, "mappings": []})"),
            "version 0: this vpnpt reads versions 1 to 2");
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 1})"), "\"mappings\": missing or not an array");

  auto entry = [](const std::string& from, const std::string& to) {
    std::string e = kGoodEsp;
    size_t at = e.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return problem_of(with_entry(std::string(kGoodEsp) + ", " + e.replace(at, from.size(), to)));
  };
  EXPECT_EQ(entry(R"("host": "192.168.1.2")", R"("host": "192.168.1.300")"),
            "mappings[1]: host: not an IPv4 address: \"192.168.1.300\"");
  EXPECT_EQ(entry(R"("spi_in": "0x0000c101")", R"("spi_in": "0x0")"),
            "mappings[1]: spi_in: 0 (a pending mapping is not transferable)");
  EXPECT_EQ(entry(R"("state": "bound")", R"("state": "bound", "reason": "magic")"),
            "mappings[1]: reason: \"magic\" is none of \"ike\", \"esp-first\", \"ike-out\", \"ike-only-host\"");
  EXPECT_EQ(entry(R"("spi_in": "0x0000c101")", R"("spi_in": 49409)"),
            "mappings[1]: spi_in: not a string (SPIs are written \"0x...\")");
  EXPECT_EQ(entry(R"("spi_out": "0x0000c001")", R"("spi_out": "0x1000000000")"),
            "mappings[1]: spi_out: not a hex number of at most 8 digits: \"0x1000000000\"");
  EXPECT_EQ(entry(R"("state": "bound")", R"("state": "pending")"),
            "mappings[1]: state: \"pending\" is neither \"bound\" nor \"draining\"");
  EXPECT_EQ(entry(R"("zone": 1024)", R"("zone": 70000)"), "mappings[1]: zone: not an integer in 1..65535: 70000");
  EXPECT_EQ(entry(R"("kind": "esp")", R"("kind": "gre")"), "mappings[1]: kind: \"gre\" is neither \"esp\" nor \"ike\"");
  EXPECT_EQ(entry(R"("zone": 1024)", R"("zone": 1024, "spi": "0x1")"), "mappings[1]: spi: unknown for kind esp");
  EXPECT_EQ(entry(R"("zone": 1024)", R"("zone": 1025)"),
            "mappings[1] (esp 192.168.1.2 <-> 203.0.113.2 spi_out 0x0000c001 spi_in 0x0000c101 zone 1025): "
            "the same mapping as mappings[0]");
  EXPECT_EQ(problem_of(with_entry(
                R"({"kind": "ike", "host": "192.168.1.2", "peer": "203.0.113.2", "zone": 9, "ike_ispi": "0x1", "ike_rspi": "0x0", "ike_version": 3})")),
            "mappings[0]: ike_version: not an integer in 1..2: 3");
}

namespace {

// Records every call; refuses the ADD of entry `refuse_at` with EEXIST,
// the conntrack entry of the ct_add number `ct_refuse_at` with EPERM, and
// answers EEXIST for the ct_add numbers in `ct_exists`.
struct FakeModule : Module {
  size_t refuse_at = SIZE_MAX;
  int del_error = 0;
  size_t adds = 0;
  size_t ct_refuse_at = SIZE_MAX, ct_adds = 0;
  std::vector<size_t> ct_exists;
  std::vector<std::string> calls;
  int ct_add(const Entry& e, const std::string& nat, std::string* msg) override {
    calls.push_back("ct_add " + e.describe() + " nat " + nat);
    size_t k = ct_adds++;
    if (k == ct_refuse_at) {
      *msg = "conntrack entry masqueraded to " + nat;
      return -EPERM;
    }
    for (size_t x : ct_exists)
      if (x == k) return -EEXIST;
    return 0;
  }
  int ct_del(const Entry& e, std::string*) override {
    calls.push_back("ct_del " + e.describe());
    return 0;
  }
  int add(const Entry& e, std::string* msg) override {
    calls.push_back("add " + e.describe());
    if (adds++ == refuse_at) {
      *msg = "SPI already mapped to another host";
      return -EEXIST;
    }
    return 0;
  }
  int del(const Entry& e, std::string* msg) override {
    calls.push_back("del " + e.describe());
    if (del_error) *msg = "no";
    return del_error;
  }
};

Document five() {
  std::vector<vpnpt::espmux::Mapping> dump;
  for (uint32_t i = 0; i < 5; i++) dump.push_back(esp("192.168.1.2", 0xa000 + i, 0xb000 + i, "bound", 1024));
  return from_dump(dump);
}

}  // namespace

TEST(MuxTransfer, ImportAddsEachInOrder) {
  Document d = five();
  FakeModule mod;
  ImportResult r = import_all(d, {}, mod);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.added, 5u);
  ASSERT_EQ(mod.calls.size(), 5u);
  for (size_t i = 0; i < 5; i++) EXPECT_EQ(mod.calls[i], "add " + d.mappings[i].describe());
}

TEST(MuxTransfer, RefusalAtKRemovesWhatThisRunAddedNewestFirst) {
  Document d = five();
  for (size_t k = 0; k < 5; k++) {
    FakeModule mod;
    mod.refuse_at = k;
    ImportResult r = import_all(d, {}, mod);
    ASSERT_TRUE(r.refused) << k;
    EXPECT_EQ(r.refused_index, k);
    EXPECT_EQ(r.error, -EEXIST);
    EXPECT_EQ(r.message, "SPI already mapped to another host");
    EXPECT_EQ(r.rolled_back, k);
    EXPECT_EQ(r.added, 0u);
    std::vector<std::string> want;
    for (size_t i = 0; i <= k; i++) want.push_back("add " + d.mappings[i].describe());
    for (size_t i = k; i-- > 0;) want.push_back("del " + d.mappings[i].describe());
    EXPECT_EQ(mod.calls, want) << "refused at " << k;
  }
}

TEST(MuxTransfer, RollbackLeavesWhatWasThereBefore) {
  // A second import of the same file, refused further on, must not delete
  // the mappings the first import (or the router's own traffic) made.
  Document d = five();
  FakeModule mod;
  mod.refuse_at = 3;
  std::vector<Entry> present{d.mappings[1]};
  ImportResult r = import_all(d, present, mod);
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.rolled_back, 2u);
  std::vector<std::string> dels;
  for (const auto& c : mod.calls)
    if (c.rfind("del ", 0) == 0) dels.push_back(c);
  EXPECT_EQ(dels, (std::vector<std::string>{"del " + d.mappings[2].describe(), "del " + d.mappings[0].describe()}));
}

TEST(MuxTransfer, ImportTwiceCountsAlreadyPresent) {
  Document d = five();
  FakeModule mod;
  ImportResult r = import_all(d, d.mappings, mod);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.added, 0u);
  EXPECT_EQ(r.already, 5u);
}

TEST(MuxTransfer, RollbackThatFailsSaysWhatRemains) {
  Document d = five();
  FakeModule mod;
  mod.refuse_at = 2;
  mod.del_error = -EPERM;
  ImportResult r = import_all(d, {}, mod);
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.rolled_back, 0u);
  ASSERT_EQ(r.not_rolled_back.size(), 2u);
  EXPECT_NE(r.not_rolled_back[0].find(d.mappings[1].describe()), std::string::npos);
  // gone meanwhile (expired) counts as removed
  FakeModule gone;
  gone.refuse_at = 2;
  gone.del_error = -ENOENT;
  EXPECT_EQ(import_all(d, {}, gone).rolled_back, 2u);
}

// ---- the masquerade of each ESP mapping (conntrack) ----

TEST(MuxTransfer, ExportRecordsEachEspMappingsNatAndTheWan) {
  Document d = sample();
  add_nat(d, {{"192.168.1.2", "203.0.113.2", "198.51.100.1", 1024},
              {"192.168.1.9", "203.0.113.2", "198.51.100.1", 1030},
              {"192.168.1.2", "203.0.113.2", "198.51.100.7", 1099}});  // another zone: not this mapping's
  ASSERT_EQ(d.mappings.size(), 3u);
  EXPECT_EQ(d.mappings[0].nat, "198.51.100.1");
  EXPECT_EQ(d.mappings[1].nat, "198.51.100.1");  // the draining SA, same host, zone and peer
  EXPECT_EQ(d.mappings[2].nat, "");              // ike: none
  EXPECT_EQ(d.wan, "198.51.100.1");              // most entries had it
  Document back = parse(render(d), "f");
  EXPECT_EQ(back.version, 2);
  EXPECT_EQ(back.wan, "198.51.100.1");
  EXPECT_EQ(back.mappings[0].nat, "198.51.100.1");
  EXPECT_EQ(back.mappings[2].nat, "");
  // No entry of its own: the document's wan.
  back.mappings[1].nat.clear();
  EXPECT_EQ(back.nat_of(back.mappings[1]), "198.51.100.1");
  EXPECT_EQ(back.nat_of(back.mappings[2]), "");
}

TEST(MuxTransfer, NatIsValidatedAndVersion1StillRead) {
  std::string v2 = R"({"format": "vpnpt-mux-mappings", "version": 2, "wan": "198.51.100.1", "mappings": [)";
  std::string esp_nat =
      R"({"kind": "esp", "host": "192.168.1.2", "peer": "203.0.113.2", "zone": 1024, "spi_out": "0x1", "spi_in": "0x2", "nat": "198.51.100.1"})";
  EXPECT_EQ(parse(v2 + esp_nat + "]}", "f").mappings.at(0).nat, "198.51.100.1");
  std::string bad = esp_nat;
  bad.replace(bad.find("\"198.51.100.1\""), 14, "\"wan0\"");
  EXPECT_EQ(problem_of(v2 + bad + "]}"), "mappings[0]: nat: not an IPv4 address: \"wan0\"");
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 2, "wan": 5, "mappings": []})"),
            "\"wan\": not an IPv4 address: 5");
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 1, "wan": "198.51.100.1", "mappings": []})"),
            "\"wan\": not in version 1");
  EXPECT_EQ(problem_of(with_entry(esp_nat)), "mappings[0]: nat: not in version 1");
  // ike has no nat
  EXPECT_EQ(problem_of(v2 +
                       R"({"kind": "ike", "host": "192.168.1.2", "peer": "203.0.113.2", "zone": 9, "ike_ispi": "0x1", "ike_rspi": "0x0", "ike_version": 2, "nat": "198.51.100.1"})" +
                       "]}"),
            "mappings[0]: nat: unknown for kind ike");
  // Version 1 (no nat): read, and its import creates no conntrack entry.
  Document v1 = parse(with_entry(kGoodEsp), "f");
  EXPECT_EQ(v1.version, 1);
  FakeModule mod;
  ImportResult r = import_all(v1, {}, mod);
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.ct_none, 1u);
  EXPECT_EQ(mod.ct_adds, 0u);
}

namespace {
// Five hosts, each its own zone (one conntrack entry each).
Document five_nat() {
  std::vector<vpnpt::espmux::Mapping> dump;
  const char* hosts[] = {"192.168.1.2", "192.168.1.3", "192.168.1.4", "192.168.1.5", "192.168.1.6"};
  for (uint32_t i = 0; i < 5; i++) dump.push_back(esp(hosts[i], 0xa000 + i, 0xb000 + i, "bound", uint16_t(1024 + i)));
  Document d = from_dump(dump);
  d.wan = "198.51.100.1";
  d.mappings[2].nat = "198.51.100.5";
  return d;
}
}  // namespace

TEST(MuxTransfer, ImportCreatesEachEspConntrackEntryAfterItsMapping) {
  Document d = five_nat();
  FakeModule mod;
  mod.ct_exists = {1};  // conntrackd synced that one: fine
  ImportResult r = import_all(d, {}, mod);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.added, 5u);
  EXPECT_EQ(r.ct_created, 4u);
  EXPECT_EQ(r.ct_present, 1u);
  ASSERT_EQ(mod.calls.size(), 10u);
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(mod.calls[2 * i], "add " + d.mappings[i].describe());
    EXPECT_EQ(mod.calls[2 * i + 1],
              "ct_add " + d.mappings[i].describe() + " nat " + (i == 2 ? "198.51.100.5" : "198.51.100.1"));
  }
}

TEST(MuxTransfer, ConntrackRefusalRollsBackEntriesAndMappings) {
  Document d = five_nat();
  FakeModule mod;
  mod.ct_exists = {0};     // not this run's: left alone
  mod.ct_refuse_at = 2;    // the third mapping's entry
  ImportResult r = import_all(d, {}, mod);
  ASSERT_TRUE(r.refused);
  EXPECT_TRUE(r.refused_ct);
  EXPECT_EQ(r.refused_index, 2u);
  EXPECT_EQ(r.error, -EPERM);
  EXPECT_EQ(r.message, "conntrack entry masqueraded to 198.51.100.5");
  std::vector<std::string> undo(mod.calls.begin() + 6, mod.calls.end());
  EXPECT_EQ(undo, (std::vector<std::string>{"del " + d.mappings[2].describe(), "ct_del " + d.mappings[1].describe(),
                                            "del " + d.mappings[1].describe(), "del " + d.mappings[0].describe()}));
  EXPECT_EQ(r.rolled_back, 4u);
  EXPECT_EQ(r.ct_created, 0u);
}

// The request that creates it: CT_NEW with CREATE|EXCL|ACK, both tuples
// (protocol 50, no ports), the zone, a timeout (required), a status that
// keeps IPS_CONFIRMED (the kernel sets it first and refuses to clear it),
// and CTA_NAT_SRC with MINIP = MAXIP = the NAT address, all in network order.
TEST(MuxTransfer, ConntrackCreateRequest) {
  using vpnpt::nl::Attr;
  using vpnpt::nl::each_attr;
  vpnpt::CtNew c;
  c.orig.proto = IPPROTO_ESP;
  c.orig.src = 0xc0a80102;
  c.orig.dst = 0xcb007102;
  c.zone = 1024;
  c.nat_src = 0xc6336401;
  c.timeout = 600;
  std::vector<uint8_t> m = vpnpt::ct_new_request(c, 7);
  auto* nh = reinterpret_cast<const nlmsghdr*>(m.data());
  ASSERT_EQ(nh->nlmsg_len, m.size());
  EXPECT_EQ(nh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW);
  EXPECT_EQ(nh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  EXPECT_EQ(nh->nlmsg_seq, 7u);
  EXPECT_EQ(static_cast<const nfgenmsg*>(NLMSG_DATA(nh))->nfgen_family, AF_INET);
  auto be32 = [](const Attr& a) {
    uint32_t v;
    std::memcpy(&v, a.data, 4);
    return ntohl(v);
  };
  std::map<uint16_t, std::string> tuples;  // "src dst proto ports"
  uint32_t timeout = 0, status = 0, minip = 0, maxip = 0;
  uint16_t zone = 0;
  size_t off = NLMSG_LENGTH(sizeof(nfgenmsg));
  each_attr(m.data() + off, m.size() - off, [&](const Attr& a) {
    if (a.type == CTA_TUPLE_ORIG || a.type == CTA_TUPLE_REPLY) {
      EXPECT_TRUE(a.raw_type & NLA_F_NESTED);
      std::string t;
      each_attr(a.data, a.len, [&](const Attr& g) {
        each_attr(g.data, g.len, [&](const Attr& x) {
          if (g.type == CTA_TUPLE_IP) t += std::to_string(be32(x)) + " ";
          if (g.type == CTA_TUPLE_PROTO && x.type == CTA_PROTO_NUM) t += "p" + std::to_string(x.data[0]);
          if (g.type == CTA_TUPLE_PROTO && x.type != CTA_PROTO_NUM) t += " port";
        });
      });
      tuples[a.type] = t;
    }
    if (a.type == CTA_ZONE) zone = uint16_t((a.data[0] << 8) | a.data[1]);
    if (a.type == CTA_TIMEOUT) timeout = be32(a);
    if (a.type == CTA_STATUS) status = be32(a);
    if (a.type == CTA_NAT_SRC)
      each_attr(a.data, a.len, [&](const Attr& x) {
        if (x.type == CTA_NAT_V4_MINIP) minip = be32(x);
        if (x.type == CTA_NAT_V4_MAXIP) maxip = be32(x);
      });
  });
  EXPECT_EQ(tuples[CTA_TUPLE_ORIG], std::to_string(0xc0a80102u) + " " + std::to_string(0xcb007102u) + " p50");
  EXPECT_EQ(tuples[CTA_TUPLE_REPLY], std::to_string(0xcb007102u) + " " + std::to_string(0xc0a80102u) + " p50");
  EXPECT_EQ(zone, 1024);
  EXPECT_EQ(timeout, 600u);
  EXPECT_TRUE(status & IPS_CONFIRMED);
  EXPECT_EQ(minip, 0xc6336401u);
  EXPECT_EQ(maxip, 0xc6336401u);
  c.nat_src = 0;
  m = vpnpt::ct_new_request(c, 1);
  bool nat = false;
  each_attr(m.data() + off, m.size() - off, [&](const Attr& a) { nat = nat || a.type == CTA_NAT_SRC; });
  EXPECT_FALSE(nat) << "no NAT address: no CTA_NAT_SRC";
}

// A draining SA beside its successor (same host, peer and zone): one
// conntrack entry for the pair, made after the first of them.
TEST(MuxTransfer, OneConntrackEntryPerHostPeerAndZone) {
  Document d = sample();  // esp .2 bound, esp .2 draining (zone 1024), ike
  d.wan = "198.51.100.1";
  FakeModule mod;
  ImportResult r = import_all(d, {}, mod);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.ct_created, 1u);
  EXPECT_EQ(r.ct_present, 0u);
  EXPECT_EQ(mod.calls, (std::vector<std::string>{"add " + d.mappings[0].describe(),
                                                 "ct_add " + d.mappings[0].describe() + " nat 198.51.100.1",
                                                 "add " + d.mappings[1].describe(), "add " + d.mappings[2].describe()}));
}
