// status.cpp: gather the live state into one JSON model; print it.
#include "status.h"

#include <ctime>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "error.h"
#include "esp.h"
#include "kernel.h"
#include "nft.h"
#include "ruleset.h"
#include "state.h"
#include "version.h"

namespace vpnpt {

namespace {

using nlohmann::json;

constexpr uint8_t kTcp = 6, kUdp = 17, kGre = 47, kEsp = 50;

std::string endpoint(uint32_t addr, uint16_t port) {
  return port ? ipv4_str(addr) + ":" + std::to_string(port) : ipv4_str(addr);
}

bool has_port(const CtEntry& e, uint16_t p) {
  return e.orig.sport == p || e.orig.dport == p || e.reply.sport == p || e.reply.dport == p;
}

// What kind of VPN traffic an entry is, or "" for none of ours.
std::string kind_of(const CtEntry& e) {
  switch (e.orig.proto) {
    case kTcp: return has_port(e, 1723) ? "pptp" : (e.dst_nat() ? "forward" : "");
    case kGre: return "gre";
    case kEsp: return "esp";
    case kUdp:
      if (has_port(e, 1701)) return "l2tp";
      if (has_port(e, 4500)) return "nat-t";
      if (has_port(e, 500)) return "ike";
      return e.dst_nat() ? "forward" : "";
  }
  return e.dst_nat() ? "forward" : "";
}

const char* proto_name(uint8_t p) {
  switch (p) {
    case kTcp: return "tcp";
    case kUdp: return "udp";
    case kGre: return "gre";
    case kEsp: return "esp";
  }
  return "other";
}

json session_of(const CtEntry& e, const std::string& kind, uint64_t now_ns) {
  json s;
  s["kind"] = kind;
  s["protocol"] = proto_name(e.orig.proto);
  // LAN host → peer through SNAT, or peer → LAN server through DNAT.
  bool inbound = e.dst_nat() && !e.src_nat();
  s["direction"] = inbound ? "inbound" : "outbound";
  if (inbound) {
    s["local"] = endpoint(e.reply.src, e.reply.sport);
    s["remote"] = endpoint(e.orig.src, e.orig.sport);
    s["nat"] = endpoint(e.orig.dst, e.orig.dport);
  } else {
    s["local"] = endpoint(e.orig.src, e.orig.sport);
    s["remote"] = endpoint(e.orig.dst, e.orig.dport);
    s["nat"] = endpoint(e.reply.dst, e.reply.dport);
  }
  s["age"] = e.start_ns && now_ns > e.start_ns ? json((now_ns - e.start_ns) / 1000000000ULL) : json(nullptr);
  s["timeout"] = e.timeout;
  s["assured"] = (e.status & (1u << 2)) != 0;  // IPS_ASSURED
  if (!e.helper.empty()) s["helper"] = e.helper;
  if (e.zone) s["zone"] = e.zone;
  s["packets"] = e.packets;
  s["bytes"] = e.bytes;
  return s;
}

// A PPTP call (GRE) as seen from the LAN host: its call ID, the server's, and
// the call ID the server sees after translation.
json call_of(const CtEntry& g, uint64_t now_ns) {
  bool inbound = g.dst_nat() && !g.src_nat();
  const CtTuple& host_side = inbound ? g.reply : g.orig;  // tuple leaving the host
  json c;
  c["local"] = ipv4_str(host_side.src);
  c["remote"] = ipv4_str(host_side.dst);
  // In GRE tuples the "ports" are keys: src = the sender's own call ID.
  c["call_id"] = host_side.sport;
  c["peer_call_id"] = host_side.dport;
  c["nat_call_id"] = inbound ? g.orig.dport : g.reply.dport;
  c["age"] = g.start_ns && now_ns > g.start_ns ? json((now_ns - g.start_ns) / 1000000000ULL) : json(nullptr);
  c["timeout"] = g.timeout;
  c["packets"] = g.packets;
  return c;
}

std::string human_seconds(const json& v) {
  if (v.is_null()) return "?";
  uint64_t s = v.get<uint64_t>();
  std::ostringstream o;
  if (s >= 86400) o << s / 86400 << "d" << (s % 86400) / 3600 << "h";
  else if (s >= 3600) o << s / 3600 << "h" << (s % 3600) / 60 << "m";
  else if (s >= 60) o << s / 60 << "m" << s % 60 << "s";
  else o << s << "s";
  return o.str();
}

uint64_t now_realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

json table_json(const Config* cfg, const std::optional<AppliedRecord>& rec, const std::string& rules_dir,
                std::string* config_error) {
  json t;
  Nft nft;
  const auto generation = ruleset_generation();  // before the listing: a later commit shows as a change
  auto live = nft.list_table();
  t["present"] = live.has_value();
  if (!live) {
    t["drift"] = "absent";
    return t;
  }
  std::string live_digest = digest_from_comment(listing_comment(*live));
  t["digest"] = live_digest;
  std::string drift = "none";
  if (!rec || rec->digest != live_digest) {
    drift = "unknown";  // loaded by another run we have no record of
  } else if (rec->generation && rec->generation == generation) {
    // No nftables commit at all since apply's: the table is as applied.
  } else if (rec->listing_digest != text_digest(canonical_listing(*live))) {
    drift = "modified";  // someone changed the table after apply
  }
  if (cfg && drift != "modified") {
    try {
      if (render_ruleset(*cfg, rules_dir).digest != live_digest) drift = "config-changed";
    } catch (const Error& e) {
      *config_error = e.what();
    }
  }
  t["drift"] = drift;
  if (rec) t["applied_from"] = rec->config_path;
  return t;
}

json counters_json() {
  json c = json::object();
  Nft nft;
  for (const auto& [name, packets, bytes] : nft.list_counters()) c[name] = {{"packets", packets}, {"bytes", bytes}};
  return c;
}

json esp_json(const Config* cfg, const std::optional<AppliedRecord>& rec) {
  json e;
  e["configured"] = cfg ? (cfg->ipsec ? esp_mode_name(cfg->esp) : "off") : json(nullptr);
  bool module = false;
  try {
    module = espmux::family_present();
  } catch (const Error&) {
  }
  e["module_loaded"] = module;
  if (rec) {
    e["effective"] = rec->esp_mode;
    if (!rec->esp_note.empty()) e["note"] = rec->esp_note;
    if (rec->esp_mode == "mux" && !module) e["note"] = "the vpnpt_esp module was unloaded after apply";
  } else {
    e["effective"] = nullptr;
  }
  if (!module) return e;
  try {
    json counters = json::object();
    for (const auto& [name, value] : espmux::counters()) counters[name] = value;
    e["counters"] = counters;
    json maps = json::array();
    for (const auto& m : espmux::dump_mappings()) {
      maps.push_back({{"kind", m.kind},
                      {"host", m.host},
                      {"peer", m.peer},
                      {"spi_out", m.spi_out},
                      {"spi_in", m.spi_in},
                      {"state", m.state},
                      {"reason", m.reason},
                      {"zone", m.zone},
                      {"age", m.age_ms / 1000},
                      {"packets_out", m.packets_out},
                      {"packets_in", m.packets_in},
                      {"bytes_out", m.bytes_out},
                      {"bytes_in", m.bytes_in}});
    }
    e["mappings"] = maps;
  } catch (const Error& err) {
    e["error"] = err.what();
  }
  return e;
}

}  // namespace

json sessions_json(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                   uint64_t now_ns) {
  // host address → its sessions, in address order.
  std::map<uint32_t, json> hosts;
  std::vector<const CtEntry*> calls;
  for (const auto& e : entries) {
    if (!e.src_nat() && !e.dst_nat()) continue;  // not crossing our NAT
    std::string kind = kind_of(e);
    if (kind.empty()) continue;
    if (kind == "gre" && e.has_master && e.master.proto == kTcp) {
      calls.push_back(&e);
      continue;
    }
    bool inbound = e.dst_nat() && !e.src_nat();
    uint32_t host = inbound ? e.reply.src : e.orig.src;
    json s = session_of(e, kind, now_ns);
    if (kind == "pptp") {
      s["calls"] = json::array();
      s["expectations"] = json::array();
      s["_tuple"] = {e.orig.src, e.orig.dst, e.orig.sport, e.orig.dport};
    }
    hosts[host].push_back(s);
  }
  // Attach PPTP calls and pending expectations to their control connection.
  auto attach = [&](const CtTuple& master, const std::string& field, const json& item) {
    for (auto& [host, list] : hosts)
      for (auto& s : list)
        if (s.contains("_tuple") && s["_tuple"] == json({master.src, master.dst, master.sport, master.dport})) {
          s[field].push_back(item);
          return true;
        }
    return false;
  };
  for (const CtEntry* g : calls) {
    json c = call_of(*g, now_ns);
    if (!attach(g->master, "calls", c)) {
      bool inbound = g->dst_nat() && !g->src_nat();
      json s = session_of(*g, "gre", now_ns);
      hosts[inbound ? g->reply.src : g->orig.src].push_back(s);
    }
  }
  json orphans = json::array();
  for (const auto& x : expectations) {
    json item = {{"helper", x.helper},
                 {"protocol", proto_name(x.expect.proto)},
                 {"from", endpoint(x.expect.src, 0)},
                 {"to", endpoint(x.expect.dst, 0)},
                 {"key", x.expect.dport},
                 {"timeout", x.timeout}};
    if (!attach(x.master, "expectations", item)) orphans.push_back(item);
  }
  json out = json::array();
  for (auto& [host, list] : hosts) {
    for (auto& s : list) s.erase("_tuple");
    out.push_back({{"host", ipv4_str(host)}, {"sessions", list}});
  }
  return {{"hosts", out}, {"expectations", orphans}};
}

void run_status(const Options& opt, bool as_json, std::ostream& out) {
  require_net_admin();
  json s;
  s["version"] = VPNPT_VERSION;
  s["config"] = opt.config_path;
  std::optional<Config> cfg;
  std::string config_error;
  try {
    cfg = load_config(opt.config_path, opt.strict_perms);
  } catch (const Error& e) {
    config_error = e.what();
  }
  std::string rules_dir = find_rules_dir(opt.rules_dir);
  const auto rec = load_applied(opt.run_dir);
  s["table"] = table_json(cfg ? &*cfg : nullptr, rec, rules_dir, &config_error);
  if (!config_error.empty()) s["config_error"] = config_error;

  json kernel = json::array();
  for (const auto& p : probe_kernel(cfg ? *cfg : Config{}))
    kernel.push_back({{"name", p.name}, {"purpose", p.purpose}, {"state", p.state}});
  s["kernel"] = kernel;
  s["esp"] = esp_json(cfg ? &*cfg : nullptr, rec);
  s["counters"] = counters_json();
  json sessions = sessions_json(dump_conntrack(), dump_expectations(), now_realtime_ns());
  s["hosts"] = sessions["hosts"];
  s["expectations"] = sessions["expectations"];

  if (as_json) out << s.dump(2) << "\n";
  else print_status(s, out);
}

void print_status(const json& s, std::ostream& out) {
  out << "vpnpt " << s.value("version", "?") << ", config " << s.value("config", "?") << "\n";
  if (s.contains("config_error")) out << "config: " << s["config_error"].get<std::string>() << "\n";
  const json& t = s["table"];
  out << "table inet vpnpt: ";
  std::string drift = t.value("drift", "?");
  if (!t.value("present", false)) out << "not loaded (run 'vpnpt apply')\n";
  else if (drift == "none") out << "loaded, matches the config\n";
  else if (drift == "config-changed") out << "loaded, but the config has changed since (run 'vpnpt apply')\n";
  else if (drift == "modified") out << "loaded, but changed by something other than vpnpt (run 'vpnpt apply')\n";
  else out << "loaded, origin unknown (no record of applying it here; run 'vpnpt apply')\n";

  out << "kernel:";
  for (const auto& k : s["kernel"]) out << " " << k.value("name", "?") << " " << k.value("state", "?") << ";";
  out << "\n";

  const json& e = s["esp"];
  out << "esp: ";
  if (e["effective"].is_null()) out << "not applied";
  else out << e["effective"].get<std::string>();
  if (!e["configured"].is_null()) out << " (config: " << e["configured"].get<std::string>() << ")";
  out << ", module vpnpt_esp " << (e.value("module_loaded", false) ? "loaded" : "not loaded") << "\n";
  if (e.contains("note")) out << "  note: " << e["note"].get<std::string>() << "\n";
  if (e.contains("mappings")) {
    out << "  mappings: " << e["mappings"].size() << "\n";
    for (const auto& m : e["mappings"]) {
      out << "    " << m.value("kind", "esp") << " " << m.value("host", "?") << " <-> " << m.value("peer", "?") << "  spi out 0x" << std::hex
          << m.value("spi_out", 0u) << " in 0x" << m.value("spi_in", 0u) << std::dec << "  "
          << m.value("state", "?") << " (" << m.value("reason", "?") << ")  zone " << m.value("zone", 0)
          << "  age " << human_seconds(m["age"]) << "  pkts " << m.value("packets_out", 0ull) << "/"
          << m.value("packets_in", 0ull) << "\n";
    }
  }

  if (!s["counters"].empty()) {
    out << "counters:\n";
    for (const auto& [name, c] : s["counters"].items())
      out << "  " << std::left << std::setw(12) << name << std::right << std::setw(12) << c.value("packets", 0ull)
          << " packets " << std::setw(14) << c.value("bytes", 0ull) << " bytes\n";
  }

  out << "sessions:";
  if (s["hosts"].empty()) out << " none";
  out << "\n";
  for (const auto& h : s["hosts"]) {
    out << "  " << h.value("host", "?") << "\n";
    for (const auto& x : h["sessions"]) {
      out << "    " << std::left << std::setw(8) << x.value("kind", "?") << std::right
          << (x.value("direction", "") == "inbound" ? " <- " : " -> ") << x.value("remote", "?") << "  via "
          << x.value("nat", "?") << "  age " << human_seconds(x["age"]) << "  timeout "
          << human_seconds(x["timeout"]);
      if (x.contains("helper")) out << "  helper " << x["helper"].get<std::string>();
      out << "\n";
      if (x.contains("calls"))
        for (const auto& c : x["calls"])
          out << "      call " << c.value("call_id", 0) << " <-> peer call " << c.value("peer_call_id", 0)
              << "  (peer sees call " << c.value("nat_call_id", 0) << ")  age " << human_seconds(c["age"])
              << "  packets " << c.value("packets", 0ull) << "\n";
      if (x.contains("expectations"))
        for (const auto& c : x["expectations"])
          out << "      expecting " << c.value("protocol", "?") << " " << c.value("from", "?") << " -> "
              << c.value("to", "?") << " key " << c.value("key", 0) << "  (" << c.value("timeout", 0) << "s left)\n";
    }
  }
  for (const auto& c : s["expectations"])
    out << "  expecting " << c.value("protocol", "?") << " " << c.value("from", "?") << " -> " << c.value("to", "?")
        << " (" << c.value("helper", "?") << ", " << c.value("timeout", 0) << "s left)\n";
}

}  // namespace vpnpt
