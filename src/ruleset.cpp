// ruleset.cpp: choose the templates of rules/ and fill them in from Config.
#include "ruleset.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.h"
#include "template.h"
#include "version.h"

namespace vpnpt {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDigestMarker = "@DIGEST@";

std::string read_template(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  std::ifstream in(path);
  if (!in)
    throw Error(ErrorKind::Internal, path, "cannot read rule template",
                "reinstall vpnpt, or point --rules-dir at the rules/ folder");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T, typename F>
std::string join(const std::vector<T>& items, F fmt) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + fmt(i);
  return s;
}

bool has_service(const Config& cfg, const char* service) {
  for (const auto& f : cfg.forwards)
    if (f.service == service) return true;
  return false;
}

TemplateVars variables(const Config& cfg, const std::string& version) {
  TemplateVars v;
  v["comment"] = "vpnpt " + (version.empty() ? std::string(VPNPT_VERSION) : version) + " digest " + kDigestMarker;
  v["wan"] = cfg.wan_interface;
  v["masquerade"] = cfg.masquerade ? "1" : "";
  v["lan_ifaces"] = join(cfg.lan_interfaces, [](const std::string& s) { return "\"" + s + "\""; });
  v["lan_nets"] = join(cfg.lan_subnets, [](const Ipv4Net& n) { return n.str(); });
  v["pptp_lan"] = cfg.pptp ? "1" : "";
  v["pptp_forward"] = has_service(cfg, "pptp") ? "1" : "";
  v["ipsec_forward"] = has_service(cfg, "ipsec") ? "1" : "";
  v["ike_timeout"] = std::to_string(cfg.ike_timeout);

  std::vector<std::string> ports;
  std::string esp, gre;
  for (const auto& f : cfg.forwards) {
    for (const auto& p : f.ports) {
      if (p.proto == L4::Esp) {
        esp = ipv4_str(f.to);
      } else if (p.proto == L4::Gre) {
        gre = ipv4_str(f.to);
      } else {
        ports.push_back(std::string(l4_name(p.proto)) + " . " + std::to_string(p.port) + " : " +
                        ipv4_str(f.to) + " . " + std::to_string(p.to_port ? p.to_port : p.port));
      }
    }
  }
  v["fwd_ports"] = join(ports, [](const std::string& s) { return s; });
  v["fwd_esp"] = esp;
  v["fwd_gre"] = gre;
  return v;
}

}  // namespace

std::string find_rules_dir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& candidate : {exe.parent_path().parent_path() / "share/vpnpt/rules",
                                      exe.parent_path() / "rules"}) {
      if (fs::exists(candidate / "base.nft", ec)) return candidate.string();
    }
  }
  return VPNPT_RULES_DIR;
}

Ruleset render_ruleset(const Config& cfg, const std::string& rules_dir, const std::string& version) {
  TemplateVars vars = variables(cfg, version);
  std::vector<std::string> parts = {"base.nft"};
  if (cfg.pptp || !vars["pptp_forward"].empty()) parts.push_back("pptp.nft");
  if (cfg.l2tp) parts.push_back("l2tp.nft");
  if (cfg.ipsec || !vars["ipsec_forward"].empty()) parts.push_back("ipsec.nft");
  if (!cfg.forwards.empty()) parts.push_back("forward.nft");

  std::string text;
  for (const auto& name : parts) {
    if (!text.empty()) text += "\n";
    text += render_template(read_template(rules_dir, name), vars, name);
  }
  Ruleset r;
  r.digest = text_digest(text);
  r.text = text.replace(text.find(kDigestMarker), std::string(kDigestMarker).size(), r.digest);
  return r;
}

std::string digest_from_comment(const std::string& comment) {
  auto pos = comment.rfind(" digest ");
  if (comment.rfind("vpnpt ", 0) != 0 || pos == std::string::npos) return {};
  return comment.substr(pos + 8);
}

std::string text_digest(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace vpnpt
