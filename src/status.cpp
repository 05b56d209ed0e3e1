// status.cpp: gather the live state into one JSON model; print it.
#include "status.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <ostream>
#include <sstream>

#include "error.h"
#include "esp.h"
#include "kernel.h"
#include "nft.h"
#include "ruleset.h"
#include "state.h"
#include "table_digest.h"
#include "version.h"

namespace vpnpt {

namespace {

using nlohmann::json;

constexpr uint8_t kTcp = 6, kUdp = 17, kGre = 47, kEsp = 50;

bool has_port(const CtEntry& e, uint16_t p) {
  return e.orig.sport == p || e.orig.dport == p || e.reply.sport == p || e.reply.dport == p;
}

// What kind of VPN traffic an entry is, if any of ours.
std::optional<SessionKind> kind_of(const CtEntry& e) {
  switch (e.orig.proto) {
    case kTcp:
      if (has_port(e, 1723)) return SessionKind::Pptp;
      break;
    case kGre: return SessionKind::Gre;
    case kEsp: return SessionKind::Esp;
    case kUdp:
      if (has_port(e, 1701)) return SessionKind::L2tp;
      if (has_port(e, 4500)) return SessionKind::NatT;
      if (has_port(e, 500)) return SessionKind::Ike;
      break;
  }
  if (e.dst_nat()) return SessionKind::Forward;
  return std::nullopt;
}

// LAN host → peer through SNAT, or peer → LAN server through DNAT.
bool inbound(const CtEntry& e) { return e.dst_nat() && !e.src_nat(); }

std::optional<uint64_t> age_of(const CtEntry& e, uint64_t now_ns) {
  if (!e.start_ns || now_ns <= e.start_ns) return std::nullopt;
  return (now_ns - e.start_ns) / 1000000000ULL;
}

Session session_of(const CtEntry& e, SessionKind kind, uint64_t now_ns) {
  Session s;
  s.kind = kind;
  s.protocol = e.orig.proto;
  s.inbound = inbound(e);
  if (s.inbound) {
    s.local = {e.reply.src, e.reply.sport};
    s.remote = {e.orig.src, e.orig.sport};
    s.nat = {e.orig.dst, e.orig.dport};
  } else {
    s.local = {e.orig.src, e.orig.sport};
    s.remote = {e.orig.dst, e.orig.dport};
    s.nat = {e.reply.dst, e.reply.dport};
  }
  s.age = age_of(e, now_ns);
  s.timeout = e.timeout;
  s.assured = (e.status & (1u << 2)) != 0;  // IPS_ASSURED
  s.helper = e.helper;
  s.zone = e.zone;
  s.packets = e.packets;
  s.bytes = e.bytes;
  return s;
}

// A PPTP call (GRE) as seen from the LAN host: its call ID, the server's, and
// the call ID the server sees after translation.
PptpCall call_of(const CtEntry& g, uint64_t now_ns) {
  const bool in = inbound(g);
  const CtTuple& host_side = in ? g.reply : g.orig;  // tuple leaving the host
  PptpCall c;
  c.local = host_side.src;
  c.remote = host_side.dst;
  // In GRE tuples the "ports" are keys: src = the sender's own call ID.
  c.call_id = host_side.sport;
  c.peer_call_id = host_side.dport;
  c.nat_call_id = in ? g.orig.dport : g.reply.dport;
  c.age = age_of(g, now_ns);
  c.timeout = g.timeout;
  c.packets = g.packets;
  return c;
}

uint64_t tuple_key(const CtTuple& t) {
  return (uint64_t(t.src) << 32 | t.dst) ^ (uint64_t(t.sport) << 48 | uint64_t(t.dport) << 16 | t.proto);
}

bool same_tuple(const CtTuple& a, const CtTuple& b) {
  return a.src == b.src && a.dst == b.dst && a.sport == b.sport && a.dport == b.dport;
}

// JSON, written as it goes: a model of 50,000 sessions is 10 MB as structs
// and would be ten times that as nlohmann::json objects.
class JsonOut {
 public:
  explicit JsonOut(std::ostream& out) : out_(out) {}
  static std::string quote(std::string_view s) {
    std::string q = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') q += '\\', q += char(c);
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        q += buf;
      } else q += char(c);
    }
    return q + "\"";
  }
  void indent(int depth) { out_ << '\n' << std::string(size_t(depth) * 2, ' '); }
  std::ostream& out_;
};

std::string endpoint_str(const Endpoint& e) {
  return e.port ? ipv4_str(e.addr) + ":" + std::to_string(e.port) : ipv4_str(e.addr);
}

std::string opt_str(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "null"; }

std::string human_seconds(std::optional<uint64_t> v) {
  if (!v) return "?";
  uint64_t s = *v;
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

// The digest of the table's text listing: how an apply before the netlink
// digest (table_digest.h) recorded the table, until the next apply.
std::string listed_digest() {
  Nft nft;
  auto listing = nft.list_table();
  return listing ? text_digest(canonical_listing(*listing)) : std::string();
}

TableStatus table_status(const Config* cfg, const std::optional<AppliedRecord>& rec, const std::string& rules_dir,
                         std::string* config_error) {
  TableStatus t;
  const auto generation = ruleset_generation();  // before the dump: a later commit shows as a change
  const auto live = table_digest();
  t.present = live.has_value();
  if (rec) t.applied_from = rec->config_path;
  if (!live) {
    t.drift = Drift::Absent;
    t.applied_from.reset();
    return t;
  }
  t.digest = digest_from_comment(live->comment);
  if (!rec || rec->digest != t.digest) {
    t.drift = Drift::Unknown;  // loaded by another run we have no record of
  } else if (rec->generation && rec->generation == generation) {
    // No nftables commit at all since apply's: the table is as applied.
  } else if (rec->listing_digest != (is_netlink_digest(rec->listing_digest) ? live->digest : listed_digest())) {
    t.drift = Drift::Modified;  // someone changed the table after apply
  }
  if (cfg && t.drift != Drift::Modified) {
    try {
      if (render_ruleset(*cfg, rules_dir).digest != t.digest) t.drift = Drift::ConfigChanged;
    } catch (const Error& e) {
      *config_error = e.what();
    }
  }
  return t;
}

EspStatus esp_status(const Config* cfg, const std::optional<AppliedRecord>& rec) {
  EspStatus e;
  if (cfg) e.configured = cfg->ipsec ? esp_mode_name(cfg->esp) : "off";
  try {
    e.module_loaded = espmux::family_present();
  } catch (const Error&) {
  }
  if (rec) {
    e.effective = rec->esp_mode;
    e.note = rec->esp_note;
    if (rec->esp_mode == "mux" && !e.module_loaded) e.note = "the vpnpt_esp module was unloaded after apply";
  }
  if (!e.module_loaded) return e;
  try {
    e.counters = espmux::counters();
    e.stream = espmux::for_each_mapping;
  } catch (const Error& err) {
    e.error = err.what();
  }
  return e;
}

}  // namespace

const char* kind_name(SessionKind k) {
  switch (k) {
    case SessionKind::Pptp: return "pptp";
    case SessionKind::Gre: return "gre";
    case SessionKind::Esp: return "esp";
    case SessionKind::L2tp: return "l2tp";
    case SessionKind::NatT: return "nat-t";
    case SessionKind::Ike: return "ike";
    case SessionKind::Forward: return "forward";
  }
  return "?";
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

void SessionCollector::add(const CtEntry& e) {
  if (!e.src_nat() && !e.dst_nat()) return;  // not crossing our NAT
  auto kind = kind_of(e);
  if (!kind) return;
  if (*kind == SessionKind::Gre && e.has_master && e.master.proto == kTcp) {
    calls_.push_back({e.master, inbound(e) ? e.reply.src : e.orig.src, call_of(e, now_ns_), session_of(e, *kind, now_ns_)});
    return;
  }
  const uint32_t host = inbound(e) ? e.reply.src : e.orig.src;
  auto& list = hosts_[host];
  if (*kind == SessionKind::Pptp) controls_.emplace(tuple_key(e.orig), Control{e.orig, host, list.size()});
  list.push_back(session_of(e, *kind, now_ns_));
}

void SessionCollector::add(const CtExpectation& x) { expectations_.push_back(x); }

Sessions SessionCollector::finish() && {
  // Attach PPTP calls and pending expectations to their control connection.
  auto control = [&](const CtTuple& master) -> Session* {
    auto [lo, hi] = controls_.equal_range(tuple_key(master));
    for (auto it = lo; it != hi; ++it)
      if (same_tuple(it->second.tuple, master)) return &hosts_[it->second.host][it->second.index];
    return nullptr;
  };
  for (auto& c : calls_) {
    if (Session* s = control(c.master)) s->calls.push_back(c.call);
    else hosts_[c.host].push_back(std::move(c.alone));  // its control connection is gone
  }
  Sessions out;
  for (const auto& x : expectations_) {
    PptpExpectation item{x.helper, x.expect.proto, x.expect.src, x.expect.dst, x.expect.dport, x.timeout};
    if (Session* s = control(x.master)) s->expectations.push_back(std::move(item));
    else out.orphans.push_back(std::move(item));
  }
  for (auto& [host, list] : hosts_) {
    out.total += list.size();
    out.hosts.push_back({host, std::move(list)});
  }
  return out;
}

namespace {

void write_expectation(JsonOut& j, const PptpExpectation& x, int depth) {
  auto& o = j.out_;
  o << "{";
  j.indent(depth + 1); o << "\"from\": \"" << ipv4_str(x.from) << "\",";
  j.indent(depth + 1); o << "\"helper\": " << JsonOut::quote(x.helper) << ",";
  j.indent(depth + 1); o << "\"key\": " << x.key << ",";
  j.indent(depth + 1); o << "\"protocol\": \"" << proto_name(x.protocol) << "\",";
  j.indent(depth + 1); o << "\"timeout\": " << x.timeout << ",";
  j.indent(depth + 1); o << "\"to\": \"" << ipv4_str(x.to) << "\"";
  j.indent(depth); o << "}";
}

template <typename T, typename F>
void write_array(JsonOut& j, const std::vector<T>& items, int depth, F&& each) {
  auto& o = j.out_;
  if (items.empty()) {
    o << "[]";
    return;
  }
  o << "[";
  for (size_t i = 0; i < items.size(); ++i) {
    j.indent(depth + 1);
    each(items[i], depth + 1);
    if (i + 1 < items.size()) o << ",";
  }
  j.indent(depth);
  o << "]";
}

void write_session(JsonOut& j, const Session& s, int depth) {
  auto& o = j.out_;
  auto key = [&](const char* k) {
    j.indent(depth + 1);
    o << "\"" << k << "\": ";
  };
  o << "{";
  key("age"); o << opt_str(s.age) << ",";
  key("assured"); o << (s.assured ? "true" : "false") << ",";
  key("bytes"); o << s.bytes << ",";
  if (s.kind == SessionKind::Pptp) {
    key("calls");
    write_array(j, s.calls, depth + 1, [&](const PptpCall& c, int d) {
      o << "{";
      j.indent(d + 1); o << "\"age\": " << opt_str(c.age) << ",";
      j.indent(d + 1); o << "\"call_id\": " << c.call_id << ",";
      j.indent(d + 1); o << "\"local\": \"" << ipv4_str(c.local) << "\",";
      j.indent(d + 1); o << "\"nat_call_id\": " << c.nat_call_id << ",";
      j.indent(d + 1); o << "\"packets\": " << c.packets << ",";
      j.indent(d + 1); o << "\"peer_call_id\": " << c.peer_call_id << ",";
      j.indent(d + 1); o << "\"remote\": \"" << ipv4_str(c.remote) << "\",";
      j.indent(d + 1); o << "\"timeout\": " << c.timeout;
      j.indent(d); o << "}";
    });
    o << ",";
  }
  key("direction"); o << (s.inbound ? "\"inbound\"" : "\"outbound\"") << ",";
  if (s.kind == SessionKind::Pptp) {
    key("expectations");
    write_array(j, s.expectations, depth + 1, [&](const PptpExpectation& x, int d) { write_expectation(j, x, d); });
    o << ",";
  }
  if (!s.helper.empty()) { key("helper"); o << JsonOut::quote(s.helper) << ","; }
  key("kind"); o << "\"" << kind_name(s.kind) << "\",";
  key("local"); o << "\"" << endpoint_str(s.local) << "\",";
  key("nat"); o << "\"" << endpoint_str(s.nat) << "\",";
  key("packets"); o << s.packets << ",";
  key("protocol"); o << "\"" << proto_name(s.protocol) << "\",";
  key("remote"); o << "\"" << endpoint_str(s.remote) << "\",";
  key("timeout"); o << s.timeout;
  if (s.zone) { o << ","; key("zone"); o << s.zone; }
  j.indent(depth);
  o << "}";
}

}  // namespace

void write_hosts_json(const Sessions& s, int depth, std::ostream& out) {
  JsonOut j(out);
  write_array(j, s.hosts, depth, [&](const HostSessions& h, int d) {
    out << "{";
    j.indent(d + 1);
    out << "\"host\": \"" << ipv4_str(h.host) << "\",";
    j.indent(d + 1);
    out << "\"sessions\": ";
    write_array(j, h.sessions, d + 1, [&](const Session& x, int dd) { write_session(j, x, dd); });
    j.indent(d);
    out << "}";
  });
}

void write_expectations_json(const Sessions& s, int depth, std::ostream& out) {
  JsonOut j(out);
  write_array(j, s.orphans, depth, [&](const PptpExpectation& x, int d) { write_expectation(j, x, d); });
}

Sessions collect_sessions(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                          uint64_t now_ns) {
  SessionCollector c(now_ns);
  for (const auto& e : entries) c.add(e);
  for (const auto& x : expectations) c.add(x);
  return std::move(c).finish();
}

json sessions_json(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                   uint64_t now_ns) {
  Sessions s = collect_sessions(entries, expectations, now_ns);
  std::ostringstream hosts, orphans;
  write_hosts_json(s, 0, hosts);
  write_expectations_json(s, 0, orphans);
  return {{"hosts", json::parse(hosts.str())}, {"expectations", json::parse(orphans.str())}};
}

void run_status(const Options& opt, const StatusView& view, std::ostream& out) {
  require_net_admin();
  Status st;
  st.version = VPNPT_VERSION;
  st.config = opt.config_path;
  std::optional<Config> cfg;
  try {
    cfg = load_config(opt.config_path, opt.strict_perms);
  } catch (const Error& e) {
    st.config_error = e.what();
  }
  std::string rules_dir = find_rules_dir(opt.rules_dir);
  const auto rec = load_applied(opt.run_dir);
  st.table = table_status(cfg ? &*cfg : nullptr, rec, rules_dir, &st.config_error);
  st.kernel = probe_kernel(cfg ? *cfg : Config{});
  st.esp = esp_status(cfg ? &*cfg : nullptr, rec);
  st.pair = pair_status(cfg ? cfg->wan_interface : std::string());
  for (const auto& [name, packets, bytes] : Nft().list_counters()) st.counters.push_back({name, packets, bytes});
  std::sort(st.counters.begin(), st.counters.end(),
            [](const CounterValue& a, const CounterValue& b) { return a.name < b.name; });

  // Streamed: only the entries that become sessions are kept.
  SessionCollector collect(now_realtime_ns());
  dump_nat_conntrack([&](const CtEntry& e) { collect.add(e); });
  for (const auto& x : dump_expectations()) collect.add(x);
  st.sessions = std::move(collect).finish();

  if (view.json) write_status_json(st, out);
  else print_status(st, view.all, out);
}

const char* drift_name(Drift d) {
  switch (d) {
    case Drift::None: return "none";
    case Drift::ConfigChanged: return "config-changed";
    case Drift::Modified: return "modified";
    case Drift::Unknown: return "unknown";
    case Drift::Absent: return "absent";
  }
  return "?";
}

json head_json(const Status& st) {
  json s;
  s["version"] = st.version;
  s["config"] = st.config;
  if (!st.config_error.empty()) s["config_error"] = st.config_error;
  json& t = s["table"];
  t["present"] = st.table.present;
  t["drift"] = drift_name(st.table.drift);
  if (st.table.present) t["digest"] = st.table.digest;
  if (st.table.applied_from) t["applied_from"] = *st.table.applied_from;
  json kernel = json::array();
  for (const auto& p : st.kernel) kernel.push_back({{"name", p.name}, {"purpose", p.purpose}, {"state", piece_state_name(p.state)}});
  s["kernel"] = kernel;
  json& e = s["esp"];
  e["configured"] = st.esp.configured ? json(*st.esp.configured) : json(nullptr);
  e["module_loaded"] = st.esp.module_loaded;
  e["effective"] = st.esp.effective ? json(*st.esp.effective) : json(nullptr);
  if (!st.esp.note.empty()) e["note"] = st.esp.note;
  if (!st.esp.error.empty()) {
    e["error"] = st.esp.error;
  } else if (st.esp.module_loaded) {
    json counters = json::object();
    for (const auto& [name, value] : st.esp.counters) counters[name] = value;
    e["counters"] = counters;
    if (!st.esp.stream) {
      std::ostringstream maps;
      write_mappings_json(st.esp, 0, maps);
      e["mappings"] = json::parse(maps.str());
    }
  }
  json counters = json::object();
  for (const auto& c : st.counters) counters[c.name] = {{"packets", c.packets}, {"bytes", c.bytes}};
  s["counters"] = counters;
  s["pair"] = pair_json(st.pair);
  return s;
}

namespace {

// A JSON object of `head`'s keys and the streamed ones, in key order and
// indented as nlohmann::json's dump(2) would print it at this depth; a
// streamed value is written by its function (given the depth), a key of
// both is streamed.
using Streamed = std::map<std::string, std::function<void(int)>>;
void write_object(std::ostream& out, const json& head, int depth, const Streamed& streamed) {
  std::map<std::string, const json*> keys;
  for (auto it = head.begin(); it != head.end(); ++it) keys[it.key()] = &it.value();
  for (const auto& [key, f] : streamed) keys[key] = nullptr;
  if (keys.empty()) {
    out << "{}";
    return;
  }
  const std::string pad = "\n" + std::string(size_t(depth + 1) * 2, ' ');
  out << "{";
  bool first = true;
  for (const auto& [key, value] : keys) {
    out << (first ? "" : ",") << pad << JsonOut::quote(key) << ": ";
    first = false;
    if (auto f = streamed.find(key); f != streamed.end()) {
      f->second(depth + 1);
      continue;
    }
    std::string text = value->dump(2);
    for (size_t pos = 0; (pos = text.find('\n', pos)) != std::string::npos; pos += pad.size()) text.replace(pos, 1, pad);
    out << text;
  }
  out << "\n" << std::string(size_t(depth) * 2, ' ') << "}";
}

// Calls each(m) for every mapping: streamed from the module's dump when
// EspStatus::stream is set, else from EspStatus::mappings. False when the
// module marked the dump interrupted; a dump that failed part way leaves its
// message in `error`.
template <class Each>
bool visit_mappings(const EspStatus& e, Each&& each, std::string& error) {
  if (!e.stream) {
    for (const auto& m : e.mappings) each(m);
    return true;
  }
  try {
    return e.stream(each);
  } catch (const Error& err) {
    error = err.what();
    return true;
  }
}

}  // namespace

void write_mappings_json(const EspStatus& e, int depth, std::ostream& out) {
  JsonOut j(out);
  size_t n = 0;
  auto each = [&](const espmux::Mapping& m) {
    out << (n++ ? "," : "[");
    j.indent(depth + 1);
    out << "{";
    auto key = [&](const char* k) {
      j.indent(depth + 2);
      out << "\"" << k << "\": ";
    };
    key("age"); out << m.age_ms / 1000 << ",";
    key("bytes_in"); out << m.bytes_in << ",";
    key("bytes_out"); out << m.bytes_out << ",";
    key("host"); out << JsonOut::quote(m.host) << ",";
    key("kind"); out << JsonOut::quote(m.kind) << ",";
    key("packets_in"); out << m.packets_in << ",";
    key("packets_out"); out << m.packets_out << ",";
    key("peer"); out << JsonOut::quote(m.peer) << ",";
    key("reason"); out << JsonOut::quote(m.reason) << ",";
    key("spi_in"); out << m.spi_in << ",";
    key("spi_out"); out << m.spi_out << ",";
    key("state"); out << JsonOut::quote(m.state) << ",";
    key("zone"); out << m.zone;
    j.indent(depth + 1);
    out << "}";
  };
  std::string error;
  const bool whole = visit_mappings(e, each, error);
  if (!n) out << "[]";
  else {
    j.indent(depth);
    out << "]";
  }
  // The keys after "mappings" in order, only when the dump went wrong
  // (the array is written by then).
  if (!error.empty()) {
    out << ",";
    j.indent(depth);
    out << "\"mappings_error\": " << JsonOut::quote(error);
  }
  if (!whole) {
    out << ",";
    j.indent(depth);
    out << "\"mappings_interrupted\": true";
  }
}

void write_status_json(const Status& st, std::ostream& out) {
  const json head = head_json(st);
  const Sessions& sessions = st.sessions;
  // The sessions and the mappings are written straight from the structs and
  // the module's dump, the rest as nlohmann::json prints it.
  Streamed streamed = {
      {"hosts", [&](int depth) { write_hosts_json(sessions, depth, out); }},
      {"expectations", [&](int depth) { write_expectations_json(sessions, depth, out); }},
  };
  if (st.esp.stream && head.contains("esp"))
    streamed["esp"] = [&](int depth) {
      write_object(out, head["esp"], depth,
                   {{"mappings", [&](int d) { write_mappings_json(st.esp, d, out); }}});
    };
  write_object(out, head, 0, streamed);
  out << "\n";
}

void print_status(const Status& s, bool all, std::ostream& out) {
  out << "vpnpt " << s.version << ", config " << s.config << "\n";
  if (!s.config_error.empty()) out << "config: " << s.config_error << "\n";
  out << "table inet vpnpt: ";
  if (!s.table.present) out << "not loaded (run 'vpnpt apply')\n";
  else switch (s.table.drift) {
    case Drift::None: out << "loaded, matches the config\n"; break;
    case Drift::ConfigChanged: out << "loaded, but the config has changed since (run 'vpnpt apply')\n"; break;
    case Drift::Modified: out << "loaded, but changed by something other than vpnpt (run 'vpnpt apply')\n"; break;
    default: out << "loaded, origin unknown (no record of applying it here; run 'vpnpt apply')\n";
  }

  out << "kernel:";
  for (const auto& k : s.kernel) out << " " << k.name << " " << piece_state_name(k.state) << ";";
  out << "\n";

  const EspStatus& e = s.esp;
  out << "esp: " << (e.effective ? *e.effective : "not applied");
  if (e.configured) out << " (config: " << *e.configured << ")";
  out << ", module vpnpt_esp " << (e.module_loaded ? "loaded" : "not loaded") << "\n";
  if (!e.note.empty()) out << "  note: " << e.note << "\n";
  if (!e.error.empty()) out << "  error: " << e.error << "\n";
  if (e.module_loaded && e.error.empty()) {
    // Streamed from the module (EspStatus::stream): the count comes last.
    size_t n = 0;
    auto each = [&](const espmux::Mapping& m) {
      out << (n++ ? "" : "  mappings:\n");
      out << "    " << m.kind << " " << m.host << " <-> " << m.peer << "  spi out 0x" << std::hex << m.spi_out
          << " in 0x" << m.spi_in << std::dec << "  " << m.state
          << (m.reason.empty() ? "" : " (" + m.reason + ")") << "  zone " << m.zone
          << "  age " << human_seconds(m.age_ms / 1000) << "  pkts " << m.packets_out << "/" << m.packets_in << "\n";
    };
    std::string error;
    const bool whole = visit_mappings(e, each, error);
    if (!n) out << "  mappings: none\n";
    else out << "  " << n << " mapping(s)\n";
    if (!whole) out << "  (the mappings changed while they were read: one may be missing or listed twice)\n";
    if (!error.empty()) out << "  error: " << error << "\n";
  }

  if (!s.counters.empty()) {
    out << "counters:\n";
    for (const auto& c : s.counters)
      out << "  " << std::left << std::setw(12) << c.name << std::right << std::setw(12) << c.packets << " packets "
          << std::setw(14) << c.bytes << " bytes\n";
  }
  out << pair_text(s.pair);
  print_sessions(s.sessions, all, out);
}

void print_sessions(const Sessions& sessions, bool all, std::ostream& out) {
  out << "sessions:";
  if (sessions.hosts.empty()) out << " none";
  if (!all && sessions.total > kSessionsListed) {
    // Thousands of lines help no one: one line per host, and how to see all.
    out << " " << sessions.total << " on " << sessions.hosts.size() << " host(s)\n";
    for (const auto& h : sessions.hosts) {
      std::map<std::string, size_t> kinds;
      size_t calls = 0;
      for (const auto& x : h.sessions) {
        ++kinds[kind_name(x.kind)];
        calls += x.calls.size();
      }
      out << "  " << std::left << std::setw(16) << ipv4_str(h.host) << std::right << std::setw(7) << h.sessions.size()
          << " session(s):";
      for (const auto& [kind, n] : kinds) out << " " << kind << " " << n;
      if (calls) out << ", " << calls << " PPTP call(s)";
      out << "\n";
    }
    out << "  (each session: 'vpnpt status --all', or --json)\n";
  } else {
    out << "\n";
    for (const auto& h : sessions.hosts) {
      out << "  " << ipv4_str(h.host) << "\n";
      for (const auto& x : h.sessions) {
        out << "    " << std::left << std::setw(8) << kind_name(x.kind) << std::right << (x.inbound ? " <- " : " -> ")
            << endpoint_str(x.remote) << "  via " << endpoint_str(x.nat) << "  age " << human_seconds(x.age)
            << "  timeout " << human_seconds(x.timeout);
        if (!x.helper.empty()) out << "  helper " << x.helper;
        out << "\n";
        for (const auto& c : x.calls)
          out << "      call " << c.call_id << " <-> peer call " << c.peer_call_id << "  (peer sees call "
              << c.nat_call_id << ")  age " << human_seconds(c.age) << "  packets " << c.packets << "\n";
        for (const auto& c : x.expectations)
          out << "      expecting " << proto_name(c.protocol) << " " << ipv4_str(c.from) << " -> " << ipv4_str(c.to)
              << " key " << c.key << "  (" << c.timeout << "s left)\n";
      }
    }
  }
  for (const auto& c : sessions.orphans)
    out << "  expecting " << proto_name(c.protocol) << " " << ipv4_str(c.from) << " -> " << ipv4_str(c.to) << " ("
        << c.helper << ", " << c.timeout << "s left)\n";
}

}  // namespace vpnpt
