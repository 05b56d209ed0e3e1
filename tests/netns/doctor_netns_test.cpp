// doctor_netns_test.cpp: vpnpt doctor against this machine's kernel. Each
// test makes one broken condition in a fresh network namespace, expects the
// finding (exit 7), applies the fix doctor printed (or undoes the
// condition), and expects it gone (exit 0). Root only.
//
//   +----------------------------------------+
//   | fresh netns (one per test)             |  eth0: a veth (the WAN side)
//   |   eth0 <-> eth0p    br0                |  br0:  a bridge (the LAN side)
//   |   table inet vpnpt (vpnpt apply)       |  + the broken condition
//   +----------------------------------------+
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "nft.h"
#include "run.h"

namespace fs = std::filesystem;
using nlohmann::json;
using vpnpt_test::Result;
using vpnpt_test::run;

namespace {

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_EQ(run("ip link set lo up && ip link add eth0 type veth peer name eth0p && "
                  "ip link add br0 type bridge && ip link set eth0 up && ip link set br0 up")
                  .status,
              0);
    dir_ = fs::path(::testing::TempDir()) / ("vpnpt-doctor-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    config_ = (dir_ / "vpnpt.toml").string();
    std::ofstream(config_) << "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\"]\n"
                              "subnets = [\"192.168.1.0/24\"]\n[ipsec]\nesp = \"single\"\n";
    chmod(config_.c_str(), 0644);
    Result r = cli("apply");
    ASSERT_EQ(r.status, 0) << r.out;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  Result cli(const std::string& args) {
    return run(std::string(VPNPT_BINARY) + " --run-dir " + (dir_ / "run").string() + " -c " + config_ + " " + args);
  }

  // doctor --json: exit status and the parsed report.
  std::pair<int, json> doctor() {
    Result r = cli("doctor --json");
    json j;
    try {
      j = json::parse(r.out);
    } catch (const json::exception& e) {
      ADD_FAILURE() << "not JSON: " << r.out;
    }
    return {r.status, j};
  }

  // The findings of one check id.
  static std::vector<json> findings(const json& report, const std::string& check) {
    std::vector<json> out;
    for (const auto& f : report.value("findings", json::array()))
      if (f["check"] == check) out.push_back(f);
    return out;
  }

  static std::string fix_of(const json& finding, const std::string& tool) {
    for (const auto& f : finding["fixes"])
      if (f["tool"] == tool) return f["fix"];
    return {};
  }

  void nft(const std::string& cmds) {
    vpnpt::Nft n;
    std::string out, err;
    ASSERT_TRUE(n.try_run(cmds, &out, &err)) << cmds << "\n" << err;
  }

  // Run the "nft ..." lines of a fix through libnftables.
  void apply_fix(const std::string& fix) {
    std::istringstream in(fix);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
      if (line.rfind("nft ", 0) == 0) {
        nft(line.substr(4));
        ++n;
      }
    ASSERT_GT(n, 0) << "no nft command in the fix:\n" << fix;
  }

  fs::path dir_;
  std::string config_;
};

}  // namespace

TEST_F(Doctor, CleanRouterIsExitZero) {
  Result r = cli("doctor");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("vpnpt doctor: nothing found in the way"), std::string::npos) << r.out;
  auto [status, j] = doctor();
  EXPECT_EQ(status, 0);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["checks"].size(), 7u) << j.dump();
}

// The example router firewall (policy drop on forward, with the lines
// vpnpt needs) is in nobody's way; without its LAN -> WAN accepts it is.
TEST_F(Doctor, ExampleRouterFirewallIsClean) {
  std::ifstream in(VPNPT_SOURCE_DIR "/etc/examples/router-firewall.nft");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  nft(ss.str());
  Result r = cli("doctor");
  EXPECT_EQ(r.status, 0) << r.out;
  nft("flush chain inet router forward\n"
      "add rule inet router forward ct state established,related accept\n"
      "add rule inet router forward ct status dnat accept");
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "foreign-policy-drop");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_EQ(f[0]["table"], "inet router");
}

TEST_F(Doctor, TableAbsent) {
  ASSERT_EQ(cli("remove").status, 0);
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7) << j.dump(1);
  ASSERT_EQ(findings(j, "table-absent").size(), 1u) << j.dump(1);
  ASSERT_EQ(cli("apply").status, 0);
  EXPECT_EQ(doctor().first, 0);
}

TEST_F(Doctor, ForeignFilterTableWithPolicyDrop) {
  nft("add table inet filter\n"
      "add chain inet filter forward { type filter hook forward priority filter; policy drop; }\n"
      "add rule inet filter forward ct state established,related accept");
  Result text = cli("doctor");
  EXPECT_EQ(text.status, 7) << text.out;
  EXPECT_NE(text.out.find("[foreign-policy-drop] table inet filter, chain forward (hook forward, priority 0) has "
                          "policy drop and no rule accepting new PPTP control (TCP 1723) from br0 to eth0"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("checks: rules findings, helpers ok"), std::string::npos) << text.out;
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "foreign-policy-drop");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_EQ(f[0]["table"], "inet filter");
  EXPECT_EQ(f[0]["chain"], "forward");
  EXPECT_NE(f[0]["found"].get<std::string>().find("new IPv6 IPsec ESP from br0 to eth0"), std::string::npos);
  EXPECT_NE(f[0]["why"].get<std::string>().find("covers only flows conntrack already tracks"), std::string::npos);

  // The fix doctor printed, as printed, makes it go away.
  apply_fix(fix_of(f[0], "nftables"));
  auto [after, j2] = doctor();
  EXPECT_EQ(after, 0) << j2.dump(1);
}

TEST_F(Doctor, ForeignDropRuleNamesItsHandle) {
  nft("add table ip fw\n"
      "add chain ip fw forward { type filter hook forward priority filter; policy accept; }\n"
      "add rule ip fw forward meta l4proto gre drop");
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "foreign-drop");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_EQ(f[0]["table"], "ip fw");
  std::string found = f[0]["found"];
  EXPECT_NE(found.find("rule handle " + std::to_string(f[0]["handle"].get<int>()) + " `meta l4proto gre drop` drops "
                       "new PPTP data (GRE) from br0 to eth0, replies of PPTP data (GRE) from eth0 to br0"),
            std::string::npos)
      << found;
  apply_fix(fix_of(f[0], "nftables"));
  EXPECT_EQ(doctor().first, 0);
}

TEST_F(Doctor, HelperSetAtRawPriority) {
  nft("add table inet early\n"
      "add ct helper inet early pptp { type \"pptp\" protocol tcp; l3proto ip; }\n"
      "add chain inet early raw { type filter hook prerouting priority raw; }\n"
      "add rule inet early raw tcp dport 1723 ct helper set \"pptp\"");
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "helper-before-conntrack");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_EQ(f[0]["chain"], "raw");
  EXPECT_NE(f[0]["found"].get<std::string>().find("at hook prerouting priority -300, before conntrack (-200)"),
            std::string::npos);
  apply_fix(fix_of(f[0], "nftables"));
  EXPECT_EQ(doctor().first, 0);
}

TEST_F(Doctor, FlowtableOffloadingUdp) {
  vpnpt::Nft n;
  std::string out, err;
  if (!n.try_run("add table inet ft\nadd flowtable inet ft f { hook ingress priority 0; devices = { eth0, br0 }; }",
                 &out, &err))
    GTEST_SKIP() << "this kernel has no flowtables (CONFIG_NF_FLOW_TABLE): " << err;
  nft("add chain inet ft forward { type filter hook forward priority filter; }\n"
      "add rule inet ft forward meta l4proto { tcp, udp } flow add @f");
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "flowtable-offload");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_NE(f[0]["found"].get<std::string>().find("IKE (UDP 500)"), std::string::npos);
  apply_fix(fix_of(f[0], "nftables"));
  EXPECT_EQ(doctor().first, 0);
}

// A router firewall that passes the tunnels but not the ICMP errors path
// MTU discovery needs, on a WAN whose MTU (PPPoE's 1492) is below the LAN's:
// the forward chain accepts ct state established but not related, and an
// output chain drops the router's own ICMP. Both fixes, as printed, clear it.
TEST_F(Doctor, PmtuIcmpDroppedWithSmallerWanMtu) {
  ASSERT_EQ(run("ip link set eth0 mtu 1492").status, 0);
  nft("add table inet filter\n"
      "add chain inet filter forward { type filter hook forward priority filter; policy drop; }\n"
      "add rule inet filter forward ct state established accept\n"
      "add rule inet filter forward iifname \"br0\" oifname \"eth0\" accept\n"
      "add rule inet filter forward iifname \"eth0\" oifname \"br0\" ct status dnat accept\n"
      "add table ip out\n"
      "add chain ip out output { type filter hook output priority filter; policy accept; }\n"
      "add rule ip out output meta l4proto icmp drop");
  Result text = cli("doctor");
  EXPECT_EQ(text.status, 7) << text.out;
  EXPECT_NE(text.out.find("checks: rules ok, helpers ok, flowtables ok, mtu findings, kernel ok"), std::string::npos)
      << text.out;
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "pmtu-icmp-drop");
  ASSERT_EQ(f.size(), 2u) << j.dump(1);
  EXPECT_EQ(f[0]["table"], "inet filter");
  EXPECT_NE(f[0]["found"].get<std::string>().find("has policy drop and no rule accepting ICMP fragmentation needed "
                                                  "(type 3 code 4) from eth0 to br0"),
            std::string::npos)
      << f[0]["found"];
  EXPECT_EQ(f[1]["table"], "ip out");
  EXPECT_NE(f[1]["found"].get<std::string>().find("`meta l4proto icmp drop` drops the router's own ICMP "
                                                  "fragmentation needed (type 3 code 4) to br0"),
            std::string::npos)
      << f[1]["found"];
  EXPECT_NE(f[1]["why"].get<std::string>().find("eth0 has MTU 1492, smaller than br0's 1500"), std::string::npos)
      << f[1]["why"];
  for (const auto& x : f) apply_fix(fix_of(x, "nftables"));
  auto [after, j2] = doctor();
  EXPECT_EQ(after, 0) << j2.dump(1);
}

TEST_F(Doctor, StrictRpFilter) {
  ASSERT_EQ(run("sysctl -qw net.ipv4.conf.eth0.rp_filter=1").status, 0);
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "rp-filter");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_EQ(f[0]["found"], "rp_filter is strict (1) on eth0");
  ASSERT_EQ(run("sysctl -qw net.ipv4.conf.eth0.rp_filter=2").status, 0);
  EXPECT_EQ(doctor().first, 0);
}

TEST_F(Doctor, LiveGreWithoutMasterAndSharedRawEsp) {
  // What conntrack holds after a PPTP call that began before the helper
  // was attached, and after two LAN hosts spoke raw ESP to one peer.
  ASSERT_EQ(run("conntrack -I -p gre -s 192.168.1.10 -d 203.0.113.5 --srckey 1 --dstkey 2 --timeout 300 "
                "--src-nat 198.51.100.1 && "
                "conntrack -I -p esp -s 192.168.1.10 -d 203.0.113.5 --timeout 300 --src-nat 198.51.100.1 && "
                "conntrack -I -p esp -s 192.168.1.11 -d 203.0.113.5 --timeout 300 --src-nat 198.51.100.2")
                .status,
            0);
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  ASSERT_EQ(findings(j, "gre-no-master").size(), 1u) << j.dump(1);
  auto esp = findings(j, "esp-single-shared");
  ASSERT_EQ(esp.size(), 1u) << j.dump(1);
  EXPECT_EQ(esp[0]["found"], "2 LAN hosts (192.168.1.10, 192.168.1.11) send raw ESP to 203.0.113.5 with esp = \"single\"");
  ASSERT_EQ(run("conntrack -D -p gre && conntrack -D -s 192.168.1.11").status, 0);
  EXPECT_EQ(doctor().first, 0);
}

namespace {

// Add `n` UDP conntrack entries to this network namespace through
// ctnetlink, in batches of messages per send: the way to fill a table whose
// limit (nf_conntrack_max) a namespace cannot lower.
size_t add_entries(size_t n) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return 0;
  int size = 1 << 22;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  std::vector<char> buf;
  auto put_attr = [&](uint16_t type, const void* data, size_t len) {
    size_t off = buf.size();
    buf.resize(off + NLA_ALIGN(NLA_HDRLEN + len));
    nlattr a{uint16_t(NLA_HDRLEN + len), type};
    std::memcpy(&buf[off], &a, sizeof a);
    if (len) std::memcpy(&buf[off + NLA_HDRLEN], data, len);
    return off;
  };
  auto close_nest = [&](size_t off) {
    nlattr a;
    std::memcpy(&a, &buf[off], sizeof a);
    a.nla_len = uint16_t(buf.size() - off);
    std::memcpy(&buf[off], &a, sizeof a);
  };
  auto tuple = [&](uint16_t type, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    size_t t = put_attr(type | NLA_F_NESTED, nullptr, 0);
    size_t ip = put_attr(CTA_TUPLE_IP | NLA_F_NESTED, nullptr, 0);
    uint32_t s = htonl(src), d = htonl(dst);
    put_attr(CTA_IP_V4_SRC, &s, 4);
    put_attr(CTA_IP_V4_DST, &d, 4);
    close_nest(ip);
    size_t pr = put_attr(CTA_TUPLE_PROTO | NLA_F_NESTED, nullptr, 0);
    uint8_t udp = 17;
    put_attr(CTA_PROTO_NUM, &udp, 1);
    uint16_t sp = htons(sport), dp = htons(dport);
    put_attr(CTA_PROTO_SRC_PORT, &sp, 2);
    put_attr(CTA_PROTO_DST_PORT, &dp, 2);
    close_nest(pr);
    close_nest(t);
  };
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  size_t sent = 0;
  for (size_t i = 0; i < n;) {
    buf.clear();
    for (; i < n && buf.size() < 60000; ++i) {
      size_t start = buf.size();
      buf.resize(start + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)));
      uint32_t src = 0x0a000000 | uint32_t(i >> 15), dst = 0x0b000001;  // 10.0.x.y:p -> 11.0.0.1:9
      uint16_t sport = uint16_t(1024 + (i & 0x7fff)), dport = 9;
      tuple(CTA_TUPLE_ORIG, src, dst, sport, dport);
      tuple(CTA_TUPLE_REPLY, dst, src, dport, sport);
      uint32_t timeout = htonl(600);
      put_attr(CTA_TIMEOUT, &timeout, 4);
      nlmsghdr nh{};
      nh.nlmsg_len = uint32_t(buf.size() - start);
      nh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
      nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
      nh.nlmsg_seq = uint32_t(i);
      nfgenmsg nf{AF_INET, NFNETLINK_V0, 0};
      std::memcpy(&buf[start], &nh, sizeof nh);
      std::memcpy(&buf[start + NLMSG_HDRLEN], &nf, sizeof nf);
      ++sent;
    }
    if (sendto(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) break;
  }
  close(fd);
  return sent;
}

uint64_t read_u64(const char* path) {
  std::ifstream in(path);
  uint64_t v = 0;
  in >> v;
  return v;
}

}  // namespace

// nf_conntrack_max cannot be lowered in a network namespace (read-only
// outside the initial one since Linux 4.x, "permission denied"), so the
// table is filled for real: 91% of the global limit, in this namespace's
// own count, which is what the kernel compares with the limit.
TEST_F(Doctor, ConntrackTableNearFull) {
  uint64_t max = read_u64("/proc/sys/net/netfilter/nf_conntrack_max");
  ASSERT_GT(max, 0u);
  if (max > 2000000) GTEST_SKIP() << "nf_conntrack_max " << max << " is too large to fill in a test";
  size_t want = size_t(max * 91 / 100) + 1;
  add_entries(want);
  // Each message is processed as it is sent; poll the count to be sure.
  uint64_t count = 0;
  for (int i = 0; i < 100 && (count = read_u64("/proc/sys/net/netfilter/nf_conntrack_count")) < want; ++i)
    usleep(50000);
  ASSERT_GE(count * 10, max * 9) << "could fill only " << count << " of " << max;
  auto [status, j] = doctor();
  EXPECT_EQ(status, 7);
  auto f = findings(j, "conntrack-full");
  ASSERT_EQ(f.size(), 1u) << j.dump(1);
  EXPECT_NE(f[0]["found"].get<std::string>().find(" of " + std::to_string(max) + " entries (91%)"), std::string::npos)
      << f[0]["found"];
  ASSERT_EQ(run("conntrack -F").status, 0);
  EXPECT_EQ(doctor().first, 0);
}

namespace {

// Run fn in a child process inside network namespace /run/netns/NAME; the
// child's exit status is fn's result (100: could not enter the namespace).
int in_netns(const std::string& name, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(100);
    _exit(fn());
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

sockaddr_in addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// A UDP socket bound to ip:port, or -1.
int udp_bound(const char* ip, uint16_t port) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = addr(ip, port);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  return s;
}

bool send_to(int s, const char* ip, uint16_t port) {
  sockaddr_in a = addr(ip, port);
  const char msg[] = "SCCRQ";
  return sendto(s, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == ssize_t(sizeof msg);
}

}  // namespace

// An L2TP server (LNS) behind the WAN that answers from port 1702, as
// tests/vm/t-l2tp-xl2tpd-control.sh's xl2tpd does, with [l2tp] off: the
// LAN host's tunnel stays UNREPLIED and the answers end at the router.
// Doctor names it; with the fix it printed ([l2tp] enabled = true, vpnpt
// apply) doctor is quiet and the next answer reaches the host.
//
//   host ns (192.168.1.10) -- br0 [ router: this test's netns ] eth0 -- server ns (203.0.113.5)
TEST_F(Doctor, L2tpServerAnswersFromAnotherPortWithL2tpOff) {
  const std::string tag = std::to_string(getpid());
  const std::string host = "vpnptd5h-" + tag, server = "vpnptd5s-" + tag;
  struct Cleanup {
    std::string a, b;
    ~Cleanup() { run("ip netns del " + a + "; ip netns del " + b); }
  } cleanup{host, server};
  ASSERT_EQ(run("ip netns add " + host + " && ip netns add " + server +
                " && ip link set eth0p netns " + server +
                " && ip link add h0 type veth peer name h0p && ip link set h0 netns " + host +
                " && ip link set h0p master br0 up"
                " && ip addr add 203.0.113.1/24 dev eth0 && ip addr add 192.168.1.1/24 dev br0"
                " && sysctl -qw net.ipv4.ip_forward=1"
                " && ip -n " + server + " link set lo up && ip -n " + server + " link set eth0p up"
                " && ip -n " + server + " addr add 203.0.113.5/24 dev eth0p"
                " && ip -n " + host + " link set lo up && ip -n " + host + " link set h0 up"
                " && ip -n " + host + " addr add 192.168.1.10/24 dev h0"
                " && ip -n " + host + " route add default via 192.168.1.1")
                .status,
            0);
  std::ofstream(config_, std::ios::app) << "[l2tp]\nenabled = false\n";
  ASSERT_EQ(cli("apply").status, 0);

  // The host's SCCRQ (1701 -> 1701, masqueraded), then the LNS's answer
  // from 1702 to the router's public port 1701. Polled: the first packets
  // wait for ARP.
  auto host_sends = [&] {
    return in_netns(host, [] {
      int s = udp_bound("192.168.1.10", 1701);
      return s >= 0 && send_to(s, "203.0.113.5", 1701) ? 0 : 1;
    });
  };
  auto server_answers = [&] {
    return in_netns(server, [] {
      int s = udp_bound("203.0.113.5", 1702);
      return s >= 0 && send_to(s, "203.0.113.1", 1701) ? 0 : 1;
    });
  };
  json j;
  int status = 0;
  std::vector<json> f;
  for (int i = 0; i < 50 && f.empty(); ++i) {
    ASSERT_EQ(host_sends(), 0);
    ASSERT_EQ(server_answers(), 0);
    std::tie(status, j) = doctor();
    f = findings(j, "l2tp-other-port");
    if (f.empty()) usleep(100000);
  }
  ASSERT_EQ(f.size(), 1u) << j.dump(1) << run("conntrack -L -p udp").out;
  EXPECT_EQ(status, 7);
  EXPECT_EQ(f[0]["found"], "1 LAN host's L2TP tunnel (192.168.1.10) to 203.0.113.5 gets no reply: 203.0.113.5 "
                           "answers from port 1702 to the router's 203.0.113.1:1701");
  std::string fix = fix_of(f[0], "vpnpt");
  ASSERT_NE(fix.find("[l2tp]\nenabled = true\n"), std::string::npos) << fix;
  ASSERT_NE(fix.find("then: vpnpt apply"), std::string::npos) << fix;

  // The fix, as printed.
  {
    std::ifstream in(config_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    text.replace(text.find("enabled = false"), 15, "enabled = true");
    std::ofstream(config_) << text;
  }
  Result r = cli("apply");
  ASSERT_EQ(r.status, 0) << r.out;
  auto [after, j2] = doctor();
  EXPECT_EQ(after, 0) << j2.dump(1);

  // And the tunnel now works: the host's next SCCRQ is remembered, and the
  // LNS's answer from 1702 reaches the host's port 1701.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t waiter = fork();
  if (waiter == 0) {
    close(ready[0]);
    int fd = open(("/run/netns/" + host).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(100);
    int s = udp_bound("192.168.1.10", 1701);
    if (s < 0 || !send_to(s, "203.0.113.5", 1701)) _exit(101);
    timeval tv{0, 200000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!write(ready[1], "x", 1);
    char buf[64];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    for (int i = 0; i < 25; ++i) {  // 5 s: the answer is re-sent until it arrives
      if (recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) > 0)
        _exit(ntohs(from.sin_port) == 1702 ? 0 : 102);
      send_to(s, "203.0.113.5", 1701);
    }
    _exit(103);
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  int st = 0;
  for (int i = 0; i < 50; ++i) {
    server_answers();
    if (waitpid(waiter, &st, WNOHANG) == waiter) break;
    usleep(100000);
  }
  if (waitpid(waiter, &st, WNOHANG) == 0) {
    kill(waiter, SIGKILL);
    waitpid(waiter, &st, 0);
  }
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "the LNS's answer from 1702 did not reach the host after the fix (status " << st << ")\n"
      << run("conntrack -L -p udp; nft list map inet vpnpt l2tp_sessions").out;
}
