// doctor_test.cpp: vpnpt doctor's system and session checks over made-up
// snapshots of /proc/sys and conntrack, and its report.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "config.h"
#include "doctor.h"

using namespace vpnpt;
using nlohmann::json;

namespace {

const char* kConfig = R"([wan]
interface = "eth0"
[lan]
interfaces = ["br0"]
subnets = ["192.168.1.0/24"]
)";

Config config(const std::string& extra = {}) { return parse_config(kConfig + extra, "test.toml"); }

std::string fix(const Finding& f, const std::string& tool) {
  for (const auto& [t, text] : f.fixes)
    if (t == tool) return text;
  return {};
}

}  // namespace

TEST(DoctorSystem, ConntrackNearFull) {
  SystemSnapshot s;
  s.ct_max = 1000;
  s.ct_count = 900;
  EXPECT_TRUE(check_system(config(), s).empty());
  s.ct_count = 901;
  auto f = check_system(config(), s);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "conntrack-full");
  EXPECT_EQ(f[0].found, "the conntrack table holds 901 of 1000 entries (90%)");
  EXPECT_NE(fix(f[0], "sysctl").find("sysctl -w net.netfilter.nf_conntrack_max=65536"), std::string::npos);
}

TEST(DoctorSystem, StrictRpFilterOnOurInterfaces) {
  SystemSnapshot s;
  s.rp_filter = {{"eth0", 1}, {"br0", 2}};
  auto f = check_system(config(), s);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "rp-filter");
  EXPECT_EQ(f[0].found, "rp_filter is strict (1) on eth0");
}

TEST(DoctorSystem, RemovedHelperSysctlAdvice) {
  SystemSnapshot s;
  s.settings = {{"/etc/sysctl.d/pptp.conf", "# net.netfilter.nf_conntrack_helper = 1\nnet.netfilter.nf_conntrack_helper = 1\n"}};
  auto f = check_system(config(), s);  // helper_sysctl unset: the kernel has no such setting
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "helper-sysctl");
  EXPECT_EQ(f[0].found, "/etc/sysctl.d/pptp.conf:2: net.netfilter.nf_conntrack_helper = 1");
  EXPECT_NE(f[0].why.find("Linux 6.0 removed"), std::string::npos);
  s.helper_sysctl = 1;  // an older kernel that still has it, on
  f = check_system(config(), s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].check, "helper-autoassign");
}

TEST(DoctorSystem, KernelPieces) {
  SystemSnapshot s;
  s.pieces = {{"nf_conntrack_pptp", "PPTP conntrack helper", PieceState::Missing},
              {"nf_nat_pptp", "PPTP NAT", PieceState::Unknown}};
  s.gre_tracking = false;
  s.esp_module = PieceState::Missing;
  auto f = check_system(config("[ipsec]\nesp = \"mux\"\n"), s);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].check, "kernel-piece");
  EXPECT_EQ(f[0].found, "nf_conntrack_pptp is missing from this kernel");
  EXPECT_EQ(f[1].check, "gre-tracking");
  EXPECT_EQ(f[2].check, "esp-module");
  EXPECT_EQ(check_system(config("[ipsec]\nesp = \"auto\"\n[pptp]\nenabled = false\n"),
                         SystemSnapshot{.gre_tracking = false, .esp_module = PieceState::Missing})
                .size(),
            0u);
}

namespace {

CtEntry entry(uint8_t proto, const char* src, const char* dst, uint16_t dport, bool snat) {
  auto ip = [](const char* s) {
    unsigned a, b, c, d;
    sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d);
    return (a << 24) | (b << 16) | (c << 8) | d;
  };
  CtEntry e;
  e.orig = {proto, ip(src), ip(dst), 1024, dport};
  e.reply = {proto, ip(dst), ip("198.51.100.1"), dport, 1024};
  e.status = snat ? 0x10 /* IPS_SRC_NAT */ : 0x20 /* IPS_DST_NAT */;
  return e;
}

}  // namespace

TEST(DoctorSessions, GreWithoutMasterAndControlWithoutHelper) {
  CtEntry ctl = entry(6, "192.168.1.10", "203.0.113.5", 1723, true);
  CtEntry gre = entry(47, "192.168.1.10", "203.0.113.5", 0, true);
  auto f = check_sessions(config(), EspMode::Mux, {ctl, gre});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].check, "pptp-no-helper");
  EXPECT_EQ(f[0].found, "1 PPTP control connection(s) without the pptp helper, e.g. 192.168.1.10 -> 203.0.113.5");
  EXPECT_EQ(f[1].check, "gre-no-master");
  // With the helper and a master: nothing.
  ctl.helper = "pptp";
  gre.has_master = true;
  EXPECT_TRUE(check_sessions(config(), EspMode::Mux, {ctl, gre}).empty());
}

TEST(DoctorSessions, TwoHostsRawEspToOnePeerWithSingle) {
  std::vector<CtEntry> e = {entry(50, "192.168.1.10", "203.0.113.5", 0, true),
                            entry(50, "192.168.1.11", "203.0.113.5", 0, true),
                            entry(50, "192.168.1.12", "203.0.113.9", 0, true)};
  auto f = check_sessions(config(), EspMode::Single, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "esp-single-shared");
  EXPECT_EQ(f[0].found, "2 LAN hosts (192.168.1.10, 192.168.1.11) send raw ESP to 203.0.113.5 with esp = \"single\"");
  EXPECT_TRUE(check_sessions(config(), EspMode::Mux, e).empty());
}

// What tests/vm/t-l2tp-xl2tpd-control.sh's router holds with [l2tp]
// enabled = false: each LAN host's tunnel to the LNS (masqueraded, the
// second host's port remapped) UNREPLIED, and the LNS's answers from port
// 1702 to those public ports, ending at the router:
//   udp src=192.168.1.2 dst=203.0.113.2 sport=1701 dport=1701 [UNREPLIED]
//       src=203.0.113.2 dst=203.0.113.1 sport=1701 dport=1701
//   udp src=203.0.113.2 dst=203.0.113.1 sport=1702 dport=1701 [UNREPLIED]
//       src=203.0.113.1 dst=203.0.113.2 sport=1701 dport=1702
TEST(DoctorSessions, L2tpRepliesFromAnotherPortWithL2tpOff) {
  auto ip = [](unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; };
  const uint32_t lns = ip(203, 0, 113, 2), wan = ip(203, 0, 113, 1);
  auto tunnel = [&](uint32_t host, uint16_t public_port) {
    CtEntry e;
    e.orig = {17, host, lns, 1701, 1701};
    e.reply = {17, lns, wan, 1701, public_port};
    e.status = 0x10 | 0x8;  // IPS_SRC_NAT | IPS_CONFIRMED, not IPS_SEEN_REPLY
    return e;
  };
  auto answer = [&](uint16_t public_port) {
    CtEntry e;
    e.orig = {17, lns, wan, 1702, public_port};
    e.reply = {17, wan, lns, public_port, 1702};
    e.status = 0x8;
    return e;
  };
  std::vector<CtEntry> e = {tunnel(ip(192, 168, 1, 2), 1701), answer(1701), tunnel(ip(192, 168, 1, 3), 1024),
                            answer(1024)};
  Config off = config("[l2tp]\nenabled = false\n");
  auto f = check_sessions(off, EspMode::Mux, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "l2tp-other-port");
  EXPECT_EQ(f[0].found, "2 LAN hosts' L2TP tunnels (192.168.1.2, 192.168.1.3) to 203.0.113.2 get no reply: "
                        "203.0.113.2 answers from port 1702 to the router's 203.0.113.1:1024, 203.0.113.1:1701");
  EXPECT_NE(f[0].why.find("RFC 2661"), std::string::npos) << f[0].why;
  EXPECT_NE(fix(f[0], "vpnpt").find("[l2tp]\nenabled = true"), std::string::npos) << fix(f[0], "vpnpt");
  EXPECT_NE(fix(f[0], "vpnpt").find("vpnpt apply"), std::string::npos);

  // vpnpt's [l2tp] on: its rules send such answers on; nothing to say.
  EXPECT_TRUE(check_sessions(config(), EspMode::Mux, e).empty());
  // A tunnel that got its reply works (the LNS answers from 1701 too).
  std::vector<CtEntry> replied = e;
  replied[0].status |= 0x2;  // IPS_SEEN_REPLY
  replied[2].status |= 0x2;
  EXPECT_TRUE(check_sessions(off, EspMode::Mux, replied).empty());
  // An unanswered tunnel alone (the server is down) is not this.
  EXPECT_TRUE(check_sessions(off, EspMode::Mux, {e[0], e[2]}).empty());
  // An answer to another public port is not for this tunnel.
  EXPECT_TRUE(check_sessions(off, EspMode::Mux, {e[0], answer(2000)}).empty());
}

TEST(DoctorReport, JsonAndText) {
  DoctorReport r;
  r.checks = {{"rules", "findings", ""}, {"sessions", "skipped", "conntrack unreadable"}};
  Finding f;
  f.check = "foreign-drop";
  f.found = "x drops y";
  f.why = "because";
  f.table = "inet filter";
  f.chain = "forward";
  f.handle = 7;
  f.fixes = {{"nftables", "nft insert rule inet filter forward position 7 udp dport 500 accept"}};
  r.findings = {f};
  json j = doctor_json(r);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["findings"][0]["handle"], 7);
  EXPECT_EQ(j["findings"][0]["fixes"][0]["tool"], "nftables");
  EXPECT_EQ(j["checks"][1]["note"], "conntrack unreadable");
  std::ostringstream out;
  print_doctor(r, out);
  EXPECT_EQ(out.str(),
            "vpnpt doctor: 1 finding\n\n[foreign-drop] x drops y\n  why: because\n  fix (nftables):\n"
            "    nft insert rule inet filter forward position 7 udp dport 500 accept\n\n"
            "checks: rules findings, sessions skipped\n  sessions: conntrack unreadable\n");
}
