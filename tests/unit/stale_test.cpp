// stale_test.cpp: which conntrack entries apply deletes (stale.h), one rule
// per case, each beside an entry that must be left alone.
#include <gtest/gtest.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>

#include "stale.h"

using namespace vpnpt;

namespace {

constexpr uint32_t kLan = 0xC0A80102, kLan2 = 0xC0A80103;  // 192.168.1.2, .3
constexpr uint32_t kWan = 0xCB007101, kSrv = 0xCB007102;   // 203.0.113.1, .2

CtEntry flow(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t status,
             uint32_t nat_src = kWan) {
  CtEntry e;
  e.id = 1;
  e.orig = {proto, src, dst, sport, dport};
  e.reply = {proto, dst, status & IPS_SRC_NAT ? nat_src : src, dport, sport};
  e.status = status;
  return e;
}

StaleScope scope() {
  StaleScope s;
  s.pptp_lan = s.ike = s.l2tp = true;
  s.ike_since_ns = 1000;
  s.local = {kWan, 0xC0A80101};
  s.wan = {kWan};
  return s;
}

std::vector<std::string> kinds(const std::vector<StaleEntry>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(stale_kind_name(s.kind));
  return out;
}

}  // namespace

TEST(Stale, PptpControlWithoutHelperAndItsGre) {
  auto ctl = flow(IPPROTO_TCP, kLan, 40000, kSrv, 1723, IPS_SRC_NAT);
  auto helped = flow(IPPROTO_TCP, kLan2, 40001, kSrv, 1723, IPS_SRC_NAT);
  helped.helper = "pptp";
  auto gre = flow(IPPROTO_GRE, kLan, 0, kSrv, 0x4001, IPS_SRC_NAT);
  auto gre_back = flow(IPPROTO_GRE, kSrv, 0, kWan, 1, 0);  // the server's, before any reply
  auto gre_of_helped = flow(IPPROTO_GRE, kLan2, 0, kSrv, 0x4002, IPS_SRC_NAT);
  auto gre_mastered = flow(IPPROTO_GRE, kLan, 0, kSrv, 0x4003, IPS_SRC_NAT);
  gre_mastered.has_master = true;
  auto plain_gre = flow(IPPROTO_GRE, kLan2, 0, 0x08080808, 0, IPS_SRC_NAT);
  EXPECT_EQ(kinds(find_stale(scope(), {ctl, helped, gre, gre_back, gre_of_helped, gre_mastered, plain_gre})),
            (std::vector<std::string>{"pptp-control", "pptp-gre", "pptp-gre"}));
  auto off = scope();
  off.pptp_lan = false;
  EXPECT_TRUE(find_stale(off, {ctl, gre}).empty());
}

TEST(Stale, IkeBeganBeforeThePolicy) {
  auto old_ike = flow(IPPROTO_UDP, kLan, 500, kSrv, 500, IPS_SRC_NAT);
  old_ike.start_ns = 999;
  auto no_stamp = flow(IPPROTO_UDP, kLan, 4500, kSrv, 4500, IPS_SRC_NAT);
  auto new_ike = flow(IPPROTO_UDP, kLan2, 4500, kSrv, 4500, IPS_SRC_NAT);
  new_ike.start_ns = 1001;
  auto to_router = flow(IPPROTO_UDP, kSrv, 500, kWan, 500, 0);  // the router's own IKE
  auto dns = flow(IPPROTO_UDP, kLan, 5353, kSrv, 53, IPS_SRC_NAT);
  EXPECT_EQ(kinds(find_stale(scope(), {old_ike, no_stamp, new_ike, to_router, dns})),
            (std::vector<std::string>{"ike", "ike"}));
}

TEST(Stale, ForwardTakenByTheRouter) {
  auto s = scope();
  s.forwards = {{IPPROTO_UDP, 51820}, {IPPROTO_GRE, 0}};
  auto wg = flow(IPPROTO_UDP, kSrv, 3333, kWan, 51820, 0);
  auto wg_dnat = flow(IPPROTO_UDP, kSrv, 3334, kWan, 51820, IPS_DST_NAT);
  auto gre = flow(IPPROTO_GRE, kSrv, 0, kWan, 0, 0);
  auto other = flow(IPPROTO_UDP, kSrv, 3335, kWan, 51821, 0);
  EXPECT_EQ(kinds(find_stale(s, {wg, wg_dnat, gre, other})), (std::vector<std::string>{"forward", "forward"}));
}

TEST(Stale, L2tpReplyFromAnotherPort) {
  auto lns = flow(IPPROTO_UDP, kLan, 1701, kSrv, 1701, IPS_SRC_NAT);
  lns.reply.dport = 1701;  // masquerade kept the port
  auto reply = flow(IPPROTO_UDP, kSrv, 40000, kWan, 1701, 0);
  auto unrelated = flow(IPPROTO_UDP, kSrv, 40000, kWan, 1702, 0);
  EXPECT_EQ(kinds(find_stale(scope(), {lns, reply, unrelated})), (std::vector<std::string>{"l2tp-reply"}));
}
