// pair_test.cpp: reading conntrackd's config and statistics (src/pair.cpp).
#include <gtest/gtest.h>

#include "pair.h"

namespace vpnpt {
namespace {

TEST(Pair, SocketPathFromUnixBlock) {
  EXPECT_EQ(conntrackd_socket_path("General {\n\tUNIX {\n\t\tPath /run/x.ctl\n\t}\n}\n"), "/run/x.ctl");
}

TEST(Pair, SocketPathIgnoresComments) {
  EXPECT_EQ(conntrackd_socket_path("General {\n# UNIX { Path /wrong }\n\tUNIX { Path /right # here\n }\n}\n"),
            "/right");
}

TEST(Pair, SocketPathDefault) {
  EXPECT_EQ(conntrackd_socket_path("General {\n\tHashSize 32768\n}\n"), "/var/run/conntrackd.ctl");
}

TEST(Pair, StatsCounts) {
  // As conntrackd 1.4.7 prints "conntrackd -s".
  const std::string text =
      "cache internal:\n"
      "current active connections:\t           8\n"
      "connections created:\t\t           9\tfailed:\t           0\n"
      "\n"
      "cache external:\n"
      "current active connections:\t          12\n"
      "connections created:\t\t          12\tfailed:\t           0\n";
  std::optional<uint64_t> in, ex;
  parse_conntrackd_stats(text, in, ex);
  ASSERT_TRUE(in && ex);
  EXPECT_EQ(*in, 8u);
  EXPECT_EQ(*ex, 12u);
}

TEST(Pair, StatsWithoutCaches) {
  std::optional<uint64_t> in, ex;
  parse_conntrackd_stats("traffic processed:\n 0 Bytes 0 Pckts\n", in, ex);
  EXPECT_FALSE(in || ex);
}

TEST(Pair, RoleFromWanAddresses) {
  PairStatus p;
  EXPECT_STREQ(p.role(), "unknown");
  p.wan_interface = "eth0";
  EXPECT_STREQ(p.role(), "standby");
  p.wan_addresses = {"203.0.113.1"};
  EXPECT_STREQ(p.role(), "active");
}

TEST(Pair, TextOnlyWithConntrackd) {
  PairStatus p;
  p.wan_interface = "eth0";
  EXPECT_EQ(pair_text(p), "");
  p.conntrackd = true;
  p.pid = 42;
  p.config = "/etc/conntrackd/conntrackd.conf";
  p.answered = true;
  p.internal = 0;
  p.external = 9;
  EXPECT_EQ(pair_text(p),
            "pair: standby (no IPv4 address on eth0); sync: conntrackd running (pid 42, "
            "/etc/conntrackd/conntrackd.conf), 0 internal, 9 external entries\n");
  const auto j = pair_json(p);
  EXPECT_EQ(j["role"], "standby");
  EXPECT_EQ(j["conntrackd"]["external"], 9);
}

}  // namespace
}  // namespace vpnpt
