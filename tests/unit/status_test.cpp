// status_test.cpp: grouping of conntrack entries into VPN sessions.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <algorithm>
#include <sstream>

#include "error.h"
#include "status.h"

using namespace vpnpt;

namespace {

uint32_t ip(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return ntohl(a.s_addr);
}

CtTuple tup(uint8_t proto, const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  return CtTuple{proto, ip(src), ip(dst), sport, dport};
}

// host:sport → server:dport, masqueraded to wan:nat_port.
CtEntry outbound(uint8_t proto, const char* host, uint16_t sport, const char* server, uint16_t dport, uint16_t nat_port) {
  CtEntry e;
  e.orig = tup(proto, host, sport, server, dport);
  e.reply = tup(proto, server, dport, "203.0.113.1", nat_port);
  e.status = IPS_SRC_NAT | IPS_CONFIRMED | IPS_ASSURED;
  e.timeout = 100;
  e.start_ns = 1000ULL * 1000000000ULL;
  return e;
}

const uint64_t kNow = 1042ULL * 1000000000ULL;

}  // namespace

TEST(Sessions, PptpCallsJoinTheirControlConnection) {
  std::vector<CtEntry> entries;
  CtEntry c1 = outbound(6, "192.168.1.2", 40000, "203.0.113.2", 1723, 40000);
  c1.helper = "pptp";
  CtEntry c2 = outbound(6, "192.168.1.3", 40000, "203.0.113.2", 1723, 1024);
  c2.helper = "pptp";
  // GRE: host call ID 1 both; the server sees 1 and 2 after translation.
  CtEntry g1 = outbound(47, "192.168.1.2", 1, "203.0.113.2", 7, 1);
  g1.has_master = true;
  g1.master = c1.orig;
  CtEntry g2 = outbound(47, "192.168.1.3", 1, "203.0.113.2", 8, 2);
  g2.has_master = true;
  g2.master = c2.orig;
  entries = {c1, c2, g1, g2};
  CtExpectation x;
  x.helper = "pptp";
  x.expect = tup(47, "203.0.113.2", 0, "203.0.113.1", 2);
  x.master = c2.orig;
  x.timeout = 30;

  auto j = sessions_json(entries, {x}, kNow);
  ASSERT_EQ(j["hosts"].size(), 2u) << j.dump(2);
  const auto& h1 = j["hosts"][0];
  EXPECT_EQ(h1["host"], "192.168.1.2");
  ASSERT_EQ(h1["sessions"].size(), 1u);
  const auto& s1 = h1["sessions"][0];
  EXPECT_EQ(s1["kind"], "pptp");
  EXPECT_EQ(s1["helper"], "pptp");
  EXPECT_EQ(s1["remote"], "203.0.113.2:1723");
  EXPECT_EQ(s1["nat"], "203.0.113.1:40000");
  EXPECT_EQ(s1["age"], 42);
  ASSERT_EQ(s1["calls"].size(), 1u);
  EXPECT_EQ(s1["calls"][0]["call_id"], 1);
  EXPECT_EQ(s1["calls"][0]["peer_call_id"], 7);
  EXPECT_EQ(s1["calls"][0]["nat_call_id"], 1);
  const auto& s2 = j["hosts"][1]["sessions"][0];
  EXPECT_EQ(s2["calls"][0]["nat_call_id"], 2);
  ASSERT_EQ(s2["expectations"].size(), 1u);
  EXPECT_EQ(s2["expectations"][0]["protocol"], "gre");
  EXPECT_TRUE(j["expectations"].empty());
}

TEST(Sessions, KindsAndDirections) {
  CtEntry ike = outbound(17, "192.168.1.2", 500, "198.51.100.7", 500, 500);
  CtEntry natt = outbound(17, "192.168.1.2", 4500, "198.51.100.7", 4500, 4500);
  CtEntry l2tp = outbound(17, "192.168.1.3", 1701, "198.51.100.8", 1701, 1701);
  CtEntry esp = outbound(50, "192.168.1.3", 0, "198.51.100.9", 0, 0);
  CtEntry web = outbound(6, "192.168.1.3", 5555, "198.51.100.10", 443, 5555);  // not a VPN
  CtEntry local = web;  // not NATed at all: not ours
  local.status = IPS_CONFIRMED;
  local.orig.dport = 1723;
  // A WAN client reaching a forwarded WireGuard server.
  CtEntry fwd;
  fwd.orig = tup(17, "198.51.100.20", 3333, "203.0.113.1", 51820);
  fwd.reply = tup(17, "192.168.1.10", 51820, "198.51.100.20", 3333);
  fwd.status = IPS_DST_NAT | IPS_CONFIRMED;

  auto j = sessions_json({ike, natt, l2tp, esp, web, local, fwd}, {}, kNow);
  ASSERT_EQ(j["hosts"].size(), 3u) << j.dump(2);
  auto kinds = [&](size_t h) {
    std::vector<std::string> k;
    for (const auto& s : j["hosts"][h]["sessions"]) k.push_back(s["kind"]);
    return k;
  };
  // Hosts in address order: .2, .3, .10.
  EXPECT_EQ(j["hosts"][0]["host"], "192.168.1.2");
  EXPECT_EQ(kinds(0), (std::vector<std::string>{"ike", "nat-t"}));
  EXPECT_EQ(kinds(1), (std::vector<std::string>{"l2tp", "esp"}));
  EXPECT_EQ(j["hosts"][1]["sessions"][1]["remote"], "198.51.100.9");
  EXPECT_EQ(j["hosts"][2]["host"], "192.168.1.10");
  EXPECT_EQ(kinds(2), (std::vector<std::string>{"forward"}));
  const auto& f = j["hosts"][2]["sessions"][0];
  EXPECT_EQ(f["direction"], "inbound");
  EXPECT_EQ(f["local"], "192.168.1.10:51820");
  EXPECT_EQ(f["remote"], "198.51.100.20:3333");
  EXPECT_EQ(f["nat"], "203.0.113.1:51820");
}

TEST(Sessions, AgeUnknownWithoutTimestamps) {
  CtEntry ike = outbound(17, "192.168.1.2", 500, "198.51.100.7", 500, 500);
  ike.start_ns = 0;
  auto j = sessions_json({ike}, {}, kNow);
  EXPECT_TRUE(j["hosts"][0]["sessions"][0]["age"].is_null());
}

// Thousands of sessions: the text view gives one line per host and says how
// to see each; --all lists them all.
TEST(Sessions, TextViewSummarisesThousands) {
  std::vector<CtEntry> entries;
  for (uint16_t i = 0; i < 300; ++i)
    entries.push_back(outbound(17, i % 3 ? "192.168.1.2" : "192.168.1.3", 1024 + i, "198.51.100.7", 4500, 1024 + i));
  Sessions s = collect_sessions(entries, {}, kNow);
  ASSERT_EQ(s.total, 300u);
  std::ostringstream brief, all;
  print_sessions(s, /*all=*/false, brief);
  const std::string b = brief.str();
  EXPECT_NE(b.find("sessions: 300 on 2 host(s)"), std::string::npos) << b;
  EXPECT_NE(b.find("  192.168.1.2         200 session(s): nat-t 200\n"), std::string::npos) << b;
  EXPECT_NE(b.find("--all"), std::string::npos);
  EXPECT_EQ(std::count(b.begin(), b.end(), '\n'), 4) << b;
  print_sessions(s, /*all=*/true, all);
  const std::string a = all.str();
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 1 + 2 + 300);
  // A few stay listed one by one.
  std::ostringstream few;
  print_sessions(collect_sessions({entries[0], entries[1]}, {}, kNow), false, few);
  EXPECT_NE(few.str().find("nat-t    -> 198.51.100.7:4500  via 203.0.113.1:1024"), std::string::npos) << few.str();
}

// The JSON is written by hand: strings from the kernel are escaped.
TEST(Sessions, JsonEscapesKernelStrings) {
  CtEntry c = outbound(6, "192.168.1.2", 40000, "203.0.113.2", 1723, 40000);
  c.helper = "pp\"t\\p\n";
  auto j = sessions_json({c}, {}, kNow);  // parses what was written
  EXPECT_EQ(j["hosts"][0]["sessions"][0]["helper"], "pp\"t\\p\n");
}

// PPTP calls find their control connection by tuple, whatever the order of
// the dump, and a call whose control is gone is a session of its own.
TEST(Sessions, CallsBeforeTheirControlAndOrphanCalls) {
  CtEntry c1 = outbound(6, "192.168.1.2", 40000, "203.0.113.2", 1723, 40000);
  CtEntry g1 = outbound(47, "192.168.1.2", 1, "203.0.113.2", 7, 1);
  g1.has_master = true;
  g1.master = c1.orig;
  CtEntry g2 = outbound(47, "192.168.1.4", 5, "203.0.113.2", 9, 5);
  g2.has_master = true;
  g2.master = tup(6, "192.168.1.4", 41000, "203.0.113.2", 1723);  // no such control
  auto j = sessions_json({g1, g2, c1}, {}, kNow);
  ASSERT_EQ(j["hosts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["hosts"][0]["sessions"][0]["calls"].size(), 1u);
  EXPECT_EQ(j["hosts"][1]["sessions"][0]["kind"], "gre");
  EXPECT_FALSE(j["hosts"][1]["sessions"][0].contains("calls"));
}

namespace {

Status status_with_mappings(size_t n) {
  Status st;
  st.version = "test";
  st.config = "/etc/vpnpt.toml";
  st.esp.configured = "mux";
  st.esp.module_loaded = true;
  st.esp.counters = {{"pairs", n}};
  for (size_t i = 0; i < n; ++i) {
    espmux::Mapping m;
    m.kind = "esp";
    m.host = "192.168.1." + std::to_string(2 + i);
    m.peer = "198.51.100.7";
    m.spi_out = uint32_t(0x1000 + i);
    m.spi_in = uint32_t(0x2000 + i);
    m.state = "bound";
    m.reason = "ike";
    m.zone = uint16_t(7 + i);
    m.age_ms = 61500;
    m.packets_out = 3;
    m.bytes_out = 300 + i;
    st.esp.mappings.push_back(m);
  }
  return st;
}

}  // namespace

// `status --json` writes the module's mappings as its dump is read
// (EspStatus::stream), never holding them: the same JSON as from a vector,
// and what went wrong in the dump said after the array.
TEST(Status, MappingsStreamedAsFromAVector) {
  for (size_t n : {0u, 1u, 3u}) {
    Status kept = status_with_mappings(n);
    Status streamed = kept;
    streamed.esp.mappings.clear();
    size_t calls = 0;
    streamed.esp.stream = [&](const std::function<void(const espmux::Mapping&)>& each) {
      ++calls;
      for (const auto& m : kept.esp.mappings) each(m);
      return true;
    };
    std::ostringstream a, b;
    write_status_json(kept, a);
    write_status_json(streamed, b);
    EXPECT_EQ(a.str(), b.str());
    EXPECT_EQ(calls, 1u);
    auto j = nlohmann::json::parse(b.str());
    ASSERT_EQ(j["esp"]["mappings"].size(), n);
    if (n) {
      EXPECT_EQ(j["esp"]["mappings"][1 % n]["host"], kept.esp.mappings[1 % n].host);
      EXPECT_EQ(j["esp"]["mappings"][0]["age"], 61);
      EXPECT_EQ(j["esp"]["mappings"][0]["zone"], 7);
    }
    // As nlohmann::json prints the same document.
    EXPECT_EQ(b.str(), j.dump(2) + "\n");

    std::ostringstream text;
    print_status(streamed, false, text);
    EXPECT_NE(text.str().find(n ? "  " + std::to_string(n) + " mapping(s)\n" : "  mappings: none\n"),
              std::string::npos)
        << text.str();
  }

  // A mapping without a reason (imported from an export that had none)
  // shows its state alone, not "bound ()".
  Status noreason = status_with_mappings(2);
  noreason.esp.mappings[1].reason.clear();
  std::ostringstream nr;
  print_status(noreason, false, nr);
  EXPECT_NE(nr.str().find("  bound (ike)  zone 7"), std::string::npos) << nr.str();
  EXPECT_NE(nr.str().find("  bound  zone 8"), std::string::npos) << nr.str();

  Status st = status_with_mappings(2);
  auto source = st.esp.mappings;
  st.esp.mappings.clear();
  st.esp.stream = [&](const std::function<void(const espmux::Mapping&)>& each) {
    each(source[0]);
    return false;  // NLM_F_DUMP_INTR
  };
  std::ostringstream intr;
  write_status_json(st, intr);
  auto j = nlohmann::json::parse(intr.str());
  EXPECT_EQ(j["esp"]["mappings"].size(), 1u);
  EXPECT_EQ(j["esp"]["mappings_interrupted"], true);

  st.esp.stream = [&](const std::function<void(const espmux::Mapping&)>& each) -> bool {
    each(source[0]);
    throw Error(ErrorKind::Kernel, "esp mux", "GET_MAPPINGS: gone", "");
  };
  std::ostringstream err;
  write_status_json(st, err);
  j = nlohmann::json::parse(err.str());
  EXPECT_EQ(j["esp"]["mappings"].size(), 1u);
  EXPECT_NE(j["esp"]["mappings_error"].get<std::string>().find("gone"), std::string::npos);
  EXPECT_TRUE(j["esp"]["module_loaded"].get<bool>());
}
