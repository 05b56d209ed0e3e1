// config.cpp: TOML → Config, with every mistake reported as file:line: key: problem.
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "error.h"

namespace vpnpt {

const char* esp_mode_name(EspMode m) {
  switch (m) {
    case EspMode::Auto: return "auto";
    case EspMode::Mux: return "mux";
    case EspMode::Single: return "single";
    case EspMode::Off: return "off";
  }
  return "?";
}

const char* l4_name(L4 p) {
  switch (p) {
    case L4::Tcp: return "tcp";
    case L4::Udp: return "udp";
    case L4::Esp: return "esp";
    case L4::Gre: return "gre";
  }
  return "?";
}

std::string ipv4_str(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string Ipv4Net::str() const { return ipv4_str(addr) + "/" + std::to_string(prefix); }

namespace {

// The presets of [[forward]] service = "...".
struct Preset {
  const char* name;
  std::vector<ForwardPort> ports;
  bool pptp_helper;
  bool port_overridable;  // a single-port preset whose port = may move it
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"pptp", {{L4::Tcp, 1723, 0}}, true, false},
      {"l2tp", {{L4::Udp, 1701, 0}}, false, false},
      {"ipsec", {{L4::Udp, 500, 0}, {L4::Udp, 4500, 0}, {L4::Esp, 0, 0}}, false, false},
      {"openvpn", {{L4::Udp, 1194, 0}}, false, true},
      {"wireguard", {{L4::Udp, 51820, 0}}, false, true},
  };
  return p;
}

std::string preset_names() {
  std::string s;
  for (const auto& p : presets()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

// Reports errors against one file.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(int line, const std::string& key, const std::string& problem,
                         const std::string& hint = {}) const {
    std::string subject = path_;
    if (line > 0) subject += ":" + std::to_string(line);
    if (!key.empty()) subject += ": " + key;
    throw Error(ErrorKind::Config, subject, problem, hint);
  }

  static int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

  // Every key of `tbl` must be in `allowed`.
  void only_keys(const toml::table& tbl, const std::string& prefix,
                 std::initializer_list<const char*> allowed) const {
    for (const auto& [k, v] : tbl) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || k.str() == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        int line = static_cast<int>(k.source().begin.line);
        if (line <= 0) line = line_of(v);
        fail(line, prefix + std::string(k.str()), "unknown key",
             list.empty() ? std::string() : "known keys here: " + list);
      }
    }
  }

  const toml::table* table(const toml::table& root, const char* key) const {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(line_of(*n), key, std::string("expected a table ([") + key + "])");
    return n->as_table();
  }

  std::optional<std::string> str(const toml::table& t, const std::string& prefix, const char* key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(line_of(*n), prefix + key, "expected a string");
    return n->as_string()->get();
  }

  std::optional<bool> boolean(const toml::table& t, const std::string& prefix, const char* key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(line_of(*n), prefix + key, "expected true or false");
    return n->as_boolean()->get();
  }

  std::optional<int64_t> integer(const toml::table& t, const std::string& prefix, const char* key,
                                 int64_t lo, int64_t hi) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(line_of(*n), prefix + key, "expected an integer");
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi)
      fail(line_of(*n), prefix + key,
           "out of range: " + std::to_string(v) + " (allowed " + std::to_string(lo) + " to " +
               std::to_string(hi) + ")");
    return v;
  }

  // An array of strings: values with their lines.
  std::vector<std::pair<std::string, int>> strings(const toml::table& t, const std::string& prefix,
                                                   const char* key) const {
    std::vector<std::pair<std::string, int>> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    if (!n->is_array()) fail(line_of(*n), prefix + key, "expected an array of strings");
    const toml::array& arr = *n->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      const toml::node& e = arr[i];
      std::string k = prefix + key + "[" + std::to_string(i) + "]";
      if (!e.is_string()) fail(line_of(e), k, "expected a string");
      int line = line_of(e);
      out.emplace_back(e.as_string()->get(), line > 0 ? line : line_of(*n));
    }
    return out;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool parse_ipv4(const std::string& s, uint32_t& out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  out = ntohl(a.s_addr);
  return true;
}

// Linux interface names: 1-15 bytes, no '/', whitespace, quotes or other
// characters that would need escaping in nftables syntax. A trailing '*' is
// nftables' wildcard (e.g. "ppp*").
std::string interface_problem(const std::string& name) {
  if (name.empty()) return "empty interface name";
  if (name.size() > IFNAMSIZ - 1)
    return "interface name longer than " + std::to_string(IFNAMSIZ - 1) + " characters: \"" + name + "\"";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '@' || c == ':' || c == '+' ||
              (c == '*' && i == name.size() - 1 && i > 0);
    if (!ok) return "invalid character in interface name: \"" + name + "\"";
  }
  return {};
}

void read_wan(const Reader& r, const toml::table& root, Config& cfg) {
  const toml::table* wan = r.table(root, "wan");
  if (!wan) r.fail(0, "wan", "missing section [wan]", "add [wan] with interface = \"<your WAN interface>\"");
  r.only_keys(*wan, "wan.", {"interface", "masquerade"});
  auto iface = r.str(*wan, "wan.", "interface");
  if (!iface) r.fail(Reader::line_of(*wan), "wan.interface", "missing (the interface that faces the internet)");
  const toml::node* n = wan->get("interface");
  if (auto p = interface_problem(*iface); !p.empty()) r.fail(Reader::line_of(*n), "wan.interface", p);
  cfg.wan_interface = *iface;
  cfg.wan_interface_line = Reader::line_of(*n);
  cfg.masquerade = r.boolean(*wan, "wan.", "masquerade").value_or(true);
}

void read_lan(const Reader& r, const toml::table& root, Config& cfg) {
  const toml::table* lan = r.table(root, "lan");
  if (!lan) r.fail(0, "lan", "missing section [lan]", "add [lan] with interfaces = [...] and/or subnets = [...]");
  r.only_keys(*lan, "lan.", {"interfaces", "subnets"});
  std::map<std::string, int> seen;
  size_t i = 0;
  for (const auto& [name, line] : r.strings(*lan, "lan.", "interfaces")) {
    std::string key = "lan.interfaces[" + std::to_string(i++) + "]";
    if (auto p = interface_problem(name); !p.empty()) r.fail(line, key, p);
    if (name.back() == '*') r.fail(line, key, "wildcards are not supported for LAN interfaces", "name each interface, or use lan.subnets");
    if (name == cfg.wan_interface) r.fail(line, key, "\"" + name + "\" is also the WAN interface");
    if (seen.count(name)) r.fail(line, key, "\"" + name + "\" is listed twice");
    seen[name] = line;
    cfg.lan_interfaces.push_back(name);
    cfg.lan_interface_lines.push_back(line);
  }
  i = 0;
  std::map<uint64_t, std::pair<uint64_t, size_t>> spans;  // first address -> (last, index)
  for (const auto& [text, line] : r.strings(*lan, "lan.", "subnets")) {
    std::string key = "lan.subnets[" + std::to_string(i++) + "]";
    Ipv4Net net;
    auto slash = text.find('/');
    std::string addr = text.substr(0, slash);
    if (!parse_ipv4(addr, net.addr))
      r.fail(line, key, "not an IPv4 subnet: \"" + text + "\"", "write it as a.b.c.d/len, e.g. 192.168.1.0/24");
    if (slash == std::string::npos) {
      net.prefix = 32;
    } else {
      std::string len = text.substr(slash + 1);
      char* end = nullptr;
      long v = std::strtol(len.c_str(), &end, 10);
      if (len.empty() || *end || v < 0 || v > 32)
        r.fail(line, key, "bad prefix length in \"" + text + "\"", "the length is 0 to 32");
      net.prefix = static_cast<int>(v);
    }
    uint32_t mask = net.prefix == 0 ? 0 : ~uint32_t(0) << (32 - net.prefix);
    if (net.addr & ~mask) {
      Ipv4Net fixed{net.addr & mask, net.prefix};
      r.fail(line, key, "\"" + text + "\" has host bits set", "did you mean " + fixed.str() + "?");
    }
    // Earlier subnets are disjoint: those that overlap this one start inside
    // it, or one starts before it and reaches into it. Name the first listed.
    const uint64_t first = net.addr, last = uint64_t(net.addr) + (uint64_t(1) << (32 - net.prefix)) - 1;
    auto it = spans.upper_bound(first);
    if (it != spans.begin() && std::prev(it)->second.first >= first) --it;
    size_t clash = SIZE_MAX;
    for (; it != spans.end() && it->first <= last; ++it) clash = std::min(clash, it->second.second);
    if (clash != SIZE_MAX)
      r.fail(line, key, "\"" + text + "\" overlaps " + cfg.lan_subnets[clash].str());
    spans[first] = {last, cfg.lan_subnets.size()};
    cfg.lan_subnets.push_back(net);
  }
  if (cfg.lan_interfaces.empty() && cfg.lan_subnets.empty())
    r.fail(Reader::line_of(*lan), "lan", "names no interfaces and no subnets",
           "set lan.interfaces, lan.subnets, or both");
}

void read_switch(const Reader& r, const toml::table& root, const char* section, bool& out) {
  const toml::table* t = r.table(root, section);
  if (!t) return;
  std::string prefix = std::string(section) + ".";
  r.only_keys(*t, prefix, {"enabled"});
  out = r.boolean(*t, prefix, "enabled").value_or(true);
}

void read_ipsec(const Reader& r, const toml::table& root, Config& cfg) {
  const toml::table* t = r.table(root, "ipsec");
  if (!t) return;
  r.only_keys(*t, "ipsec.", {"enabled", "esp", "ike_timeout", "mux"});
  cfg.ipsec = r.boolean(*t, "ipsec.", "enabled").value_or(true);
  if (auto esp = r.str(*t, "ipsec.", "esp")) {
    static const std::pair<const char*, EspMode> modes[] = {
        {"auto", EspMode::Auto}, {"mux", EspMode::Mux}, {"single", EspMode::Single}, {"off", EspMode::Off}};
    bool found = false;
    for (const auto& [name, mode] : modes)
      if (*esp == name) cfg.esp = mode, found = true;
    if (!found)
      r.fail(Reader::line_of(*t->get("esp")), "ipsec.esp", "unknown mode \"" + *esp + "\"",
             "use \"auto\", \"mux\", \"single\" or \"off\"");
  }
  if (auto v = r.integer(*t, "ipsec.", "ike_timeout", 30, 86400)) cfg.ike_timeout = static_cast<uint32_t>(*v);

  const toml::node* muxn = t->get("mux");
  if (!muxn) return;
  if (!muxn->is_table()) r.fail(Reader::line_of(*muxn), "ipsec.mux", "expected a table ([ipsec.mux])");
  const toml::table& m = *muxn->as_table();
  // Names, defaults and ranges: the module's table (kmod/uapi/vpnpt_esp.h).
#define VPNPT_MUX_KEY(attr, name, def, lo, hi) #name,
  r.only_keys(m, "ipsec.mux.", {VPNPT_ESP_TUNABLES(VPNPT_MUX_KEY) "keep_ike_port"});
#undef VPNPT_MUX_KEY
#define VPNPT_MUX_READ(attr, name, def, lo, hi) \
  if (auto v = r.integer(m, "ipsec.mux.", #name, lo, hi)) cfg.mux.name = static_cast<uint32_t>(*v);
  VPNPT_ESP_TUNABLES(VPNPT_MUX_READ)
#undef VPNPT_MUX_READ
  if (cfg.mux.idle_timeout < cfg.mux.pending_timeout) {
    const char* key = m.contains("idle_timeout") ? "idle_timeout" : "pending_timeout";
    r.fail(Reader::line_of(*m.get(key)), std::string("ipsec.mux.") + key,
           "idle_timeout (" + std::to_string(cfg.mux.idle_timeout) + " s) is below pending_timeout (" +
               std::to_string(cfg.mux.pending_timeout) + " s)",
           "an SA must be allowed to idle at least as long as its bind window");
  }
  cfg.mux.keep_ike_port = r.boolean(m, "ipsec.mux.", "keep_ike_port").value_or(false);
}

Forward read_forward(const Reader& r, const toml::table& t, size_t index) {
  std::string prefix = "forward[" + std::to_string(index) + "].";
  int line = Reader::line_of(t);
  r.only_keys(t, prefix, {"service", "protocol", "port", "to", "to_port", "name"});
  Forward f;
  f.line = line;
  auto service = r.str(t, prefix, "service");
  auto protocol = r.str(t, prefix, "protocol");
  auto line_of_key = [&](const char* key) { return Reader::line_of(*t.get(key)); };
  auto port = r.integer(t, prefix, "port", 1, 65535);
  auto to_port = r.integer(t, prefix, "to_port", 1, 65535);

  if (service && protocol)
    r.fail(line_of_key("protocol"), prefix + "protocol", "give either service or protocol, not both");
  if (service) {
    const Preset* preset = nullptr;
    for (const auto& p : presets())
      if (*service == p.name) preset = &p;
    if (!preset)
      r.fail(line_of_key("service"), prefix + "service", "unknown service \"" + *service + "\"",
             "presets: " + preset_names() + "; or use protocol + port");
    f.service = preset->name;
    f.ports = preset->ports;
    f.pptp_helper = preset->pptp_helper;
    if (port) {
      if (!preset->port_overridable)
        r.fail(line_of_key("port"), prefix + "port", std::string("the ") + preset->name + " preset has fixed ports",
               "use protocol + port for a non-standard setup");
      f.ports[0].port = static_cast<uint16_t>(*port);
    }
    if (to_port) {
      if (f.ports.size() != 1 || preset->pptp_helper)
        r.fail(line_of_key("to_port"), prefix + "to_port",
               std::string("the ") + preset->name + " preset cannot change ports",
               preset->pptp_helper ? "the PPTP helper needs the server on TCP 1723" : "");
      f.ports[0].to_port = static_cast<uint16_t>(*to_port);
    }
  } else if (protocol) {
    ForwardPort p;
    if (*protocol == "tcp") p.proto = L4::Tcp;
    else if (*protocol == "udp") p.proto = L4::Udp;
    else if (*protocol == "esp") p.proto = L4::Esp;
    else if (*protocol == "gre") p.proto = L4::Gre;
    else
      r.fail(line_of_key("protocol"), prefix + "protocol", "unknown protocol \"" + *protocol + "\"",
             "use \"tcp\", \"udp\", \"esp\" or \"gre\"");
    bool ported = p.proto == L4::Tcp || p.proto == L4::Udp;
    if (ported && !port) r.fail(line, prefix + "port", "missing (a " + *protocol + " forward needs a port)");
    if (!ported && port)
      r.fail(line_of_key("port"), prefix + "port", *protocol + " has no ports");
    if (!ported && to_port)
      r.fail(line_of_key("to_port"), prefix + "to_port", *protocol + " has no ports");
    if (port) p.port = static_cast<uint16_t>(*port);
    if (to_port) p.to_port = static_cast<uint16_t>(*to_port);
    f.ports.push_back(p);
  } else {
    r.fail(line, prefix + "service", "missing: give service (" + preset_names() + ") or protocol + port");
  }

  auto to = r.str(t, prefix, "to");
  if (!to) r.fail(line, prefix + "to", "missing (the LAN address of the server)");
  if (!parse_ipv4(*to, f.to))
    r.fail(line_of_key("to"), prefix + "to", "not an IPv4 address: \"" + *to + "\"",
           "forwards are IPv4 only: IPv6 needs no NAT");
  if (f.to == 0 || (f.to >> 24) == 127 || (f.to >> 28) == 14 || f.to == 0xffffffff)
    r.fail(line_of_key("to"), prefix + "to", "not a host address: \"" + *to + "\"");
  f.name = r.str(t, prefix, "name").value_or(f.service.empty() ? std::string(l4_name(f.ports[0].proto)) +
                                                                     (f.ports[0].port ? "/" + std::to_string(f.ports[0].port) : "")
                                                               : f.service);
  for (char c : f.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/' || c == ' '))
      r.fail(line_of_key("name"), prefix + "name", "invalid character in \"" + f.name + "\"",
             "use letters, digits, space and - _ . /");
  if (f.name.size() > 64) r.fail(line_of_key("name"), prefix + "name", "longer than 64 characters");
  return f;
}

void read_forwards(const Reader& r, const toml::table& root, Config& cfg) {
  const toml::node* n = root.get("forward");
  if (!n) return;
  if (!n->is_array_of_tables())
    r.fail(Reader::line_of(*n), "forward", "expected [[forward]] tables");
  const toml::array& arr = *n->as_array();
  // (protocol, port) → line of the forward that claimed it.
  std::map<std::pair<L4, uint16_t>, int> claimed;
  for (size_t i = 0; i < arr.size(); ++i) {
    Forward f = read_forward(r, *arr[i].as_table(), i);
    for (const auto& p : f.ports) {
      auto key = std::make_pair(p.proto, p.port);
      if (auto it = claimed.find(key); it != claimed.end()) {
        std::string what = std::string(l4_name(p.proto)) + (p.port ? " port " + std::to_string(p.port) : "");
        r.fail(f.line, "forward[" + std::to_string(i) + "]",
               what + " is already forwarded by the [[forward]] at line " + std::to_string(it->second),
               "one WAN port can go to one server only");
      }
      claimed[key] = f.line;
    }
    cfg.forwards.push_back(std::move(f));
  }
}

}  // namespace

Config parse_config(const std::string& text, const std::string& path) {
  Reader r(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    r.fail(static_cast<int>(e.source().begin.line), "", std::string(e.description()));
  }
  r.only_keys(root, "", {"wan", "lan", "pptp", "l2tp", "ipsec", "forward"});
  Config cfg;
  cfg.path = path;
  read_wan(r, root, cfg);
  read_lan(r, root, cfg);
  read_switch(r, root, "pptp", cfg.pptp);
  read_switch(r, root, "l2tp", cfg.l2tp);
  read_ipsec(r, root, cfg);
  read_forwards(r, root, cfg);
  return cfg;
}

namespace {

std::string owner_name(uid_t uid) {
  std::string s = "uid " + std::to_string(uid);
  if (const passwd* pw = getpwuid(uid)) s += " (" + std::string(pw->pw_name) + ")";
  return s;
}

// The file as opened (fstat, no race with a rename): ours or root's, and
// writable by its owner alone.
void require_safe_perms(int fd, const std::string& path) {
  struct stat st{};
  if (fstat(fd, &st) != 0)
    throw Error(ErrorKind::Config, path, std::string("cannot stat: ") + std::strerror(errno));
  const bool owner_ok = st.st_uid == 0 || st.st_uid == geteuid();
  const bool mode_ok = (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  if (owner_ok && mode_ok) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
  std::string why = !mode_ok ? "writable by " + std::string((st.st_mode & S_IWOTH) ? "everyone" : "its group")
                             : "owned by neither root nor the user running vpnpt";
  throw Error(ErrorKind::Unsafe, path,
              "unsafe permissions: mode " + std::string(mode) + ", owner " + owner_name(st.st_uid) + ": " + why +
                  "; whoever can write it can change the firewall",
              "chown root: " + path + " && chmod go-w " + path + ", or pass --no-strict-perms");
}

}  // namespace

Config load_config(const std::string& path, bool strict_perms) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error(ErrorKind::Config, path, std::string("cannot read: ") + std::strerror(errno),
                "give another file with --config PATH");
  std::string text;
  try {
    if (strict_perms) require_safe_perms(fd, path);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    if (n < 0) throw Error(ErrorKind::Config, path, std::string("cannot read: ") + std::strerror(errno));
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  return parse_config(text, path);
}

void check_host(const Config& cfg) {
  Reader r(cfg.path);
  auto exists = [](const std::string& name) { return if_nametoindex(name.c_str()) != 0; };
  if (cfg.wan_interface.back() != '*' && !exists(cfg.wan_interface))
    r.fail(cfg.wan_interface_line, "wan.interface", "no interface named \"" + cfg.wan_interface + "\"",
           "see 'ip link' for the interfaces of this machine");
  for (size_t i = 0; i < cfg.lan_interfaces.size(); ++i)
    if (!exists(cfg.lan_interfaces[i]))
      r.fail(cfg.lan_interface_lines[i], "lan.interfaces[" + std::to_string(i) + "]",
             "no interface named \"" + cfg.lan_interfaces[i] + "\"",
             "see 'ip link' for the interfaces of this machine");
}

}  // namespace vpnpt
