// doctor.cpp: gather the live state, judge it (see doctor.h), print.
#include "doctor.h"

#include <nftables/libnftables.h>

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "error.h"
#include "esp_mux.h"
#include "stale.h"
#include "state.h"

namespace vpnpt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kGre = 47, kEsp = 50;
constexpr uint16_t kL2tp = 1701;
constexpr uint32_t kSeenReply = 0x2;  // IPS_SEEN_REPLY

// Which check (as vpnpt(8) lists them) each finding belongs to.
const std::pair<const char*, const char*> kCheckOf[] = {
    {"foreign-drop", "rules"},          {"foreign-drop-maybe", "rules"},
    {"foreign-policy-drop", "rules"},   {"helper-before-conntrack", "helpers"},
    {"helper-missing", "helpers"},      {"table-absent", "helpers"},
    {"flowtable-offload", "flowtables"}, {"kernel-piece", "kernel"},
    {"gre-tracking", "kernel"},         {"esp-module", "kernel"},
    {"conntrack-full", "sysctl"},       {"rp-filter", "sysctl"},
    {"helper-sysctl", "sysctl"},        {"helper-autoassign", "sysctl"},
    {"pptp-no-helper", "sessions"},     {"gre-no-master", "sessions"},
    {"esp-single-shared", "sessions"}, {"l2tp-other-port", "sessions"},
    {"pmtu-icmp-drop", "mtu"},
};
const char* const kChecks[] = {"rules", "helpers", "flowtables", "mtu", "kernel", "sysctl", "sessions"};

std::string group_of(const std::string& check) {
  for (const auto& [c, g] : kCheckOf)
    if (check == c) return g;
  return "other";
}

std::optional<uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  uint64_t v;
  if (in >> v) return v;
  return std::nullopt;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

SystemSnapshot read_system(const Config& cfg) {
  SystemSnapshot s;
  const std::string nf = "/proc/sys/net/netfilter/";
  s.ct_count = read_number(nf + "nf_conntrack_count");
  s.ct_max = read_number(nf + "nf_conntrack_max");
  std::error_code ec;
  s.gre_tracking = !s.ct_max || fs::exists(nf + "nf_conntrack_gre_timeout", ec);
  if (auto v = read_number(nf + "nf_conntrack_helper")) s.helper_sysctl = int(*v);
  std::vector<std::string> ifaces = cfg.lan_interfaces;
  ifaces.insert(ifaces.begin(), cfg.wan_interface);
  auto all = read_number("/proc/sys/net/ipv4/conf/all/rp_filter");
  for (const auto& i : ifaces)
    if (auto v = read_number("/proc/sys/net/ipv4/conf/" + i + "/rp_filter"))
      s.rp_filter.push_back({i, int(std::max(*v, all.value_or(0)))});
  for (const char* dir : {"/etc/sysctl.d", "/run/sysctl.d", "/usr/lib/sysctl.d", "/etc/modprobe.d"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".conf") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string t = read_text(f);
      if (t.find("nf_conntrack_helper") != std::string::npos) s.settings.push_back({f.string(), t});
    }
  }
  std::string t = read_text("/etc/sysctl.conf");
  if (t.find("nf_conntrack_helper") != std::string::npos) s.settings.push_back({"/etc/sysctl.conf", t});
  s.pieces = probe_kernel(cfg);
  // Only esp = "mux" needs the module (check_system); looking it up in the
  // modules tree costs time on a slow disk.
  if (cfg.ipsec && cfg.esp == EspMode::Mux)
    s.esp_module = espmux::family_present() ? PieceState::Loaded : module_state("vpnpt_esp", "");
  return s;
}

// The live ruleset as JSON and as text with handles, through libnftables.
struct Ruleset {
  json nftables = json::array();
  std::string text;
};

Ruleset list_ruleset() {
  Ruleset r;
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) throw Error(ErrorKind::Internal, "libnftables", "cannot create a context");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  auto list = [&](unsigned flags, std::string* out) {
    nft_ctx_output_set_flags(ctx, flags);
    if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0) {
      std::string err = nft_ctx_get_error_buffer(ctx);
      nft_ctx_free(ctx);
      throw Error(ErrorKind::Kernel, "nftables", "cannot list the ruleset: " + trim(err));
    }
    *out = nft_ctx_get_output_buffer(ctx);
  };
  std::string js;
  {
    // libnftables 1.0 writes "warning: stmt ops map have no json callback"
    // to stderr for statements its JSON cannot show (vpnpt's own map
    // update, for one); the rule is still listed, without that statement.
    int saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0) dup2(null, STDERR_FILENO);
    try {
      list(NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE, &js);
    } catch (...) {
      if (saved >= 0) dup2(saved, STDERR_FILENO);
      throw;
    }
    if (saved >= 0) {
      dup2(saved, STDERR_FILENO);
      close(saved);
    }
    if (null >= 0) close(null);
  }
  list(NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_STATELESS, &r.text);
  nft_ctx_free(ctx);
  try {
    if (!trim(js).empty()) r.nftables = json::parse(js).at("nftables");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::Internal, "libnftables", std::string("unreadable JSON ruleset: ") + e.what());
  }
  return r;
}

std::string persist(const std::string& line) {
  return "echo '" + line + "' > /etc/sysctl.d/90-vpnpt-doctor.conf";
}

}  // namespace

std::vector<Finding> check_system(const Config& cfg, const SystemSnapshot& s) {
  std::vector<Finding> out;
  for (const auto& p : s.pieces) {
    if (p.state != PieceState::Missing) continue;
    Finding f;
    f.check = "kernel-piece";
    f.found = p.name + " is missing from this kernel";
    f.why = "vpnpt needs it for " + p.purpose + "; apply refuses to load without it.";
    f.fixes.push_back({"kernel", "install a kernel with " + p.name + ", or turn off what needs it in the config"});
    out.push_back(std::move(f));
  }
  if (cfg.pptp && !s.gre_tracking) {
    Finding f;
    f.check = "gre-tracking";
    f.found = "conntrack does not track GRE (no net.netfilter.nf_conntrack_gre_timeout)";
    f.why = "Without GRE tracking (CONFIG_NF_CT_PROTO_GRE) the PPTP helper cannot expect the data channel; "
            "GRE calls are not NATed per call.";
    f.fixes.push_back({"kernel", "a kernel built with CONFIG_NF_CT_PROTO_GRE=y (module nf_conntrack_proto_gre "
                                 "before Linux 5.2: modprobe nf_conntrack_proto_gre)"});
    out.push_back(std::move(f));
  }
  if (cfg.ipsec && cfg.esp == EspMode::Mux && s.esp_module == PieceState::Missing) {
    Finding f;
    f.check = "esp-module";
    f.found = "esp = \"mux\" but the vpnpt_esp module is neither loaded nor installed";
    f.why = "Without it apply refuses esp = \"mux\", and raw ESP from several LAN hosts to one peer clashes.";
    f.fixes.push_back({"vpnpt", "install the vpnpt-dkms package (or build kmod/), then: vpnpt apply; or set "
                                "esp = \"auto\" to fall back to single"});
    out.push_back(std::move(f));
  }
  if (s.ct_count && s.ct_max && *s.ct_max > 0 && *s.ct_count * 10 > *s.ct_max * 9) {
    Finding f;
    f.check = "conntrack-full";
    f.found = "the conntrack table holds " + std::to_string(*s.ct_count) + " of " + std::to_string(*s.ct_max) +
              " entries (" + std::to_string(*s.ct_count * 100 / *s.ct_max) + "%)";
    f.why = "When it is full the kernel drops the first packet of every new flow (\"nf_conntrack: table full, "
            "dropping packet\"): new tunnels, PPTP calls and IKE rekeys fail first, as they open new flows.";
    std::string more = std::to_string(std::max<uint64_t>(*s.ct_max * 2, 65536));
    f.fixes.push_back({"sysctl", "sysctl -w net.netfilter.nf_conntrack_max=" + more + " (in the initial network "
                                 "namespace)\n" + persist("net.netfilter.nf_conntrack_max = " + more) +
                                 "\nand see what fills it: conntrack -L | awk '{print $1}' | sort | uniq -c"});
    out.push_back(std::move(f));
  }
  for (const auto& [iface, v] : s.rp_filter) {
    if (v != 1) continue;
    Finding f;
    f.check = "rp-filter";
    f.found = "rp_filter is strict (1) on " + iface;
    f.why = "Strict reverse-path filtering drops a packet whose source is not routed back out of the interface it "
            "came in on: with several uplinks, policy routing, a PPP or tunnel interface, or a LAN host reached "
            "another way, GRE and ESP from the peer and L2TP answers are dropped before conntrack sees them. "
            "Loose mode (2) still drops sources with no route at all.";
    f.fixes.push_back({"sysctl", "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf." + iface +
                                     ".rp_filter=2\n" + persist("net.ipv4.conf.all.rp_filter = 2") +
                                     "\n(add net.ipv4.conf." + iface + ".rp_filter = 2 to the same file)"});
    out.push_back(std::move(f));
  }
  if (s.helper_sysctl && *s.helper_sysctl == 1) {
    Finding f;
    f.check = "helper-autoassign";
    f.found = "net.netfilter.nf_conntrack_helper is 1: helpers are assigned automatically by port";
    f.why = "Automatic assignment attaches helpers to any flow on their port, from any side (CVE-class "
            "exposure; the kernel warns and Linux 6.0 removed it). vpnpt attaches the PPTP helper explicitly, "
            "only where the config wants it.";
    f.fixes.push_back({"sysctl", "sysctl -w net.netfilter.nf_conntrack_helper=0, and drop the setting from "
                                 "/etc/sysctl.d"});
    out.push_back(std::move(f));
  }
  for (const auto& file : s.settings) {
    std::istringstream in(file.text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::string t = trim(line);
      if (t.empty() || t[0] == '#' || t[0] == ';' || t.find("nf_conntrack_helper") == std::string::npos) continue;
      if (s.helper_sysctl && *s.helper_sysctl == 0) continue;  // still there and off: harmless
      Finding f;
      f.check = "helper-sysctl";
      f.found = file.path + ":" + std::to_string(n) + ": " + t;
      f.why = s.helper_sysctl ? "This old advice turns on automatic helper assignment, which is unsafe and which "
                                "vpnpt does not need."
                              : "This old advice (\"set nf_conntrack_helper=1 for PPTP\") does nothing since Linux "
                                "6.0 removed the setting: no helper gets attached by it (systemd-sysctl or "
                                "modprobe only log an error). Helpers are attached by a ct helper rule, which "
                                "vpnpt's table has.";
      f.fixes.push_back({"file", "delete line " + std::to_string(n) + " of " + file.path});
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<Finding> check_sessions(const Config& cfg, EspMode esp, const std::vector<CtEntry>& entries) {
  std::vector<Finding> out;
  std::map<uint32_t, std::set<uint32_t>> esp_hosts;  // peer → LAN hosts
  size_t no_helper = 0, no_master = 0;
  std::string no_helper_eg, no_master_eg;
  for (const auto& e : entries) {
    if (cfg.pptp && e.orig.proto == kTcp && e.orig.dport == 1723 && e.helper.empty() && (e.src_nat() || e.dst_nat())) {
      if (!no_helper++)
        no_helper_eg = ipv4_str(e.orig.src) + " -> " + ipv4_str(e.orig.dst) + (e.dst_nat() ? " (forwarded)" : "");
    }
    if (cfg.pptp && e.orig.proto == kGre && e.src_nat() && !e.dst_nat() && !e.has_master) {
      if (!no_master++) no_master_eg = ipv4_str(e.orig.src) + " -> " + ipv4_str(e.orig.dst);
    }
    if (e.orig.proto == kEsp && e.src_nat() && !e.dst_nat()) esp_hosts[e.orig.dst].insert(e.orig.src);
  }
  if (no_helper) {
    Finding f;
    f.check = "pptp-no-helper";
    f.found = std::to_string(no_helper) + " PPTP control connection(s) without the pptp helper, e.g. " + no_helper_eg;
    f.why = "The helper is attached only to a connection's first packet. These began before vpnpt's rules (or on "
            "a path without them), so their GRE calls are not expected nor NATed per call; they stay broken "
            "until they close.";
    f.fixes.push_back({"conntrack", "conntrack -D -p tcp --orig-port-dst 1723\n(the clients reconnect and get the "
                                    "helper)"});
    out.push_back(std::move(f));
  }
  if (no_master) {
    Finding f;
    f.check = "gre-no-master";
    f.found = std::to_string(no_master) + " GRE flow(s) through NAT without a PPTP master, e.g. " + no_master_eg;
    f.why = "GRE that no PPTP helper expected is NATed as a plain protocol without ports: one call per server works "
            "at most, a second LAN host's calls clash, and call IDs are not translated.";
    f.fixes.push_back({"conntrack", "conntrack -D -p gre; conntrack -D -p tcp --orig-port-dst 1723\n(then the PPTP "
                                    "clients reconnect through the helper)"});
    out.push_back(std::move(f));
  }
  if (!cfg.l2tp) {
    // A LAN host's tunnel to an LNS, masqueraded and never answered, while
    // the LNS sends from another port to the public end of that tunnel
    // (exactly what vpnpt's [l2tp] rules send on to the host).
    struct Tunnels {
      std::set<uint32_t> hosts;
      std::set<uint16_t> sports;
      std::set<std::pair<uint32_t, uint16_t>> ends;
    };
    std::map<uint32_t, Tunnels> by_server;
    for (const auto& t : entries) {
      if (t.orig.proto != kUdp || t.orig.dport != kL2tp || !t.src_nat() || t.dst_nat() || (t.status & kSeenReply))
        continue;
      for (const auto& a : entries)
        if (a.orig.proto == kUdp && !a.src_nat() && !a.dst_nat() && !(a.status & kSeenReply) &&
            a.orig.sport != kL2tp && a.orig.src == t.reply.src && a.orig.dst == t.reply.dst &&
            a.orig.dport == t.reply.dport) {
          auto& s = by_server[t.orig.dst];
          s.hosts.insert(t.orig.src);
          s.sports.insert(a.orig.sport);
          s.ends.insert({a.orig.dst, a.orig.dport});
        }
    }
    for (const auto& [server, s] : by_server) {
      std::string hosts, ports, ends;
      for (auto h : s.hosts) hosts += (hosts.empty() ? "" : ", ") + ipv4_str(h);
      for (auto p : s.sports) ports += (ports.empty() ? "" : ", ") + std::to_string(p);
      for (const auto& [a, p] : s.ends) ends += (ends.empty() ? "" : ", ") + ipv4_str(a) + ":" + std::to_string(p);
      bool one = s.hosts.size() == 1;
      Finding f;
      f.check = "l2tp-other-port";
      f.found = std::to_string(s.hosts.size()) + (one ? " LAN host's L2TP tunnel (" : " LAN hosts' L2TP tunnels (") +
                hosts + ") to " + ipv4_str(server) + (one ? " gets" : " get") + " no reply: " + ipv4_str(server) +
                " answers from port" + (s.sports.size() == 1 ? " " : "s ") + ports + " to the router's " + ends;
      f.why = "An L2TP server may answer from a port other than 1701 (RFC 2661 section 8.1; xl2tpd does when "
              "configured so). Such an answer is a new flow that matches no conntrack entry, so masquerade does "
              "not send it back to the LAN host: it ends at the router, and the host's client gives up after its "
              "retries. [l2tp] is off in the config, so vpnpt does not send these answers on.";
      f.fixes.push_back({"vpnpt", "in " + cfg.path + ":\n[l2tp]\nenabled = true\n(or delete the enabled = false "
                                  "line), then: vpnpt apply\n(apply clears the answers the router refused, and the "
                                  "clients' next retries get through)"});
      out.push_back(std::move(f));
    }
  }
  if (cfg.ipsec && esp == EspMode::Single)
    for (const auto& [peer, hosts] : esp_hosts) {
      if (hosts.size() < 2) continue;
      Finding f;
      f.check = "esp-single-shared";
      std::vector<std::string> h;
      for (auto a : hosts) h.push_back(ipv4_str(a));
      std::string list;
      for (size_t i = 0; i < h.size(); ++i) list += (i ? ", " : "") + h[i];
      f.found = std::to_string(hosts.size()) + " LAN hosts (" + list + ") send raw ESP to " + ipv4_str(peer) +
                " with esp = \"single\"";
      f.why = "Raw ESP has no ports: plain NAT keeps one LAN host per peer, and the others' packets clash with it "
              "and are dropped (or answered to the wrong host).";
      f.fixes.push_back({"vpnpt", "set esp = \"mux\" (vpnpt_esp module) in the config, then: vpnpt apply; or have "
                                  "the clients use NAT-T (UDP 4500)"});
      out.push_back(std::move(f));
    }
  return out;
}

void print_doctor(const DoctorReport& r, std::ostream& out) {
  if (r.findings.empty()) out << "vpnpt doctor: nothing found in the way\n";
  else out << "vpnpt doctor: " << r.findings.size() << (r.findings.size() == 1 ? " finding" : " findings") << "\n";
  for (const auto& f : r.findings) {
    out << "\n[" << f.check << "] " << f.found << "\n";
    out << "  why: " << f.why << "\n";
    for (const auto& [tool, fix] : f.fixes) {
      out << "  fix (" << tool << "):\n";
      std::istringstream in(fix);
      std::string line;
      while (std::getline(in, line)) out << "    " << line << "\n";
    }
  }
  out << "\nchecks:";
  for (const auto& c : r.checks) out << " " << c.name << " " << c.status << (&c == &r.checks.back() ? "" : ",");
  out << "\n";
  for (const auto& c : r.checks)
    if (!c.note.empty()) out << "  " << c.name << ": " << c.note << "\n";
}

json doctor_json(const DoctorReport& r) {
  json j;
  j["ok"] = r.findings.empty();
  json checks = json::array();
  for (const auto& c : r.checks) {
    json o = {{"name", c.name}, {"status", c.status}};
    if (!c.note.empty()) o["note"] = c.note;
    checks.push_back(o);
  }
  j["checks"] = checks;
  json findings = json::array();
  for (const auto& f : r.findings) {
    json o = {{"check", f.check}, {"found", f.found}, {"why", f.why}};
    if (!f.table.empty()) o["table"] = f.table;
    if (!f.chain.empty()) o["chain"] = f.chain;
    if (f.handle) o["handle"] = *f.handle;
    json fixes = json::array();
    for (const auto& [tool, fix] : f.fixes) fixes.push_back({{"tool", tool}, {"fix", fix}});
    o["fixes"] = fixes;
    findings.push_back(o);
  }
  j["findings"] = findings;
  return j;
}

int run_doctor(const Options& opt, bool as_json, std::ostream& out) {
  require_net_admin();
  Config cfg = load_config(opt.config_path, opt.strict_perms);
  DoctorReport report;
  std::map<std::string, std::string> skipped;

  Ruleset rs = list_ruleset();
  RulesetContext ctx;
  ctx.wan = cfg.wan_interface;
  ctx.lan = cfg.lan_interfaces;
  ctx.rule_text = rule_texts(rs.text);
  ctx.debian_tables = declared_tables(read_text("/etc/nftables.conf"));
  ctx.pptp = cfg.pptp;
  // SIOCGIFMTU on a socket of this network namespace (/sys/class/net
  // shows the namespace that mounted sysfs, not necessarily ours).
  auto mtu = [](const std::string& iface) -> std::optional<unsigned> {
    ifreq ifr{};
    if (iface.empty() || iface.size() >= sizeof ifr.ifr_name) return std::nullopt;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return std::nullopt;
    std::memcpy(ifr.ifr_name, iface.data(), iface.size());
    bool ok = ioctl(s, SIOCGIFMTU, &ifr) == 0;
    close(s);
    return ok ? std::optional<unsigned>(unsigned(ifr.ifr_mtu)) : std::nullopt;
  };
  ctx.wan_mtu = mtu(cfg.wan_interface);
  for (const auto& i : cfg.lan_interfaces)
    if (auto m = mtu(i)) ctx.lan_mtu.push_back({i, *m});
  auto add = [&](std::vector<Finding> f) {
    for (auto& x : f) report.findings.push_back(std::move(x));
  };
  add(find_foreign_drops(rs.nftables, passthrough_flows(cfg), ctx));
  add(find_early_helpers(rs.nftables, ctx));
  add(find_missing_helpers(rs.nftables, cfg));
  add(find_offloads(rs.nftables, passthrough_flows(cfg, true), ctx));
  add(find_pmtu_drops(rs.nftables, pmtu_flows(cfg, ctx), ctx));
  add(check_system(cfg, read_system(cfg)));

  EspMode esp = cfg.ipsec ? cfg.esp : EspMode::Off;
  if (auto rec = load_applied(opt.run_dir); rec && !rec->esp_mode.empty())
    esp = rec->esp_mode == "mux" ? EspMode::Mux : rec->esp_mode == "single" ? EspMode::Single : EspMode::Off;
  else if (esp == EspMode::Auto)
    esp = espmux::family_present() ? EspMode::Mux : EspMode::Single;
  try {
    // Every entry, not only the NATed ones: an L2TP server's answer from
    // another port ends at the router, un-NATed and unanswered. Only what a
    // check looks at is kept (not, say, the LAN's DNS to the router).
    std::vector<CtEntry> entries;
    const std::set<uint32_t> local = stale_scope(cfg, 0).local;
    dump_conntrack([&](const CtEntry& e) {
      const auto& o = e.orig;
      if (o.proto == kGre || o.proto == kEsp || (o.proto == kTcp && o.dport == 1723) ||
          (o.proto == kUdp && (o.dport == kL2tp || (!cfg.l2tp && o.sport != kL2tp && local.count(o.dst) &&
                                                    !e.src_nat() && !e.dst_nat() && !(e.status & kSeenReply)))))
        entries.push_back(e);
    });
    add(check_sessions(cfg, esp, entries));
  } catch (const Error& e) {
    skipped["sessions"] = std::string("conntrack unreadable: ") + e.what();
  }

  for (const char* name : kChecks) {
    CheckResult c{name, "ok", {}};
    for (const auto& f : report.findings)
      if (group_of(f.check) == name) c.status = "findings";
    if (auto it = skipped.find(name); it != skipped.end()) {
      c.status = "skipped";
      c.note = it->second;
    }
    report.checks.push_back(c);
  }
  if (as_json) out << doctor_json(report).dump(2) << "\n";
  else print_doctor(report, out);
  return report.findings.empty() ? 0 : exit_code(ErrorKind::Findings);
}

}  // namespace vpnpt
