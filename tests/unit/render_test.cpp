// render_test.cpp: rendered rulesets against golden files.
//
// Each tests/unit/golden/<name>.toml renders to <name>.nft. To accept a
// deliberate change: VPNPT_UPDATE_GOLDEN=1 ./unit_tests, then review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config.h"
#include "ruleset.h"

using namespace vpnpt;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = VPNPT_SOURCE_DIR "/tests/unit/golden";
const std::string kRules = VPNPT_SOURCE_DIR "/rules";
// The golden files are rendered as this version, not the build's: bumping
// VERSION must not change them.
const std::string kGoldenVersion = "0.0.0-golden";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesFile) {
  fs::path toml = fs::path(kGolden) / (GetParam() + ".toml");
  fs::path nft = fs::path(kGolden) / (GetParam() + ".nft");
  Config cfg = load_config(toml.string());
  Ruleset rs = render_ruleset(cfg, kRules, kGoldenVersion);
  if (std::getenv("VPNPT_UPDATE_GOLDEN")) {
    std::ofstream(nft) << rs.text;
    GTEST_SKIP() << "updated " << nft;
  }
  ASSERT_TRUE(fs::exists(nft)) << nft << " is missing: run with VPNPT_UPDATE_GOLDEN=1";
  EXPECT_EQ(rs.text, slurp(nft)) << "rendering of " << toml << " changed";
}

INSTANTIATE_TEST_SUITE_P(All, Golden,
                         ::testing::Values("default", "minimal", "forwards", "pptp-off", "no-masquerade"));

TEST(Render, DigestIsInCommentAndStable) {
  Config cfg = load_config(kGolden + "/default.toml");
  Ruleset a = render_ruleset(cfg, kRules), b = render_ruleset(cfg, kRules);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.digest.size(), 16u);
  EXPECT_NE(a.text.find("digest " + a.digest + "\""), std::string::npos);
  cfg.ike_timeout = 601;
  EXPECT_NE(render_ruleset(cfg, kRules).digest, a.digest);
}

TEST(Render, CommentNamesThisBuildsVersion) {
  Config cfg = load_config(kGolden + "/default.toml");
  Ruleset rs = render_ruleset(cfg, kRules);
  EXPECT_NE(rs.text.find("comment \"vpnpt " VPNPT_VERSION_STRING " digest " + rs.digest + "\""), std::string::npos);
  EXPECT_NE(render_ruleset(cfg, kRules, "9.9.9").digest, rs.digest);  // the version is part of the digest
}

TEST(Render, DigestFromComment) {
  EXPECT_EQ(digest_from_comment("vpnpt 0.1.0 digest 0123456789abcdef"), "0123456789abcdef");
  EXPECT_EQ(digest_from_comment("someone else's table"), "");
}

TEST(Render, GrowsBySetElementsNotRules) {
  // Subnets and forwards become set/map elements: the number of rules does
  // not depend on how many there are.
  auto rules = [](const std::string& text) {
    size_t n = 0;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
      if (line.find("dnat") != std::string::npos || line.find("lan_nets") != std::string::npos) ++n;
    return n;
  };
  std::string base = "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.0.0.0/24\"";
  std::string one = base + "]\n[[forward]]\nservice = \"wireguard\"\nto = \"10.0.0.2\"\n";
  std::string many = base + ", \"10.0.1.0/24\", \"10.0.2.0/24\"]\n";
  for (int i = 0; i < 20; ++i)
    many += "[[forward]]\nprotocol = \"udp\"\nport = " + std::to_string(10000 + i) + "\nto = \"10.0.0." +
            std::to_string(2 + i) + "\"\n";
  EXPECT_EQ(rules(render_ruleset(parse_config(one, "a"), kRules).text),
            rules(render_ruleset(parse_config(many, "b"), kRules).text));
}
