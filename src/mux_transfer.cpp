// mux_transfer.cpp: export the vpnpt_esp module's mappings as a document,
// import one into another router's module (mux_transfer.h).
#include "mux_transfer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "apply.h"
#include "conntrack.h"
#include "error.h"
#include "state.h"
#include "vpnpt_esp.h"

namespace vpnpt::muxxfer {
namespace {

using nlohmann::json;

std::string hex(uint64_t v, int digits) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

// ---- the document ----

struct Bad {
  std::string problem;
};

uint64_t parse_hex(const json& e, const char* key, int max_digits) {
  if (!e.contains(key)) throw Bad{std::string(key) + ": missing"};
  const json& v = e[key];
  if (!v.is_string()) throw Bad{std::string(key) + ": not a string (SPIs are written \"0x...\")"};
  const std::string s = v.get<std::string>();
  if (s.size() < 3 || s.size() > size_t(2 + max_digits) || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') ||
      s.find_first_not_of("0123456789abcdefABCDEF", 2) != std::string::npos)
    throw Bad{std::string(key) + ": not a hex number of at most " + std::to_string(max_digits) +
              " digits: \"" + s + "\""};
  return std::stoull(s.substr(2), nullptr, 16);
}

std::string parse_ip(const json& e, const char* key) {
  if (!e.contains(key)) throw Bad{std::string(key) + ": missing"};
  if (!e[key].is_string()) throw Bad{std::string(key) + ": not a string"};
  std::string s = e[key].get<std::string>();
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw Bad{std::string(key) + ": not an IPv4 address: \"" + s + "\""};
  return s;
}

uint64_t parse_uint(const json& e, const char* key, uint64_t lo, uint64_t hi) {
  if (!e.contains(key)) throw Bad{std::string(key) + ": missing"};
  const json& v = e[key];
  if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    throw Bad{std::string(key) + ": not an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ": " +
              v.dump()};
  return v.get<uint64_t>();
}

// The dump's reason names (esp_mux.cpp) and the module's values.
constexpr std::pair<const char*, uint8_t> kReasons[] = {
    {"", VPNPT_ESP_REASON_NONE},
    {"ike", VPNPT_ESP_REASON_IKE},
    {"esp-first", VPNPT_ESP_REASON_ESP_FIRST},
    {"ike-out", VPNPT_ESP_REASON_IKE_OUT},
    {"ike-only-host", VPNPT_ESP_REASON_IKE_ONLY_HOST},
};

int reason_value(const std::string& name) {
  for (const auto& [n, v] : kReasons)
    if (name == n) return v;
  return -1;
}

Entry parse_entry(const json& e) {
  if (!e.is_object()) throw Bad{"not an object"};
  if (!e.contains("kind") || !e["kind"].is_string()) throw Bad{"kind: missing (\"esp\" or \"ike\")"};
  Entry m;
  m.kind = e["kind"].get<std::string>();
  std::vector<std::string> keys{"kind", "host", "peer", "zone", "reason"};
  if (m.kind == "esp") {
    keys.insert(keys.end(), {"spi_out", "spi_in", "state", "nat"});
  } else if (m.kind == "ike") {
    keys.insert(keys.end(), {"ike_ispi", "ike_rspi", "ike_version"});
  } else {
    throw Bad{"kind: \"" + m.kind + "\" is neither \"esp\" nor \"ike\""};
  }
  for (const auto& [k, v] : e.items())
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) throw Bad{k + ": unknown for kind " + m.kind};
  m.host = parse_ip(e, "host");
  m.peer = parse_ip(e, "peer");
  m.zone = uint16_t(parse_uint(e, "zone", 1, 65535));
  if (m.kind == "esp") {
    m.spi_out = uint32_t(parse_hex(e, "spi_out", 8));
    m.spi_in = uint32_t(parse_hex(e, "spi_in", 8));
    if (!m.spi_in) throw Bad{"spi_in: 0 (a pending mapping is not transferable)"};
    if (e.contains("state")) {
      if (!e["state"].is_string()) throw Bad{"state: not a string"};
      m.state = e["state"].get<std::string>();
      if (m.state != "bound" && m.state != "draining")
        throw Bad{"state: \"" + m.state + "\" is neither \"bound\" nor \"draining\""};
    }
    if (e.contains("nat")) m.nat = parse_ip(e, "nat");
  } else {
    m.state.clear();
    m.ike_ispi = parse_hex(e, "ike_ispi", 16);
    m.ike_rspi = parse_hex(e, "ike_rspi", 16);
    if (!m.ike_ispi) throw Bad{"ike_ispi: 0"};
    m.ike_version = uint8_t(parse_uint(e, "ike_version", 1, 2));
  }
  if (e.contains("reason")) {
    if (!e["reason"].is_string()) throw Bad{"reason: not a string"};
    m.reason = e["reason"].get<std::string>();
    if (reason_value(m.reason) < 0)
      throw Bad{"reason: \"" + m.reason + "\" is none of \"ike\", \"esp-first\", \"ike-out\", \"ike-only-host\""};
  }
  return m;
}

}  // namespace

std::string Entry::describe() const {
  std::string s = kind + " " + host + " <-> " + peer;
  if (kind == "esp")
    s += " spi_out " + hex(spi_out, 8) + " spi_in " + hex(spi_in, 8);
  else
    s += " ike_ispi " + hex(ike_ispi, 16) + " ike_rspi " + hex(ike_rspi, 16);
  return s + " zone " + std::to_string(zone);
}

bool Entry::same_mapping(const Entry& o) const {
  if (kind != o.kind || host != o.host || peer != o.peer) return false;
  return kind == "esp" ? spi_out == o.spi_out && spi_in == o.spi_in
                       : ike_ispi == o.ike_ispi && ike_rspi == o.ike_rspi;
}

Document from_dump(const std::vector<espmux::Mapping>& dump) {
  Document d;
  for (const auto& m : dump) {
    Entry e;
    e.kind = m.kind;
    e.host = m.host;
    e.peer = m.peer;
    e.zone = m.zone;
    e.reason = reason_value(m.reason) > 0 ? m.reason : "";
    if (m.kind == "esp") {
      if (m.state == "pending" || !m.spi_in) {
        d.pending_not_exported++;
        continue;
      }
      e.spi_out = m.spi_out;
      e.spi_in = m.spi_in;
      e.state = m.state;
    } else {
      e.state.clear();
      e.ike_ispi = m.ike_ispi;
      e.ike_rspi = m.ike_rspi;
      e.ike_version = m.ike_version;
    }
    d.mappings.push_back(std::move(e));
  }
  return d;
}

std::string render(const Document& doc) {
  json maps = json::array();
  for (const auto& e : doc.mappings) {
    json j = {{"kind", e.kind}, {"host", e.host}, {"peer", e.peer}, {"zone", e.zone}};
    if (e.kind == "esp") {
      j["spi_out"] = hex(e.spi_out, 8);
      j["spi_in"] = hex(e.spi_in, 8);
      j["state"] = e.state;
    } else {
      j["ike_ispi"] = hex(e.ike_ispi, 16);
      j["ike_rspi"] = hex(e.ike_rspi, 16);
      j["ike_version"] = e.ike_version;
    }
    if (!e.reason.empty()) j["reason"] = e.reason;
    if (e.kind == "esp" && !e.nat.empty()) j["nat"] = e.nat;
    maps.push_back(std::move(j));
  }
  json j = {{"format", kFormat},
            {"version", kVersion},
            {"router", doc.router},
            {"exported_at", doc.exported_at},
            {"pending_not_exported", doc.pending_not_exported}};
  if (!doc.wan.empty()) j["wan"] = doc.wan;
  j["mappings"] = std::move(maps);
  return j.dump(2) + "\n";
}

Document parse(const std::string& text, const std::string& file) {
  auto bad = [&](const std::string& problem, const std::string& hint = {}) {
    return Error(ErrorKind::Config, file, problem, hint);
  };
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw bad(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat)
    throw bad(std::string("not a vpnpt mux export (\"format\" is not \"") + kFormat + "\")",
              "make it with `vpnpt mux export` on the active router");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] < 1 || j["version"] > kVersion)
    throw bad("version " + (j.contains("version") ? j["version"].dump() : std::string("missing")) +
                  ": this vpnpt reads versions 1 to " + std::to_string(kVersion),
              "export with the same vpnpt version on both routers");
  if (!j.contains("mappings") || !j["mappings"].is_array()) throw bad("\"mappings\": missing or not an array");
  Document d;
  d.version = j["version"].get<int>();
  if (j.contains("wan")) {
    in_addr a{};
    if (d.version < 2 || !j["wan"].is_string() || inet_pton(AF_INET, j["wan"].get<std::string>().c_str(), &a) != 1)
      throw bad("\"wan\": " + (d.version < 2 ? std::string("not in version 1") : "not an IPv4 address: " + j["wan"].dump()));
    d.wan = j["wan"].get<std::string>();
  }
  if (j.contains("router") && j["router"].is_string()) d.router = j["router"];
  if (j.contains("exported_at") && j["exported_at"].is_string()) d.exported_at = j["exported_at"];
  if (j.contains("pending_not_exported") && j["pending_not_exported"].is_number_unsigned())
    d.pending_not_exported = j["pending_not_exported"];
  const json& maps = j["mappings"];
  for (size_t i = 0; i < maps.size(); i++) {
    std::string where = "mappings[" + std::to_string(i) + "]";
    Entry e;
    try {
      e = parse_entry(maps[i]);
      if (d.version < 2 && !e.nat.empty()) throw Bad{"nat: not in version 1"};
    } catch (const Bad& b) {
      throw bad(where + ": " + b.problem);
    }
    for (size_t k = 0; k < d.mappings.size(); k++)
      if (d.mappings[k].same_mapping(e))
        throw bad(where + " (" + e.describe() + "): the same mapping as mappings[" + std::to_string(k) + "]");
    d.mappings.push_back(std::move(e));
  }
  return d;
}

std::string Document::nat_of(const Entry& e) const {
  if (e.kind != "esp") return "";
  return e.nat.empty() ? wan : e.nat;
}

void add_nat(Document& d, const std::vector<EspNat>& entries) {
  std::map<std::string, size_t> count;
  for (auto& m : d.mappings) {
    if (m.kind != "esp") continue;
    for (const auto& c : entries)
      if (c.zone == m.zone && c.host == m.host && c.peer == m.peer) m.nat = c.nat;
  }
  for (const auto& c : entries) count[c.nat]++;
  size_t best = 0;
  for (const auto& [a, n] : count)
    if (n > best) best = n, d.wan = a;
}

ImportResult import_all(const Document& doc, const std::vector<Entry>& present, Module& mod) {
  ImportResult r;
  // What this run created, in order: (index, true for a conntrack entry).
  std::vector<std::pair<size_t, bool>> made;
  auto refuse = [&](size_t i, int err, const std::string& msg, bool ct) {
    r.refused = true;
    r.refused_ct = ct;
    r.refused_index = i;
    r.error = err;
    r.message = msg;
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
      const Entry& a = doc.mappings[it->first];
      std::string dmsg;
      int derr = it->second ? mod.ct_del(a, &dmsg) : mod.del(a, &dmsg);
      // ENOENT: gone already (expired or flushed meanwhile): nothing remains.
      if (derr == 0 || derr == -ENOENT)
        r.rolled_back++;
      else
        r.not_rolled_back.push_back((it->second ? "conntrack entry of " : "") + a.describe() + ": " +
                                    std::strerror(-derr) + (dmsg.empty() ? "" : ": " + dmsg));
    }
    r.added = 0;
    r.ct_created = 0;
  };
  for (size_t i = 0; i < doc.mappings.size(); i++) {
    const Entry& e = doc.mappings[i];
    bool was_there = false;
    for (const auto& p : present) was_there = was_there || p.same_mapping(e);
    std::string msg;
    int err = mod.add(e, &msg);
    if (err != 0) {
      refuse(i, err, msg, false);
      return r;
    }
    if (was_there) {
      r.already++;
    } else {
      r.added++;
      made.emplace_back(i, false);
    }
    if (e.kind != "esp") continue;
    // One entry per (host, peer, zone): an earlier SA of the pair in this
    // file (a draining one beside its successor) made it already.
    bool pair_done = false;
    for (size_t k = 0; k < i; k++) {
      const Entry& o = doc.mappings[k];
      pair_done = pair_done || (o.kind == "esp" && o.host == e.host && o.peer == e.peer && o.zone == e.zone);
    }
    if (pair_done) continue;
    const std::string nat = doc.nat_of(e);
    if (nat.empty()) {
      r.ct_none++;
      continue;
    }
    msg.clear();
    err = mod.ct_add(e, nat, &msg);
    if (err == -EEXIST) {
      r.ct_present++;
    } else if (err == 0) {
      r.ct_created++;
      made.emplace_back(i, true);
    } else {
      refuse(i, err, msg, true);
      return r;
    }
  }
  return r;
}

// ---- the module, over generic netlink ----
namespace {

const char kSubject[] = "mux";
// Seconds a created ESP entry lives without traffic: the kernel's generic
// timeout (nf_conntrack_generic_timeout, 600 s); traffic refreshes it.
constexpr uint32_t kCtTimeout = 600;

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};

// Catches the error of a request with its extack message (libnl hands the
// NLMSG_ERROR to this callback; the TLVs follow the echoed request, or its
// header alone when the kernel capped it).
struct Ack {
  int error = 0;
  std::string msg;
};

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* ack = static_cast<Ack*>(arg);
  ack->error = err->error;
  auto* nlh = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(err) - NLMSG_HDRLEN);
  if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t off = sizeof(*err);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(err->msg);
    const size_t total = nlh->nlmsg_len - NLMSG_HDRLEN;
    if (off < total) {
      auto* head = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(err) + off);
      nlattr* pos;
      int rem;
      nla_for_each_attr(pos, head, int(total - off), rem) {
        if (nla_type(pos) == NLMSGERR_ATTR_MSG && nla_len(pos) > 0)
          ack->msg.assign(static_cast<const char*>(nla_data(pos)), strnlen(static_cast<const char*>(nla_data(pos)), size_t(nla_len(pos))));
      }
    }
  }
  return NL_STOP;
}

class NetlinkModule : public Module {
 public:
  NetlinkModule() {
    sock_.reset(nl_socket_alloc());
    if (!sock_) throw Error(ErrorKind::Kernel, kSubject, "cannot allocate a netlink socket");
    if (int err = genl_connect(sock_.get()); err < 0)
      throw Error(ErrorKind::Kernel, kSubject, std::string("generic netlink: ") + nl_geterror(err));
    int one = 1;
    setsockopt(nl_socket_get_fd(sock_.get()), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    family_ = genl_ctrl_resolve(sock_.get(), VPNPT_ESP_GENL_NAME);
    if (family_ < 0) throw Error(ErrorKind::Kernel, kSubject, "the vpnpt_esp netlink family is gone");
  }
  int add(const Entry& e, std::string* msg) override { return request(VPNPT_ESP_CMD_ADD_MAPPING, e, msg); }
  int del(const Entry& e, std::string* msg) override { return request(VPNPT_ESP_CMD_DEL_MAPPING, e, msg); }
  int ct_add(const Entry& e, const std::string& nat, std::string* msg) override {
    CtNew c = ct_of(e);
    in_addr a{};
    inet_pton(AF_INET, nat.c_str(), &a);
    c.nat_src = ntohl(a.s_addr);
    // A netlink failure is a refusal too: what this run added is rolled back.
    try {
      int err = create_conntrack(c);
      if (err && err != -EEXIST && msg) *msg = "conntrack entry masqueraded to " + nat;
      return err;
    } catch (const Error& x) {
      if (msg) *msg = x.problem();
      return -EIO;
    }
  }
  int ct_del(const Entry& e, std::string* msg) override {
    CtEntry c;
    c.orig = ct_of(e).orig;
    c.zone = e.zone;
    try {
      return delete_conntrack(c) ? 0 : -ENOENT;
    } catch (const Error& x) {
      if (msg) *msg = x.problem();
      return -EIO;
    }
  }

 private:
  int request(uint8_t cmd, const Entry& e, std::string* msg) {
    std::unique_ptr<nl_msg, MsgDeleter> m(nlmsg_alloc());
    if (!m || !genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, NLM_F_ACK, cmd, VPNPT_ESP_GENL_VERSION))
      throw Error(ErrorKind::Kernel, kSubject, "cannot build a netlink message");
    nl_msg* raw = m.get();
    in_addr host{}, peer{};
    inet_pton(AF_INET, e.host.c_str(), &host);
    inet_pton(AF_INET, e.peer.c_str(), &peer);
    const bool esp = e.kind == "esp";
    bool bad = nla_put_u8(raw, VPNPT_ESP_A_KIND, esp ? VPNPT_ESP_KIND_ESP : VPNPT_ESP_KIND_IKE) < 0 ||
               nla_put_u32(raw, VPNPT_ESP_A_HOST, host.s_addr) < 0 ||
               nla_put_u32(raw, VPNPT_ESP_A_PEER, peer.s_addr) < 0;
    if (esp) {
      bad = bad || nla_put_u32(raw, VPNPT_ESP_A_SPI_OUT, e.spi_out) < 0 ||
            nla_put_u32(raw, VPNPT_ESP_A_SPI_IN, e.spi_in) < 0;
    } else {
      bad = bad || nla_put_u64(raw, VPNPT_ESP_A_IKE_ISPI, e.ike_ispi) < 0 ||
            nla_put_u64(raw, VPNPT_ESP_A_IKE_RSPI, e.ike_rspi) < 0;
    }
    if (cmd == VPNPT_ESP_CMD_ADD_MAPPING) {
      bad = bad || nla_put_u16(raw, VPNPT_ESP_A_ZONE, e.zone) < 0;
      if (esp)
        bad = bad || nla_put_u8(raw, VPNPT_ESP_A_STATE,
                                e.state == "draining" ? VPNPT_ESP_STATE_DRAINING : VPNPT_ESP_STATE_BOUND) < 0;
      else
        bad = bad || nla_put_u8(raw, VPNPT_ESP_A_IKE_VERSION, e.ike_version) < 0;
      if (int r = reason_value(e.reason); r > 0) bad = bad || nla_put_u8(raw, VPNPT_ESP_A_REASON, uint8_t(r)) < 0;
    }
    if (bad) throw Error(ErrorKind::Kernel, kSubject, "cannot build a netlink message");
    Ack ack;
    nl_sock* s = sock_.get();
    nl_socket_modify_err_cb(s, NL_CB_CUSTOM, on_error, &ack);
    int err = nl_send_auto(s, raw);
    if (err >= 0) err = nl_wait_for_ack(s);
    if (ack.error) {
      if (msg) *msg = ack.msg;
      return ack.error;
    }
    if (err < 0) {
      if (msg) *msg = nl_geterror(err);
      return -EIO;
    }
    return 0;
  }

  static CtNew ct_of(const Entry& e) {
    CtNew c;
    in_addr host{}, peer{};
    inet_pton(AF_INET, e.host.c_str(), &host);
    inet_pton(AF_INET, e.peer.c_str(), &peer);
    c.orig.proto = IPPROTO_ESP;
    c.orig.src = ntohl(host.s_addr);
    c.orig.dst = ntohl(peer.s_addr);
    c.zone = e.zone;
    c.timeout = kCtTimeout;
    return c;
  }

  std::unique_ptr<nl_sock, SockDeleter> sock_;
  int family_ = -1;
};

std::string now_utc() {
  char buf[32];
  time_t t = time(nullptr);
  tm tmv{};
  gmtime_r(&t, &tmv);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// The module must be loaded (never autoloaded here) and, for import,
// enabled in this netns (apply with esp = "mux").
espmux::Params need_module(const char* what) {
  if (!espmux::family_present())
    throw Error(ErrorKind::Kernel, std::string("mux ") + what, "the vpnpt_esp module is not loaded",
                "apply a configuration with esp = \"mux\" on this router first (vpnpt.toml(5))");
  return espmux::get_params();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Config, path, std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::vector<Entry> present_entries() { return from_dump(espmux::dump_mappings()).mappings; }

namespace {
// This router's source-NATed ESP entries in non-zero zones (the module's).
std::vector<EspNat> esp_nat_entries() {
  std::vector<EspNat> out;
  CtFilter f;
  f.proto = IPPROTO_ESP;
  f.status = f.status_mask = IPS_SRC_NAT;
  auto ip = [](uint32_t v) {
    in_addr a{htonl(v)};
    char buf[INET_ADDRSTRLEN];
    return std::string(inet_ntop(AF_INET, &a, buf, sizeof buf));
  };
  dump_conntrack(f, [&](const CtEntry& e) {
    if (e.zone) out.push_back({ip(e.orig.src), ip(e.orig.dst), ip(e.reply.dst), e.zone});
  }, nullptr);
  return out;
}
}  // namespace

void run_export(const Options&, const std::string& out_file, std::ostream& out, std::ostream& err) {
  espmux::Params p = need_module("export");
  if (!p.enabled)
    err << "vpnpt: note: the vpnpt_esp module is not enabled in this network namespace; exporting the "
           "mappings it still holds\n";
  Document d = from_dump(espmux::dump_mappings());
  add_nat(d, esp_nat_entries());
  d.router = hostname();
  d.exported_at = now_utc();
  std::string text = render(d);
  if (out_file.empty() || out_file == "-")
    out << text;
  else
    replace_file(out_file, text);
  err << "vpnpt: exported " << d.mappings.size() << " mapping" << (d.mappings.size() == 1 ? "" : "s");
  if (!out_file.empty() && out_file != "-") err << " to " << out_file;
  err << "\n";
  size_t esp = 0, no_nat = 0;
  for (const auto& m : d.mappings)
    if (m.kind == "esp") esp++, no_nat += m.nat.empty();
  if (no_nat)
    err << "vpnpt: note: " << no_nat << " of " << esp << " ESP mappings have no masqueraded conntrack entry here"
        << (d.wan.empty() ? "; the import creates none for them\n" : "; the import masquerades them to " + d.wan + "\n");
  if (d.pending_not_exported)
    err << "vpnpt: note: " << d.pending_not_exported << " pending ESP mapping"
        << (d.pending_not_exported == 1 ? "" : "s")
        << " (inbound SPI not bound yet) not exported: not transferable; the other router binds "
           "them from their next packets\n";
}

void run_import(const Options& opt, const std::string& file, std::ostream& out) {
  Document d = parse(read_file(file), file);  // before anything else: a wrong file changes nothing
  Lock lock(opt.run_dir);
  espmux::Params p = need_module("import");
  if (!p.enabled)
    throw Error(ErrorKind::Kernel, "mux import", "the vpnpt_esp module is not enabled in this network namespace",
                "apply a configuration with esp = \"mux\" on this router first");
  std::vector<Entry> present = present_entries();
  NetlinkModule mod;
  ImportResult r = import_all(d, present, mod);
  if (r.refused) {
    const Entry& e = d.mappings[r.refused_index];
    std::string problem = std::string(r.refused_ct ? "the kernel refused the conntrack entry of mappings["
                                                   : "the module refused mappings[") +
                          std::to_string(r.refused_index) + "] (" + e.describe() + "): " + std::strerror(-r.error) + (r.message.empty() ? "" : ": " + r.message);
    if (!r.not_rolled_back.empty()) {
      problem += "; rolled back " + std::to_string(r.rolled_back) + " but these remain:";
      for (const auto& s : r.not_rolled_back) problem += "\n  " + s;
      throw Error(ErrorKind::Internal, "mux import " + file, problem, "they expire once unused for the module's idle_timeout");
    }
    throw Error(ErrorKind::Refused, "mux import " + file,
                problem + "; removed the " + std::to_string(r.rolled_back) +
                    " mappings and conntrack entries this run had added",
                "nothing of the file remains on this router; see vpnpt(8), ROUTER PAIR");
  }
  out << "imported " << d.mappings.size() << " mapping" << (d.mappings.size() == 1 ? "" : "s") << " from "
      << file << ": " << r.added << " new, " << r.already << " already present; ESP conntrack entries: "
      << r.ct_created << " created, " << r.ct_present << " already present";
  if (r.ct_none) out << ", " << r.ct_none << " without a NAT address in the file (none created)";
  out << "\n";
}

}  // namespace vpnpt::muxxfer
