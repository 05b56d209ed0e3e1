// mux_transfer_test.cpp: vpnpt mux export/import's document and its
// all-or-nothing import (a fake module refuses where told).
#include "mux_transfer.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "error.h"

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
  EXPECT_EQ(problem_of(R"({"format": "vpnpt-mux-mappings", "version": 2, "mappings": []})"),
            "version 2: this vpnpt reads version 1");
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

// Records every call; refuses the ADD of entry `refuse_at` with EEXIST.
struct FakeModule : Module {
  size_t refuse_at = SIZE_MAX;
  int del_error = 0;
  size_t adds = 0;
  std::vector<std::string> calls;
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
