// doctor_rules_test.cpp: vpnpt doctor's ruleset analysis over canned
// rulesets, as the kernel lists them from tests/unit/doctor/*.nft (see
// regen.sh there).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config.h"
#include "doctor_rules.h"

using namespace vpnpt;
using nlohmann::json;

namespace {

const char* kConfig = R"([wan]
interface = "eth0"
[lan]
interfaces = ["br0"]
subnets = ["192.168.1.0/24"]
[[forward]]
service = "wireguard"
to = "192.168.1.10"
)";

Config config(const std::string& extra = {}) { return parse_config(kConfig + extra, "test.toml"); }

std::string read(const std::string& name) {
  std::ifstream in(std::string(VPNPT_SOURCE_DIR "/tests/unit/doctor/") + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json canned(const std::string& name) { return json::parse(read(name + ".json")).at("nftables"); }

RulesetContext context(const Config& cfg) {
  RulesetContext ctx;
  ctx.wan = cfg.wan_interface;
  ctx.lan = cfg.lan_interfaces;
  ctx.pptp = cfg.pptp;
  return ctx;
}

std::vector<Finding> drops(const std::string& name, const Config& cfg = config()) {
  return find_foreign_drops(canned(name), passthrough_flows(cfg), context(cfg));
}

// The handle of the rule in `chain` of the canned ruleset whose JSON
// contains `needle`.
uint64_t handle_of(const std::string& name, const std::string& chain, const std::string& needle) {
  for (const auto& item : canned(name))
    if (item.contains("rule") && item["rule"]["chain"] == chain && item["rule"].dump().find(needle) != std::string::npos)
      return item["rule"]["handle"];
  ADD_FAILURE() << "no rule with " << needle;
  return 0;
}

std::string fix(const Finding& f, const std::string& tool) {
  for (const auto& [t, text] : f.fixes)
    if (t == tool) return text;
  return {};
}

bool mentions(const Finding& f, const std::string& s) { return f.found.find(s) != std::string::npos; }

}  // namespace

TEST(DoctorRules, PolicyDropWithoutAcceptIsFound) {
  auto f = drops("policy-drop");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "foreign-policy-drop");
  EXPECT_EQ(f[0].table, "inet filter");
  EXPECT_EQ(f[0].chain, "forward");
  EXPECT_FALSE(f[0].handle);
  for (const char* flow : {"new IKE (UDP 500) from br0 to eth0", "new PPTP data (GRE)", "new IPv6 IPsec ESP",
                           "new L2TP (UDP 1701)", "forwarded forward wireguard (udp 51820 to 192.168.1.10)"})
    EXPECT_TRUE(mentions(f[0], flow)) << flow << " in " << f[0].found;
  // Replies are accepted by ct state established,related: not reported,
  // and the why says that this covers only tracked flows.
  EXPECT_FALSE(mentions(f[0], "replies")) << f[0].found;
  uint64_t est = handle_of("policy-drop", "forward", "established");
  EXPECT_NE(f[0].why.find("Rule handle " + std::to_string(est) + " accepts ct state established/related: that "
                          "covers only flows conntrack already tracks"),
            std::string::npos)
      << f[0].why;
  std::string nft = fix(f[0], "nftables");
  EXPECT_NE(nft.find("nft add rule inet filter forward iifname \"br0\" oifname \"eth0\" meta l4proto { esp, gre } accept"),
            std::string::npos)
      << nft;
  EXPECT_NE(nft.find("nft add rule inet filter forward iifname \"br0\" oifname \"eth0\" udp dport { 500, 1701, 4500 } accept"),
            std::string::npos)
      << nft;
  EXPECT_NE(nft.find("iifname \"eth0\" oifname \"br0\" ct status dnat udp dport 51820 accept"), std::string::npos) << nft;
  EXPECT_FALSE(fix(f[0], "persistent").empty());
}

TEST(DoctorRules, FixGoesToTheToolThatOwnsTheTable) {
  Config cfg = config();
  RulesetContext ctx = context(cfg);
  ctx.debian_tables = declared_tables("#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n");
  auto f = find_foreign_drops(canned("policy-drop"), passthrough_flows(cfg), ctx);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(fix(f[0], "/etc/nftables.conf").find("systemctl reload nftables"), std::string::npos);
  EXPECT_TRUE(fix(f[0], "persistent").empty());

  // The same chain in firewalld's table: firewall-cmd, not nft.
  std::string text = read("policy-drop.json");
  for (size_t p; (p = text.find("\"filter\"")) != std::string::npos;) text.replace(p, 8, "\"firewalld\"");
  f = find_foreign_drops(json::parse(text).at("nftables"), passthrough_flows(cfg), ctx);
  ASSERT_EQ(f.size(), 1u);
  std::string fw = fix(f[0], "firewalld");
  EXPECT_NE(fw.find("--add-ingress-zone=\"$(firewall-cmd --get-zone-of-interface=br0)\""), std::string::npos) << fw;
  EXPECT_NE(fw.find("--add-protocol=gre"), std::string::npos) << fw;
  EXPECT_NE(fw.find("--add-port=500/udp"), std::string::npos) << fw;
  EXPECT_NE(fw.find("--add-port=51820/udp"), std::string::npos) << fw;
  EXPECT_TRUE(fix(f[0], "nftables").empty());
}

TEST(DoctorRules, AcceptingTheLanAndRepliesIsClean) {
  EXPECT_TRUE(drops("lan-accept").empty());
}

TEST(DoctorRules, ExplicitDropsNameTheRule) {
  auto f = drops("explicit-drop");
  uint64_t ike = handle_of("explicit-drop", "forward", "4500");
  uint64_t esp = handle_of("explicit-drop", "forward", "reject");
  uint64_t gre = handle_of("explicit-drop", "forward", "gre");
  std::map<uint64_t, const Finding*> by;
  for (const auto& x : f) by[x.handle.value_or(0)] = &x;
  ASSERT_EQ(f.size(), 3u);
  ASSERT_TRUE(by.count(ike) && by.count(esp) && by.count(gre));

  EXPECT_EQ(by[ike]->check, "foreign-drop");
  for (const char* flow : {"new IKE (UDP 500)", "new IPsec NAT-T (UDP 4500)", "new IPv6 IKE (UDP 500)",
                           "replies of IKE (UDP 500) from eth0 to br0"})
    EXPECT_TRUE(mentions(*by[ike], flow)) << flow << " in " << by[ike]->found;
  EXPECT_NE(fix(*by[ike], "nftables").find("nft insert rule inet filter forward position " + std::to_string(ike) +
                                           " ct state established,related accept"),
            std::string::npos)
      << fix(*by[ike], "nftables");

  // ip protocol esp: IPv4 ESP only; IPv6 ESP passes that rule.
  EXPECT_TRUE(mentions(*by[esp], "new IPsec ESP from br0 to eth0")) << by[esp]->found;
  EXPECT_FALSE(mentions(*by[esp], "IPv6")) << by[esp]->found;
  // L2TP is accepted before its drop: never reported.
  for (const auto& x : f) EXPECT_FALSE(mentions(x, "L2TP")) << x.found;

  // `ip saddr 10.0.0.0/8 meta l4proto gre drop` may drop GRE: it names GRE.
  // `ip saddr 10.0.0.0/8 drop` names nothing of ours: not reported.
  EXPECT_EQ(by[gre]->check, "foreign-drop-maybe");
  EXPECT_TRUE(mentions(*by[gre], "may drop new PPTP data (GRE)")) << by[gre]->found;
}

TEST(DoctorRules, JumpsAreFollowedAndFamiliesKeptApart) {
  auto f = drops("jump");
  ASSERT_EQ(f.size(), 2u);
  // ip fw: GRE dropped in lan_fwd; everything else from br0 accepted there.
  EXPECT_EQ(f[0].table, "ip fw");
  EXPECT_EQ(f[0].chain, "lan_fwd");
  EXPECT_TRUE(mentions(f[0], "new PPTP data (GRE)")) << f[0].found;
  EXPECT_FALSE(mentions(f[0], "IPv6")) << f[0].found;
  // ip6 fw6: IPv6 ESP only.
  EXPECT_EQ(f[1].table, "ip6 fw6");
  EXPECT_TRUE(mentions(f[1], "new IPv6 IPsec ESP")) << f[1].found;
  EXPECT_NE(f[1].why.find("RFC 6092"), std::string::npos);
}

TEST(DoctorRules, CtStatusDnatAcceptsOnlyTheForwards) {
  json rules = json::parse(R"([
    {"chain": {"family": "inet", "table": "router", "name": "forward", "handle": 1, "type": "filter",
               "hook": "forward", "prio": 0, "policy": "drop"}},
    {"rule": {"family": "inet", "table": "router", "chain": "forward", "handle": 2, "expr": [
      {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"accept": null}]}}])");
  Config cfg = config();
  auto f = find_foreign_drops(rules, passthrough_flows(cfg), context(cfg));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(mentions(f[0], "new IKE (UDP 500) from br0 to eth0")) << f[0].found;
  EXPECT_FALSE(mentions(f[0], "wireguard")) << f[0].found;
}

TEST(DoctorRules, OwnTableIsNotForeign) {
  std::string text = read("policy-drop.json");
  for (size_t p; (p = text.find("\"filter\"")) != std::string::npos;) text.replace(p, 8, "\"vpnpt\"");
  Config cfg = config();
  EXPECT_TRUE(find_foreign_drops(json::parse(text).at("nftables"), passthrough_flows(cfg), context(cfg)).empty());
}

TEST(DoctorRules, ConfigDecidesTheFlows) {
  // Without PPTP and IPsec, only L2TP and the forward are looked for.
  Config cfg = config("[pptp]\nenabled = false\n[ipsec]\nenabled = false\n");
  auto f = drops("policy-drop", cfg);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(mentions(f[0], "GRE"));
  EXPECT_FALSE(mentions(f[0], "IKE"));
  EXPECT_TRUE(mentions(f[0], "L2TP"));
}

TEST(DoctorRules, HelperBeforeConntrackIsFound) {
  Config cfg = config();
  RulesetContext ctx = context(cfg);
  auto f = find_early_helpers(canned("helper-raw"), ctx);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "helper-before-conntrack");
  EXPECT_EQ(f[0].chain, "early");
  EXPECT_EQ(*f[0].handle, handle_of("helper-raw", "early", "pptp"));
  EXPECT_TRUE(mentions(f[0], "priority -300, before conntrack (-200)")) << f[0].found;
  EXPECT_NE(fix(f[0], "nftables").find("nft delete rule inet helpers early handle " + std::to_string(*f[0].handle)),
            std::string::npos);
}

TEST(DoctorRules, FlowtableOffloadingUdpIsFound) {
  Config cfg = config();
  auto f = find_offloads(canned("flowtable"), passthrough_flows(cfg, true), context(cfg));
  // inet filter handle 4 (ip protocol { tcp, udp }) offloads the IPv4 UDP
  // flows; handle 3 (tcp only) and table good (accepts them first) do not.
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "flowtable-offload");
  EXPECT_EQ(f[0].table, "inet filter");
  EXPECT_EQ(*f[0].handle, 4u);
  for (const char* flow : {"IKE (UDP 500)", "NAT-T (UDP 4500)", "L2TP (UDP 1701)"})
    EXPECT_TRUE(mentions(f[0], flow)) << flow << " in " << f[0].found;
  EXPECT_FALSE(mentions(f[0], "IPv6")) << f[0].found;
  EXPECT_FALSE(mentions(f[0], "PPTP")) << f[0].found;
  EXPECT_FALSE(mentions(f[0], "wireguard")) << f[0].found;  // plain UDP loses nothing by it
  EXPECT_NE(fix(f[0], "nftables").find("nft insert rule inet filter forward position 4 ct state established,related "
                                       "meta l4proto udp ct original proto-dst { 500, 1701, 4500 } accept"),
            std::string::npos);
  // New flows are never offloaded: the flow statement acts on established ones.
  std::vector<Flow> fresh;
  for (const auto& x : passthrough_flows(cfg, false))
    if (x.state == CtState::New) fresh.push_back(x);
  EXPECT_TRUE(find_offloads(canned("flowtable"), fresh, context(cfg)).empty());
}

TEST(DoctorRules, MissingTableAndHelperPaths) {
  Config cfg = config();
  auto f = find_missing_helpers(canned("policy-drop"), cfg);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "table-absent");
  EXPECT_EQ(fix(f[0], "vpnpt"), "vpnpt apply");

  json own = json::array({json{{"chain", {{"family", "inet"}, {"table", "vpnpt"}, {"name", "lan_in"}, {"handle", 1}}}},
                          json{{"chain", {{"family", "inet"}, {"table", "vpnpt"}, {"name", "out_filter"}, {"handle", 2}}}},
                          json{{"rule", {{"family", "inet"}, {"table", "vpnpt"}, {"chain", "lan_in"}, {"handle", 3},
                                         {"expr", json::array({json{{"ct helper", "pptp"}}})}}}}});
  f = find_missing_helpers(own, cfg);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "helper-missing");
  EXPECT_EQ(f[0].chain, "out_filter");
}

TEST(DoctorRules, RuleTextsAndDeclaredTables) {
  auto t = rule_texts("table inet filter { # handle 1\n\tset s { # handle 3\n\t\ttype ipv4_addr\n\t}\n"
                      "\tchain forward { # handle 1\n\t\ttype filter hook forward priority filter; policy drop;\n"
                      "\t\tudp dport 500 drop # handle 7\n\t}\n}\n");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t["inet filter forward 7"], "udp dport 500 drop");
  auto d = declared_tables("table inet filter {\n}\ntable nat {\n}\nadd table ip6 x\n# table inet no\n");
  EXPECT_EQ(d, (std::set<std::string>{"inet filter", "ip nat", "ip6 x"}));
}

TEST(DoctorRules, PmtuIcmpDropsAreFound) {
  Config cfg = config();
  RulesetContext ctx = context(cfg);
  // The tunnels themselves pass: nothing for the rules check.
  EXPECT_TRUE(drops("pmtu").empty());
  auto f = find_pmtu_drops(canned("pmtu"), pmtu_flows(cfg, ctx), ctx);
  ASSERT_EQ(f.size(), 2u);
  // inet filter: policy drop, and ct state established does not cover ICMP
  // errors (related), over IPv4 and IPv6.
  EXPECT_EQ(f[0].check, "pmtu-icmp-drop");
  EXPECT_EQ(f[0].table, "inet filter");
  EXPECT_FALSE(f[0].handle);
  EXPECT_EQ(f[0].found, "table inet filter, chain forward (hook forward, priority 0) has policy drop and no rule "
                        "accepting ICMP fragmentation needed (type 3 code 4) from eth0 to br0, IPv6 ICMPv6 packet "
                        "too big (type 2) from eth0 to br0");
  uint64_t est = handle_of("pmtu", "forward", "established");
  EXPECT_NE(f[0].why.find("Rule handle " + std::to_string(est) + " accepts ct state established but not related"),
            std::string::npos)
      << f[0].why;
  EXPECT_NE(f[0].why.find("black hole"), std::string::npos);
  EXPECT_EQ(fix(f[0], "nftables"),
            "nft add rule inet filter forward icmp type destination-unreachable icmp code frag-needed ct state "
            "related accept\nnft add rule inet filter forward icmpv6 type packet-too-big ct state related accept");
  // ip6 fw6: the rule that names packet-too-big; IPv6 only.
  EXPECT_EQ(f[1].table, "ip6 fw6");
  uint64_t ptb = handle_of("pmtu", "forward", "packet-too-big");
  EXPECT_EQ(f[1].handle, ptb);
  EXPECT_TRUE(mentions(f[1], "drops IPv6 ICMPv6 packet too big (type 2) from eth0 to br0")) << f[1].found;
  EXPECT_EQ(fix(f[1], "nftables"), "nft insert rule ip6 fw6 forward position " + std::to_string(ptb) +
                                       " icmpv6 type packet-too-big ct state related accept");

  // A WAN MTU below the LAN's (PPPoE): the router sends the error itself,
  // and table ip out drops it at output. The MTUs are named in the why.
  ctx.wan_mtu = 1492;
  ctx.lan_mtu = {{"br0", 1500}};
  f = find_pmtu_drops(canned("pmtu"), pmtu_flows(cfg, ctx), ctx);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1].table, "ip out");
  EXPECT_EQ(f[1].chain, "output");
  EXPECT_TRUE(mentions(f[1], "drops the router's own ICMP fragmentation needed (type 3 code 4) to br0")) << f[1].found;
  EXPECT_NE(f[1].why.find("WAN interface eth0 has MTU 1492, smaller than br0's 1500"), std::string::npos) << f[1].why;
  // Equal MTUs: the router never needs to send it; output is not looked at.
  ctx.wan_mtu = 1500;
  EXPECT_EQ(find_pmtu_drops(canned("pmtu"), pmtu_flows(cfg, ctx), ctx).size(), 2u);

  // Without IPsec there is no IPv6 flow to pass, so no IPv6 finding.
  Config no6 = config("[ipsec]\nenabled = false\n");
  f = find_pmtu_drops(canned("pmtu"), pmtu_flows(no6, ctx), ctx);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(mentions(f[0], "IPv6")) << f[0].found;

  // ct state established,related (here a verdict map) accepts them.
  EXPECT_TRUE(find_pmtu_drops(canned("lan-accept"), pmtu_flows(cfg, ctx), ctx).empty());
}
