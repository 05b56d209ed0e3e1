// netns_test.cpp: the controller against this machine's real kernel, each
// test in a network namespace of its own (unshare), read back through
// libnftables JSON. Root only: skipped without CAP_SYS_ADMIN.
//
//   +-------------------------------+
//   | fresh netns (one per test)    |   eth0: a veth (the WAN side)
//   |   eth0 <-> eth0p    br0       |   br0:  a bridge (the LAN side)
//   +-------------------------------+   exactly what etc/vpnpt.toml names
#include <gtest/gtest.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <csignal>
#include <thread>
#include <atomic>

#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "conntrack.h"
#include "run.h"
#include "nft.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {


using vpnpt_test::Result;
using vpnpt_test::run;



class Netns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    ASSERT_EQ(run("ip link set lo up && ip link add eth0 type veth peer name eth0p && "
                  "ip link add br0 type bridge && ip link set eth0 up && ip link set br0 up")
                  .status,
              0);
    dir_ = fs::path(::testing::TempDir()) / ("vpnpt-netns-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    // The shipped config, as root's own file: a checkout may belong to
    // another user, whose file vpnpt (as root) rightly refuses.
    std::ifstream in(VPNPT_SOURCE_DIR "/etc/vpnpt.toml");
    std::stringstream ss;
    ss << in.rdbuf();
    kDefaultConfig = write("vpnpt.toml", ss.str());
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::string& text) {
    std::string p = (dir_ / name).string();
    std::ofstream(p) << text;
    chmod(p.c_str(), 0644);  // whatever the umask: vpnpt refuses group-writable configs
    return p;
  }

  // The whole ruleset as the kernel lists it, without counter values.
  std::string ruleset() {
    vpnpt::Nft nft;
    std::string out, err;
    nft.try_run("list ruleset", &out, &err);
    return out;
  }

  std::optional<json> table_json() {
    vpnpt::Nft nft;
    std::string out, err;
    if (!nft.try_run("list table inet vpnpt", &out, &err, false, true)) return std::nullopt;
    return json::parse(out).at("nftables");
  }

  void nft(const std::string& cmds) {
    vpnpt::Nft n;
    std::string out, err;
    ASSERT_TRUE(n.try_run(cmds, &out, &err)) << err;
  }

  // The binary, with this test's own run folder.
  Result cli(const std::string& args) {
    return run(std::string(VPNPT_BINARY) + " --run-dir " + (dir_ / "run").string() + " " + args);
  }

  fs::path dir_;
  std::string kDefaultConfig;  // the shipped config, copied into dir_
};

std::vector<json> objects(const json& listing, const std::string& kind) {
  std::vector<json> out;
  for (const auto& item : listing)
    if (item.contains(kind)) out.push_back(item[kind]);
  return out;
}

}  // namespace

TEST_F(Netns, ApplyLoadsTheTable) {
  Result r = cli("-c " + kDefaultConfig + " apply");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("applied table inet vpnpt"), std::string::npos) << r.out;
  auto t = table_json();
  ASSERT_TRUE(t);

  std::map<std::string, json> chains;
  for (const auto& c : objects(*t, "chain")) chains[c["name"]] = c;
  for (const char* name : {"lan_in", "wan_in", "pre_nat", "pre_filter", "out_filter", "forward_filter", "post_nat",
                           "post_filter"})
    EXPECT_TRUE(chains.count(name)) << "chain " << name;
  // Helpers are attached after the conntrack lookup (-200): at filter (0).
  EXPECT_EQ(chains["pre_filter"]["hook"], "prerouting");
  EXPECT_EQ(chains["pre_filter"]["prio"], 0);
  EXPECT_EQ(chains["out_filter"]["hook"], "output");
  EXPECT_EQ(chains["post_nat"]["type"], "nat");
  EXPECT_EQ(chains["post_nat"]["prio"], 100);

  auto helpers = objects(*t, "ct helper");
  ASSERT_EQ(helpers.size(), 1u);
  EXPECT_EQ(helpers[0]["name"], "pptp");
  EXPECT_EQ(helpers[0]["type"], "pptp");
  EXPECT_EQ(helpers[0]["l3proto"], "ip");

  std::set<std::string> counters;
  for (const auto& c : objects(*t, "counter")) counters.insert(c["name"]);
  EXPECT_EQ(counters, (std::set<std::string>{"pptp_ctrl", "pptp_gre", "l2tp", "ipsec_ike", "ipsec_nat_t",
                                             "ipsec_esp", "forwarded"}));

  bool nets = false;
  for (const auto& s : objects(*t, "set"))
    if (s["name"] == "lan_nets") nets = s.dump().find("192.168.1.0") != std::string::npos;
  EXPECT_TRUE(nets) << "lan_nets holds 192.168.1.0/24";

  std::string text = ruleset();
  EXPECT_NE(text.find("oifname \"eth0\" meta nfproto ipv4 rt ipsec missing masquerade"), std::string::npos) << text;
  EXPECT_NE(text.find("tcp dport 1723 ct state new ct helper set \"pptp\""), std::string::npos) << text;
}

TEST_F(Netns, ApplyTwiceIsIdentical) {
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string first = ruleset();
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  EXPECT_EQ(ruleset(), first);
}

TEST_F(Netns, ConfigErrorLeavesRulesetUntouched) {
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string before = ruleset();
  std::string bad = write("bad.toml", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\"]\nsubnet = [\"10.0.0.0/8\"]\n");
  Result r = cli("-c " + bad + " apply");
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find(bad + ":5: lan.subnet: unknown key"), std::string::npos) << r.out;
  EXPECT_EQ(ruleset(), before);
}

TEST_F(Netns, MissingInterfaceIsAConfigError) {
  std::string cfg = write("c.toml", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\", \"lan9\"]\n");
  Result r = cli("-c " + cfg + " apply");
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find(cfg + ":4: lan.interfaces[1]: no interface named \"lan9\""), std::string::npos) << r.out;
  EXPECT_FALSE(table_json());
}

TEST_F(Netns, KernelRefusalLeavesRulesetUntouched) {
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string before = ruleset();
  // Templates whose helper the kernel does not have: the parser accepts the
  // text, the kernel refuses the batch, and nothing of it may remain.
  fs::path rules = dir_ / "rules";
  fs::copy(VPNPT_SOURCE_DIR "/rules", rules);
  std::ifstream in(rules / "pptp.nft");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = std::regex_replace(ss.str(), std::regex("type \"pptp\""), "type \"nosuchhelper\"");
  std::ofstream(rules / "pptp.nft") << text;
  Result r = cli("-c " + kDefaultConfig + " --rules-dir " + rules.string() + " apply");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.out.find("nftables refused the transaction; nothing was changed"), std::string::npos) << r.out;
  // The error names the kept copy, line and column, as nft -f would.
  EXPECT_TRUE(std::regex_search(r.out, std::regex("/run/transaction-[0-9]+\\.nft:[0-9]+:[0-9]+-[0-9]+: Error")))
      << r.out;
  EXPECT_EQ(ruleset(), before);
}

TEST_F(Netns, OtherTablesSurviveApplyAndRemove) {
  nft("table ip mynat {\n chain post {\n type nat hook postrouting priority srcnat;\n oifname \"eth0\" masquerade\n }\n}\n"
      "table inet filter {\n chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 22 accept\n }\n}\n");
  std::string others = ruleset();
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string with = ruleset();
  EXPECT_NE(with.find("table ip mynat"), std::string::npos);
  EXPECT_NE(with.find("table inet filter"), std::string::npos);
  Result r = cli("remove");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(ruleset(), others);
  r = cli("remove");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("nothing to remove"), std::string::npos) << r.out;
}

TEST_F(Netns, DryRunChangesNothing) {
  Result r = cli("-c " + kDefaultConfig + " apply --dry-run");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(table_json());
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string before = ruleset();
  std::string other = write("o.toml", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.9.0.0/16\"]\n");
  EXPECT_EQ(cli("-c " + other + " apply -n").status, 0);
  EXPECT_EQ(ruleset(), before);
  EXPECT_EQ(cli("-c " + other + " check").status, 0);
  EXPECT_EQ(ruleset(), before);
}

TEST_F(Netns, LockHeldExits5) {
  // The lock file of this namespace: the one apply creates.
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  std::string lock;
  for (const auto& e : fs::directory_iterator(dir_ / "run"))
    if (e.path().filename().string().rfind("lock-", 0) == 0) lock = e.path();
  ASSERT_FALSE(lock.empty());
  int fd = open(lock.c_str(), O_RDWR);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  std::string before = ruleset();
  Result r = cli("-c " + kDefaultConfig + " apply");
  EXPECT_EQ(r.status, 5) << r.out;
  EXPECT_NE(r.out.find("held by another vpnpt"), std::string::npos) << r.out;
  EXPECT_EQ(cli("remove").status, 5);
  EXPECT_EQ(ruleset(), before);
  close(fd);
  EXPECT_EQ(cli("remove").status, 0);
}

TEST_F(Netns, StatusJsonAndDrift) {
  auto status = [&](const std::string& cfg) {
    Result r = cli("-c " + cfg + " status --json");
    EXPECT_EQ(r.status, 0) << r.out;
    return json::parse(r.out);  // throws (fails the test) unless valid JSON
  };
  json s = status(kDefaultConfig);
  EXPECT_EQ(s["table"]["present"], false);
  EXPECT_EQ(s["table"]["drift"], "absent");

  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  s = status(kDefaultConfig);
  EXPECT_EQ(s["table"]["present"], true);
  EXPECT_EQ(s["table"]["drift"], "none");
  EXPECT_TRUE(s["counters"].contains("pptp_ctrl"));
  EXPECT_EQ(s["esp"]["configured"], "auto");
  EXPECT_TRUE(s["hosts"].is_array());
  EXPECT_TRUE(s["kernel"].is_array());

  std::string changed = write("changed.toml", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\"]\n[l2tp]\nenabled = false\n");
  EXPECT_EQ(status(changed)["table"]["drift"], "config-changed");

  nft("add rule inet vpnpt lan_in udp dport 9 drop\n");
  EXPECT_EQ(status(kDefaultConfig)["table"]["drift"], "modified");

  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  EXPECT_EQ(status(kDefaultConfig)["table"]["drift"], "none");
  ASSERT_EQ(cli("remove").status, 0);
  EXPECT_EQ(status(kDefaultConfig)["table"]["drift"], "absent");
}

TEST_F(Netns, EspMuxWithoutModuleIsAKernelError) {
  std::string cfg = write("mux.toml", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\"]\n[ipsec]\nesp = \"mux\"\n");
  Result r = cli("-c " + cfg + " apply");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.out.find("vpnpt_esp"), std::string::npos) << r.out;
  EXPECT_FALSE(table_json());
  // esp = "auto" falls back, and says so.
  r = cli("-c " + kDefaultConfig + " apply");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("esp = \"auto\" falls back to \"single\""), std::string::npos) << r.out;
}

// `vpnpt check -c draft.toml` during a reload must not change what apply
// commits. Both used to write one fixed file, transaction-<netns>.nft, and
// load it back by name; here a FIFO at that path plays the checker who
// rewrites the file between apply's write and apply's load. A correct apply
// never opens that path, commits its own text, and the FIFO never sees it.
TEST_F(Netns, ApplyCommitsWhatItRenderedNotASharedFile) {
  std::string draft_cfg = write("draft.toml", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.9.0.0/16\"]\n");
  Result shown = cli("-c " + draft_cfg + " show");
  ASSERT_EQ(shown.status, 0) << shown.out;
  const std::string draft = "add table inet vpnpt\ndelete table inet vpnpt\n" + shown.out;

  struct stat ns{};
  ASSERT_EQ(stat("/proc/self/ns/net", &ns), 0);
  fs::create_directories(dir_ / "run");
  const std::string fifo = (dir_ / "run" / ("transaction-" + std::to_string(ns.st_ino) + ".nft")).string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);

  // The checker blocks in open() and read(); SIGUSR1 (no SA_RESTART) ends it.
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa{};
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR1, &sa, nullptr);
  std::atomic<bool> stop{false}, done{false};
  std::atomic<int> swapped{0};
  int watch = inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, (dir_ / "run").c_str(), IN_DELETE), 0);
  std::thread checker([&] {
    while (!stop) {
      int fd = open(fifo.c_str(), O_RDONLY);  // waits for apply to write
      if (fd < 0) break;
      char buf[4096];
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
      if (stop) break;
      fd = open(fifo.c_str(), O_WRONLY);  // waits for apply to load
      if (fd < 0) break;
      if (::write(fd, draft.data(), draft.size()) == ssize_t(draft.size())) ++swapped;
      close(fd);
      // apply removes the file after its dry run: put the FIFO back for
      // the commit, as the next `check` would put its file back.
      char ev[4096];
      if (read(watch, ev, sizeof ev) <= 0) break;
      if (mkfifo(fifo.c_str(), 0600) != 0) break;
    }
    done = true;
  });
  Result r = cli("-c " + kDefaultConfig + " apply");
  stop = true;
  while (!done) {
    pthread_kill(checker.native_handle(), SIGUSR1);
    std::this_thread::yield();
  }
  checker.join();
  close(watch);

  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(swapped, 0) << "apply loaded its transaction back from the shared path";
  std::string text = ruleset();
  EXPECT_EQ(text.find("10.9.0.0/16"), std::string::npos) << "the draft was committed:\n" << text;
  EXPECT_NE(text.find("192.168.1.0/24"), std::string::npos) << text;
}

// apply trusts the generation ID to say "nothing but my commit changed the
// ruleset": one step per committed transaction, none for a dry run or a
// refused one.
TEST_F(Netns, RulesetGenerationCountsCommitsOnly) {
  auto g0 = vpnpt::ruleset_generation();
  ASSERT_TRUE(g0);
  vpnpt::Nft n;
  std::string out, err;
  ASSERT_TRUE(n.try_run("add table ip probe\n", &out, &err, /*dry_run=*/true)) << err;
  EXPECT_EQ(vpnpt::ruleset_generation(), g0);
  EXPECT_FALSE(n.try_run("add chain ip nosuchtable c\n", &out, &err));
  EXPECT_EQ(vpnpt::ruleset_generation(), g0);
  nft("add table ip probe\nadd chain ip probe c\n");
  EXPECT_EQ(vpnpt::ruleset_generation(), *g0 + 1);
  nft("delete table ip probe\n");
  EXPECT_EQ(vpnpt::ruleset_generation(), *g0 + 2);
}

// A re-apply of the same config reuses the drift digest of the last apply
// instead of listing the table again. It must still be the right one: a
// commit to another table is no drift, a change to ours is.
TEST_F(Netns, DriftAfterReapplyAndForeignCommits) {
  auto drift = [&] {
    Result r = cli("-c " + kDefaultConfig + " status --json");
    EXPECT_EQ(r.status, 0) << r.out;
    return json::parse(r.out)["table"]["drift"].get<std::string>();
  };
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);  // reuses the digest
  EXPECT_EQ(drift(), "none");
  nft("add table ip other\n");  // the generation moves; our table does not
  EXPECT_EQ(drift(), "none");
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);  // lists again: another commit came between
  EXPECT_EQ(drift(), "none");
  nft("add rule inet vpnpt lan_in udp dport 9 drop\n");
  EXPECT_EQ(drift(), "modified");
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  nft("delete table ip other\n");
  EXPECT_EQ(drift(), "none");
}

// apply reads the table back through raw netlink dumps (table_digest.h) for
// its drift digest, not as a text listing. The digest must still see every
// change to the table's definition (a set element, a map element, a chain's
// policy, a rule), also after a commit to another table, and nothing that
// the packet path changes (a dynamic set's elements) nor a change undone.
TEST_F(Netns, DriftFromTheNetlinkDigest) {
  auto drift = [&] {
    Result r = cli("-c " + kDefaultConfig + " status --json");
    EXPECT_EQ(r.status, 0) << r.out;
    return json::parse(r.out)["table"]["drift"].get<std::string>();
  };
  std::ifstream in(kDefaultConfig);
  std::stringstream ss;
  ss << in.rdbuf();
  kDefaultConfig = write("fwd.toml", ss.str() + "\n[[forward]]\nservice = \"wireguard\"\nto = \"192.168.1.10\"\n");
  auto apply = [&] { ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0); };
  apply();
  struct stat ns{};
  ASSERT_EQ(stat("/proc/self/ns/net", &ns), 0);
  std::ifstream rec_in(dir_ / "run" / ("applied-" + std::to_string(ns.st_ino)));
  json rec = json::parse(rec_in);
  EXPECT_EQ(rec["listing_digest"].get<std::string>().rfind("nl1:", 0), 0u) << rec.dump();
  EXPECT_EQ(drift(), "none");

  nft("add table ip other\n");
  EXPECT_EQ(drift(), "none");
  nft("add element inet vpnpt l2tp_sessions { 203.0.113.9 . 40000 : 192.168.1.2 . 1701 }\n");
  EXPECT_EQ(drift(), "none") << "a dynamic set's elements are the packet path's";
  nft("add element inet vpnpt lan_nets { 10.99.0.0/16 }\n");
  nft("delete element inet vpnpt lan_nets { 10.99.0.0/16 }\n");
  EXPECT_EQ(drift(), "none") << "a change undone";

  nft("add element inet vpnpt lan_nets { 10.99.0.0/16 }\n");
  EXPECT_EQ(drift(), "modified");
  apply();
  nft("delete element inet vpnpt fwd_ports { udp . 51820 }\n");
  EXPECT_EQ(drift(), "modified");
  apply();
  nft("chain inet vpnpt pre_filter { policy drop; }\n");
  EXPECT_EQ(drift(), "modified");
  apply();
  nft("add rule inet vpnpt lan_in udp dport 9 drop\n");
  EXPECT_EQ(drift(), "modified");
  apply();
  EXPECT_EQ(drift(), "none");
}

// apply's stale-session check reads only the entries a rule could pick, in
// kernel-filtered dumps (CTA_FILTER): the others never reach user space.
TEST_F(Netns, StaleCheckDumpsAreFilteredInTheKernel) {
  ASSERT_EQ(run("ip addr add 203.0.113.1/24 dev eth0").status, 0);
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);  // loads nf_nat
  const std::string add = "conntrack -I -p udp -s 192.168.1.2 -d 203.0.113.2 -t 100 ";
  ASSERT_EQ(run(add + "--sport 1 --dport 4500 --src-nat 203.0.113.1").status, 0);
  for (int port = 10; port < 60; ++port)  // not for any rule
    ASSERT_EQ(run(add + "--sport " + std::to_string(port) + " --dport 9").status, 0);
  ASSERT_EQ(run("conntrack -I -p udp -s 198.51.100.7 -d 203.0.113.1 -t 100 --sport 5 --dport 51820").status, 0);

  std::vector<vpnpt::CtEntry> seen;
  bool ignored = false;
  auto each = [&](const vpnpt::CtEntry& e) { seen.push_back(e); };
  size_t received = vpnpt::dump_conntrack({.proto = IPPROTO_UDP, .dport = 4500}, each, &ignored);
  EXPECT_FALSE(ignored);
  EXPECT_EQ(received, 1u) << "the kernel sent entries to other ports (no CTA_FILTER?)";
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].orig.sport, 1);
  seen.clear();
  received = vpnpt::dump_conntrack(
      {.proto = IPPROTO_UDP, .dst = 0xcb007101u, .status = 0, .status_mask = IPS_SRC_NAT | IPS_DST_NAT}, each, &ignored);
  EXPECT_FALSE(ignored);
  EXPECT_EQ(received, 1u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].orig.dport, 51820);

  // The UDP flow to the router's port 51820 is stale once that port is
  // forwarded; apply clears it and leaves the rest.
  std::ifstream in(kDefaultConfig);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string fwd = write("fwd.toml", ss.str() + "\n[[forward]]\nservice = \"wireguard\"\nto = \"192.168.1.10\"\n");
  Result r = cli("-c " + fwd + " apply");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("stale sessions: 1 cleared (1 forward)"), std::string::npos) << r.out;
  size_t udp_left = 0;  // (the kernel's own IGMP is not ours)
  vpnpt::dump_conntrack([&](const vpnpt::CtEntry& e) { udp_left += e.orig.proto == IPPROTO_UDP; });
  EXPECT_EQ(udp_left, 51u);
}

// A re-apply of the same rules with no commit since the last apply (which
// cleared the stale sessions) does not read conntrack: no flow can have
// begun without these rules. Nor after one commit of someone else's that
// left table inet vpnpt as recorded (a transaction is atomic: packets saw
// these rules before and after it). Two commits, one that changed the
// table, or --keep-sessions the last time, and it looks again. (The entry
// here is planted with conntrack -I, so it looks stale although it began
// under the rules.)
TEST_F(Netns, StaleCheckSkippedOnlyWhileTheRulesStood) {
  ASSERT_EQ(run("ip addr add 203.0.113.1/24 dev eth0").status, 0);
  std::ifstream in(kDefaultConfig);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string fwd = write("fwd.toml", ss.str() + "\n[[forward]]\nservice = \"wireguard\"\nto = \"192.168.1.10\"\n");
  ASSERT_EQ(cli("-c " + fwd + " apply").status, 0);
  const std::string plant = "conntrack -I -p udp -s 198.51.100.7 -d 203.0.113.1 -t 100 --sport 5 --dport 51820";
  ASSERT_EQ(run(plant).status, 0);
  Result r = cli("-c " + fwd + " -v apply");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("stale sessions: 0 cleared\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not looked for"), std::string::npos) << r.out;
  nft("add table ip other\n");  // one commit; table inet vpnpt as it was
  r = cli("-c " + fwd + " -v apply");
  EXPECT_NE(r.out.find("not looked for: the same rules were loaded without a break"), std::string::npos) << r.out;
  nft("add table ip other2\n");
  nft("delete table ip other2\n");  // two commits: the rules may have been away between them
  r = cli("-c " + fwd + " apply");
  EXPECT_NE(r.out.find("stale sessions: 1 cleared (1 forward)"), std::string::npos) << r.out;

  ASSERT_EQ(run(plant).status, 0);
  nft("add chain inet vpnpt other\n");  // one commit that changed the table
  r = cli("-c " + fwd + " apply");
  EXPECT_NE(r.out.find("stale sessions: 1 cleared (1 forward)"), std::string::npos) << r.out;

  ASSERT_EQ(run(plant).status, 0);
  r = cli("-c " + fwd + " apply --keep-sessions");
  EXPECT_NE(r.out.find("stale sessions: kept"), std::string::npos) << r.out;
  r = cli("-c " + fwd + " apply");  // the last apply did not look
  EXPECT_NE(r.out.find("stale sessions: 1 cleared (1 forward)"), std::string::npos) << r.out;
}

// status reads conntrack in two kernel-filtered dumps (DNAT; SNAT without
// DNAT): entries that cross no NAT never reach user space, and each NATed
// one comes once.
TEST_F(Netns, ConntrackDumpIsFilteredInTheKernel) {
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);  // loads nf_nat
  const std::string add = "conntrack -I -p udp -s 192.168.1.2 -d 203.0.113.2 -t 100 ";
  ASSERT_EQ(run(add + "--sport 1 --dport 4500 --src-nat 203.0.113.1").status, 0);
  ASSERT_EQ(run(add + "--sport 2 --dport 500 --dst-nat 192.168.1.9").status, 0);
  for (int port = 10; port < 60; ++port)  // not NATed: not ours
    ASSERT_EQ(run(add + "--sport " + std::to_string(port) + " --dport 9").status, 0);
  std::vector<vpnpt::CtEntry> seen;
  size_t received = vpnpt::dump_nat_conntrack([&](const vpnpt::CtEntry& e) { seen.push_back(e); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(received, 2u) << "the kernel sent entries that cross no NAT (no CTA_STATUS_MASK filter?)";
  EXPECT_EQ(seen[0].orig.sport, 2);  // the DNAT dump first
  EXPECT_EQ(seen[1].orig.sport, 1);
  EXPECT_EQ(seen[1].reply.dst, 0xcb007101u);  // 203.0.113.1
}

// What `vpnpt mux import` creates for a handed-over ESP SA on the standby:
// an ESP entry host -> peer in the mapping's zone, masqueraded to the WAN
// address. The kernel keeps it SRC_NAT with the reply tuple peer -> WAN in
// that zone; the same tuple in another zone is another entry; a second
// create answers EEXIST (what a conntrackd-synced entry gives).
TEST_F(Netns, CreatesAZonedEspEntryWithItsSourceNat) {
  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);  // loads nf_nat
  vpnpt::CtNew c;
  c.orig.proto = IPPROTO_ESP;
  c.orig.src = 0xc0a80102;  // 192.168.1.2
  c.orig.dst = 0xcb007102;  // 203.0.113.2
  c.zone = 1024;
  c.nat_src = 0xc6336401;   // 198.51.100.1
  ASSERT_EQ(vpnpt::create_conntrack(c), 0);
  EXPECT_EQ(vpnpt::create_conntrack(c), -EEXIST);
  vpnpt::CtNew other = c;
  other.zone = 1025;
  other.orig.src = 0xc0a80103;  // another host, same peer and WAN address
  ASSERT_EQ(vpnpt::create_conntrack(other), 0);
  std::vector<vpnpt::CtEntry> seen;
  vpnpt::CtFilter f;
  f.proto = IPPROTO_ESP;
  vpnpt::dump_conntrack(f, [&](const vpnpt::CtEntry& e) { seen.push_back(e); }, nullptr);
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& e : seen) {
    const bool first = e.zone == 1024;
    EXPECT_EQ(e.zone, first ? 1024 : 1025);
    EXPECT_TRUE(e.src_nat()) << "status " << std::hex << e.status;
    EXPECT_FALSE(e.dst_nat());
    EXPECT_EQ(e.orig.src, first ? 0xc0a80102u : 0xc0a80103u);
    EXPECT_EQ(e.orig.dst, 0xcb007102u);
    EXPECT_EQ(e.reply.src, 0xcb007102u);
    EXPECT_EQ(e.reply.dst, 0xc6336401u) << "the reply goes to the NAT address";
    EXPECT_GT(e.timeout, 590u);
    EXPECT_LE(e.timeout, 600u);
  }
  // The rollback's delete: by tuple and zone, no id.
  vpnpt::CtEntry del;
  del.orig = c.orig;
  del.zone = c.zone;
  EXPECT_TRUE(vpnpt::delete_conntrack(del));
  EXPECT_FALSE(vpnpt::delete_conntrack(del));
  seen.clear();
  vpnpt::dump_conntrack(f, [&](const vpnpt::CtEntry& e) { seen.push_back(e); }, nullptr);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].zone, 1025);
}

// vpnpt diff shows exactly the change made to the config (one forward: its
// map element, the map's type and the pre_nat rule that reads it), exits 8
// while there is one and 0 once applied, and changes nothing itself.
TEST_F(Netns, DiffShowsExactlyTheChange) {
  Result r = cli("-c " + kDefaultConfig + " diff");
  EXPECT_EQ(r.status, 8) << r.out;
  EXPECT_NE(r.out.find("table inet vpnpt is not loaded"), std::string::npos) << r.out;
  EXPECT_EQ(ruleset(), "") << "diff loaded something";

  ASSERT_EQ(cli("-c " + kDefaultConfig + " apply").status, 0);
  r = cli("-c " + kDefaultConfig + " diff");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no changes"), std::string::npos) << r.out;

  std::ifstream in(kDefaultConfig);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string fwd = write("fwd.toml", ss.str() + "\n[[forward]]\nservice = \"wireguard\"\nto = \"192.168.1.10\"\n");
  const std::string before = ruleset();
  r = cli("-c " + fwd + " diff --json");
  EXPECT_EQ(r.status, 8) << r.out;
  EXPECT_EQ(ruleset(), before) << "diff changed the table";
  json plan = json::parse(r.out);
  EXPECT_EQ(plan["blocks"], json::parse(R"([
    {"kind": "map", "name": "fwd_ports", "removed": [],
     "added": ["type inet_proto . inet_service : ipv4_addr . inet_service",
               "element udp . 51820 : 192.168.1.10 . 51820"]},
    {"kind": "chain", "name": "pre_nat", "removed": [],
     "added": ["iifname \"eth0\" fib daddr type local dnat ip to meta l4proto . th dport map @fwd_ports"]}
  ])")) << r.out;
  EXPECT_EQ(plan["changes"], true);

  r = cli("-c " + fwd + " diff");
  EXPECT_NE(r.out.find("map fwd_ports:\n  + type inet_proto . inet_service : ipv4_addr . inet_service\n"
                       "  + element udp . 51820 : 192.168.1.10 . 51820\n"
                       "chain pre_nat:\n  + iifname \"eth0\" fib daddr type local dnat ip to meta l4proto . th "
                       "dport map @fwd_ports\n"),
            std::string::npos)
      << r.out;

  // apply --diff prints the same plan, then applies it: nothing is left.
  Result a = cli("-c " + fwd + " apply --diff");
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_NE(a.out.find("  + element udp . 51820 : 192.168.1.10 . 51820\n"), std::string::npos) << a.out;
  r = cli("-c " + fwd + " diff");
  EXPECT_EQ(r.status, 0) << r.out;

  // Back to the shipped config: the same lines, removed.
  r = cli("-c " + kDefaultConfig + " diff --json");
  EXPECT_EQ(r.status, 8) << r.out;
  plan = json::parse(r.out);
  ASSERT_EQ(plan["blocks"].size(), 2u) << r.out;
  EXPECT_EQ(plan["blocks"][0]["name"], "pre_nat") << r.out;
  EXPECT_EQ(plan["blocks"][1]["removed"], json::parse(R"(["type inet_proto . inet_service : ipv4_addr . inet_service",
    "element udp . 51820 : 192.168.1.10 . 51820"])")) << r.out;

  // A rule added by hand is drift: it shows as removed by apply.
  nft("add rule inet vpnpt lan_in ip saddr 10.9.9.9 drop");
  r = cli("-c " + fwd + " diff");
  EXPECT_EQ(r.status, 8) << r.out;
  EXPECT_NE(r.out.find("chain lan_in:\n  - ip saddr 10.9.9.9 drop\n"), std::string::npos) << r.out;
}
