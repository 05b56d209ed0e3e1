// cli_test.cpp: the command line as a user meets it (runs the binary).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "run.h"
#include <string>

namespace {

using vpnpt_test::Result;

Result run_env(const std::string& env, const std::string& args) {
  return vpnpt_test::run(env + " " + std::string(VPNPT_BINARY) + " " + args);
}

Result run(const std::string& args) { return run_env("", args); }

std::string temp_config(const std::string& text) {
  // one file per test: ctest runs tests of this binary in parallel
  std::string path = ::testing::TempDir() + "/cli_test-" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(Cli, HelpListsEverySubcommand) {
  Result r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* sub : {"check", "show", "apply", "status", "remove", "doctor", "mux"})
    EXPECT_NE(r.out.find(std::string("  ") + sub + " "), std::string::npos) << sub << " missing in:\n" << r.out;
  EXPECT_NE(r.out.find("--config"), std::string::npos);
  EXPECT_NE(r.out.find("Exit status"), std::string::npos);
}

TEST(Cli, SubcommandHelp) {
  EXPECT_NE(run("apply --help").out.find("--dry-run"), std::string::npos);
  EXPECT_NE(run("status --help").out.find("--json"), std::string::npos);
  EXPECT_NE(run("doctor --help").out.find("--json"), std::string::npos);
  EXPECT_NE(run("--help").out.find("7 doctor found something in the way of passthrough"), std::string::npos);
}

TEST(Cli, MuxHelpAndUsage) {
  EXPECT_NE(run("mux --help").out.find("export"), std::string::npos);
  EXPECT_NE(run("mux export --help").out.find("--output"), std::string::npos);
  EXPECT_NE(run("--help").out.find("9 (mux import) the module refused a mapping"), std::string::npos);
  EXPECT_EQ(run("mux").status, 2);
  EXPECT_EQ(run("mux import").status, 2);  // FILE is required
}

// The file is checked before the lock or the module: a wrong one changes
// nothing and needs no root.
TEST(Cli, MuxImportChecksTheFileFirst) {
  std::string path = ::testing::TempDir() + "/cli_test-mux.json";
  std::ofstream(path) << R"({"format": "vpnpt-mux-mappings", "version": 1, "mappings": [{"kind": "esp"}]})";
  Result r = run("--run-dir /nonexistent/run mux import " + path);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("vpnpt: error: " + path + ": mappings[0]: host: missing"), std::string::npos) << r.out;
  r = run("mux import /nonexistent/mappings.json");
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/mappings.json: cannot read"), std::string::npos) << r.out;
}

TEST(Cli, Version) {
  Result r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, std::string("vpnpt ") + VPNPT_VERSION_STRING + "\n");
}

TEST(Cli, UsageErrorsExit2) {
  EXPECT_EQ(run("").status, 2);
  EXPECT_EQ(run("frobnicate").status, 2);
  EXPECT_EQ(run("apply --bogus").status, 2);
  EXPECT_EQ(run("--config").status, 2);
}

TEST(Cli, ConfigErrorExit3NamesLine) {
  std::string path = temp_config("[wan]\ninterface = \"eth0\"\ncolour = \"blue\"\n[lan]\ninterfaces = [\"br0\"]\n");
  Result r = run("--config " + path + " show");
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.out.find("vpnpt: error: " + path + ":3: wan.colour: unknown key"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hint: known keys here: interface, masquerade"), std::string::npos) << r.out;
}

TEST(Cli, MissingConfigExit3) {
  Result r = run("--config /nonexistent.toml check");
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.out.find("/nonexistent.toml: cannot read"), std::string::npos) << r.out;
}

TEST(Cli, ShowNeedsNoRootAndNoInterfaces) {
  Result r = run("--config " + temp_config("[wan]\ninterface = \"nosuch0\"\n[lan]\nsubnets = [\"10.0.0.0/8\"]\n") + " show");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("table inet vpnpt {"), std::string::npos);
  EXPECT_NE(r.out.find("oifname \"nosuch0\" meta nfproto ipv4 rt ipsec missing masquerade"), std::string::npos);
}

TEST(Cli, CheckNamesAMissingInterface) {
  Result r = run("--config " + temp_config("[wan]\ninterface = \"nosuch0\"\n[lan]\nsubnets = [\"10.0.0.0/8\"]\n") + " check");
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.out.find(":2: wan.interface: no interface named \"nosuch0\""), std::string::npos) << r.out;
}

TEST(Cli, WithoutNetAdminSaysSoOnce) {
  // As an unprivileged user (dropped with setpriv when the test runs as root).
  std::string as_nobody = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  Result r = vpnpt_test::run(as_nobody + VPNPT_BINARY + " --config " VPNPT_SOURCE_DIR "/etc/vpnpt.toml status");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_EQ(r.out, "vpnpt: error: permission: this command needs CAP_NET_ADMIN (nftables, conntrack)\nhint: run it as root\n");
}

// Under `sudo -E` the environment is the user's, but the templates are read
// and the run folder written with root's rights: vpnpt takes neither from
// the environment, only from --rules-dir and --run-dir.
TEST(Cli, EnvironmentDoesNotChooseTheTemplates) {
  std::string evil = ::testing::TempDir() + "/cli_test_evil_rules";
  std::filesystem::create_directories(evil);
  for (const auto& e : std::filesystem::directory_iterator(VPNPT_SOURCE_DIR "/rules"))
    std::filesystem::copy_file(e.path(), evil + "/" + e.path().filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
  std::ofstream(evil + "/base.nft", std::ios::app) << "\n# planted by the environment\n";
  std::string cfg = temp_config("[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"192.168.1.0/24\"]\n");
  Result r = run_env("VPNPT_RULES_DIR=" + evil, "-c " + cfg + " show");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("planted by the environment"), std::string::npos) << r.out;
  r = run("-c " + cfg + " --rules-dir " + evil + " show");
  EXPECT_NE(r.out.find("planted by the environment"), std::string::npos) << r.out;  // the option works
}

TEST(Cli, RunDirIsAnOption) {
  Result r = run("--help");
  EXPECT_NE(r.out.find("--run-dir"), std::string::npos) << r.out;
}

// A config anyone else can write could add DNAT forwards to a router: like
// sshd's StrictModes, vpnpt refuses it (exit 6) and says mode and owner.
TEST(Cli, WritableConfigIsRefused) {
  std::string path = temp_config("[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.0.0.0/8\"]\n");
  for (mode_t mode : {0664, 0646}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    Result r = run("--config " + path + " show");
    EXPECT_EQ(r.status, 6) << r.out;
    char m[8];
    std::snprintf(m, sizeof m, "%04o", unsigned(mode));
    EXPECT_NE(r.out.find("vpnpt: error: " + path + ": unsafe permissions: mode " + m + ", owner "),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("--no-strict-perms"), std::string::npos) << r.out;  // the hint names the override
    r = run("--no-strict-perms --config " + path + " show");
    EXPECT_EQ(r.status, 0) << r.out;
  }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_EQ(run("--config " + path + " show").status, 0);
}

TEST(Cli, ConfigOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  std::string path = temp_config("[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.0.0.0/8\"]\n");
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  Result r = run("--config " + path + " show");
  EXPECT_EQ(r.status, 6) << r.out;
  EXPECT_NE(r.out.find("mode 0644, owner uid 65534"), std::string::npos) << r.out;
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);
  EXPECT_EQ(run("--config " + path + " show").status, 0);
}
