// doctor_rules.cpp: follow passthrough's flows through the live ruleset
// (see doctor_rules.h for what is evaluated and how conservatively).
#include "doctor_rules.h"

#include <algorithm>
#include <functional>
#include <sstream>
#include <tuple>

#include "ruleset.h"

namespace vpnpt {

using nlohmann::json;

namespace {

constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kGre = 47, kEsp = 50, kIcmp6 = 58;

enum class Tri { No, Maybe, Yes };

// Protocol and service names as nft prints them (numeric output is the
// default, but a listing with -S or a set of names may hold these).
std::optional<int64_t> number_of(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return std::nullopt;
  static const std::map<std::string, int64_t> names = {
      {"icmp", 1},   {"tcp", 6},     {"udp", 17},  {"gre", 47},      {"esp", 50},  {"ah", 51},
      {"ipv6-icmp", 58}, {"icmpv6", 58}, {"sctp", 132}, {"udplite", 136}, {"dccp", 33},
      {"isakmp", 500}, {"ipsec-nat-t", 4500}, {"l2tp", 1701}, {"pptp", 1723}, {"ssh", 22}};
  auto it = names.find(v.get<std::string>());
  if (it != names.end()) return it->second;
  return std::nullopt;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*')
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == name;
}

// The whole listing, indexed.
struct Listing {
  struct Chain {
    std::string family, table, name;
    std::optional<std::string> hook, policy;
    int64_t prio = 0;
    std::vector<const json*> rules;
  };
  std::map<std::string, Chain> chains;  // "family table name"
  std::map<std::string, std::vector<json>> sets;  // "family table name" → elements

  static std::string key(const std::string& f, const std::string& t, const std::string& n) {
    return f + " " + t + " " + n;
  }

  explicit Listing(const json& nftables) {
    if (!nftables.is_array()) return;
    for (const auto& item : nftables) {
      if (item.contains("chain")) {
        const auto& c = item["chain"];
        Chain ch;
        ch.family = c.value("family", "");
        ch.table = c.value("table", "");
        ch.name = c.value("name", "");
        if (c.contains("hook")) ch.hook = c["hook"].get<std::string>();
        if (c.contains("policy")) ch.policy = c["policy"].get<std::string>();
        if (c.contains("prio") && c["prio"].is_number_integer()) ch.prio = c["prio"].get<int64_t>();
        chains[key(ch.family, ch.table, ch.name)] = std::move(ch);
      } else if (item.contains("rule")) {
        const auto& r = item["rule"];
        auto it = chains.find(key(r.value("family", ""), r.value("table", ""), r.value("chain", "")));
        if (it != chains.end()) it->second.rules.push_back(&r);
      } else if (item.contains("set") || item.contains("map")) {
        const auto& s = item.contains("set") ? item["set"] : item["map"];
        std::vector<json> elems;
        if (s.contains("elem") && s["elem"].is_array())
          for (const auto& e : s["elem"]) elems.push_back(e.is_object() && e.contains("elem") ? e["elem"]["val"] : e);
        sets[key(s.value("family", ""), s.value("table", ""), s.value("name", ""))] = std::move(elems);
      }
    }
  }
};

bool family_sees(const std::string& family, int flow_family) {
  if (family == "inet") return true;
  if (family == "ip") return flow_family == 4;
  if (family == "ip6") return flow_family == 6;
  return false;  // arp, bridge, netdev: not on the routed path
}

// What one rule's conditions say about a flow.
struct RuleMatch {
  Tri tri = Tri::Yes;
  bool specific = false;        // a condition on the flow's protocol or port held
  bool only_ct_state = false;   // it failed only on ct state, which names established
};

class Evaluator {
 public:
  Evaluator(const Listing& l, const Flow& f, const std::string& family, const std::string& table, int64_t prio,
            const std::string& hook)
      : l_(l), f_(f), family_(family), table_(table), prio_(prio), hook_(hook) {}

  // The flow's value for a left-hand expression; nullopt when unknown.
  // `specific` says that the key is the flow's protocol or port.
  // `never` is set when the expression cannot apply to this packet at all
  // (an ip payload on an IPv6 packet, udp dport on GRE).
  std::optional<json> value_of(const json& left, bool* specific, bool* never) const {
    *specific = false;
    *never = false;
    if (left.contains("meta")) {
      std::string k = left["meta"].value("key", "");
      if (k == "l4proto") { *specific = true; return json(f_.proto); }
      if (k == "nfproto") return json(f_.family == 4 ? "ipv4" : "ipv6");
      if (k == "iifname" || k == "iif") return f_.iif.empty() ? std::nullopt : std::optional<json>(f_.iif);
      if (k == "oifname" || k == "oif") return f_.oif.empty() ? std::nullopt : std::optional<json>(f_.oif);
      return std::nullopt;
    }
    if (left.contains("payload")) {
      const auto& p = left["payload"];
      std::string proto = p.value("protocol", ""), field = p.value("field", "");
      if (proto == "ip" && f_.family != 4) { *never = true; return std::nullopt; }
      if (proto == "ip6" && f_.family != 6) { *never = true; return std::nullopt; }
      if (proto == "icmp" || proto == "icmpv6") {
        if (f_.proto != (proto == "icmp" ? kIcmp : kIcmp6)) { *never = true; return std::nullopt; }
        const std::string& v = field == "type" ? f_.icmp_type : field == "code" ? f_.icmp_code : std::string();
        if (v.empty()) return std::nullopt;
        *specific = true;
        return json(v);
      }
      if ((proto == "ip" && field == "protocol") || (proto == "ip6" && field == "nexthdr")) {
        *specific = true;
        return json(f_.proto);
      }
      if (proto == "tcp" || proto == "udp" || proto == "th") {
        uint8_t want = proto == "tcp" ? kTcp : kUdp;
        bool ports = f_.proto == kTcp || f_.proto == kUdp;
        if (proto != "th" && f_.proto != want) { *never = true; return std::nullopt; }
        if (!ports) return std::nullopt;  // th on GRE/ESP reads other bytes
        uint16_t v = field == "dport" ? dport() : field == "sport" ? f_.sport : 0;
        if (v == 0) return std::nullopt;
        *specific = true;
        return json(v);
      }
      return std::nullopt;
    }
    if (left.contains("ct")) {
      const auto& c = left["ct"];
      std::string k = c.value("key", "");
      if (c.contains("dir")) {
        // The original direction's destination port: the same for both
        // directions' packets of one flow.
        bool ports = f_.proto == kTcp || f_.proto == kUdp;
        if (c.value("dir", "") == "original" && k == "proto-dst" && ports && f_.kind != FlowKind::Reply &&
            f_.dport) {
          *specific = true;
          return json(f_.dport);
        }
        return std::nullopt;
      }
      if (k == "state")
        return json(f_.state == CtState::New ? "new" : f_.state == CtState::Related ? "related" : "established");
      if (k == "status") {
        // An ICMP error carries the conntrack entry of the flow it is about:
        // a LAN host's, SNATed over IPv4.
        if (f_.state == CtState::Related) return json(f_.family == 4 ? "snat" : "");
        if (f_.kind == FlowKind::Inbound) return json("dnat");
        // A flow from the LAN is never DNATed; it is SNATed once its first
        // packet has left (postrouting), not in the forward hook before.
        return json(f_.state == CtState::Established ? "snat" : "");
      }
      return std::nullopt;
    }
    return std::nullopt;
  }

  // Does value v fall in the right-hand side r?
  std::optional<bool> contains(const json& r, const json& v) const {
    if (r.is_string() && !r.get<std::string>().empty() && r.get<std::string>()[0] == '@') {
      auto it = l_.sets.find(Listing::key(family_, table_, r.get<std::string>().substr(1)));
      if (it == l_.sets.end() || it->second.empty()) return std::nullopt;
      return contains(json{{"set", it->second}}, v);
    }
    if (r.is_object() && r.contains("set")) return contains(r["set"], v);
    if (r.is_array()) {
      bool unknown = false;
      for (const auto& e : r) {
        auto c = contains(e, v);
        if (c && *c) return true;
        if (!c) unknown = true;
      }
      if (unknown) return std::nullopt;
      return false;
    }
    if (r.is_object() && r.contains("range")) {
      auto lo = number_of(r["range"][0]), hi = number_of(r["range"][1]);
      auto n = number_of(v);
      if (!lo || !hi || !n) return std::nullopt;
      return *n >= *lo && *n <= *hi;
    }
    if (r.is_object()) return std::nullopt;  // prefixes, concatenations
    if (v.is_string() && r.is_string()) {
      if (glob_match(r.get<std::string>(), v.get<std::string>())) return true;
      auto a = number_of(v), b = number_of(r);
      if (a && b) return *a == *b;
      return false;
    }
    auto a = number_of(v), b = number_of(r);
    if (a && b) return *a == *b;
    return std::nullopt;
  }

  RuleMatch match_rule(const json& rule) const {
    RuleMatch m;
    int no = 0;
    bool ct_state_no = false;
    for (const auto& e : rule.value("expr", json::array())) {
      if (e.contains("limit") || e.contains("quota") || e.contains("meter")) {
        if (m.tri == Tri::Yes) m.tri = Tri::Maybe;
        continue;
      }
      if (!e.contains("match")) continue;
      const auto& mt = e["match"];
      std::string op = mt.value("op", "==");
      bool specific = false, never = false;
      static const json none;
      const json& left = mt.contains("left") ? mt["left"] : none;
      const json& right = mt.contains("right") ? mt["right"] : none;
      auto v = value_of(left, &specific, &never);
      if (never) { ++no; continue; }
      if (!v) { if (m.tri == Tri::Yes) m.tri = Tri::Maybe; continue; }
      std::optional<bool> in;
      if (op == "==" || op == "in") in = contains(right, *v);
      else if (op == "!=") { in = contains(right, *v); if (in) in = !*in; }
      if (!in) { if (m.tri == Tri::Yes) m.tri = Tri::Maybe; continue; }
      if (*in) {
        m.specific = m.specific || specific;
      } else {
        ++no;
        if (left.contains("ct") && left["ct"].value("key", "") == "state" &&
            right.dump().find("established") != std::string::npos)
          ct_state_no = true;
      }
    }
    if (no > 0) {
      m.tri = Tri::No;
      m.only_ct_state = no == 1 && ct_state_no;
    }
    return m;
  }

  enum class End { Fall, Return, Accept, MaybeAccept, Drop };  // Return: leave this chain

  struct Event {
    enum Kind { Drop, MaybeDrop, Offload, EstablishedOnly } kind;
    std::string chain;
    uint64_t handle;
  };
  std::vector<Event> events;

  // Walk one chain. `maybe`: the way here depended on an undecided condition.
  End walk(const std::string& chain, bool maybe, bool specific, int depth) {
    if (depth > 16) return End::MaybeAccept;  // a loop, or too deep: give up quietly
    auto it = l_.chains.find(Listing::key(family_, table_, chain));
    if (it == l_.chains.end()) return End::MaybeAccept;
    for (const json* rp : it->second.rules) {
      const json& rule = *rp;
      RuleMatch m = match_rule(rule);
      uint64_t handle = rule.value("handle", uint64_t(0));
      if (m.tri == Tri::No) {
        if (m.only_ct_state && has_verdict(rule, "accept"))
          events.push_back({Event::EstablishedOnly, chain, handle});
        continue;
      }
      bool may = maybe || m.tri == Tri::Maybe;
      bool spec = specific || m.specific;
      for (const auto& s : rule.value("expr", json::array())) {
        if (s.contains("flow") && s["flow"].value("op", "") == "add" && f_.state == CtState::Established)
          events.push_back({Event::Offload, chain, handle});
        std::optional<End> end = statement(s, chain, handle, may, spec, depth);
        if (end) {
          if (*end == End::Fall) goto next_rule;  // a jump came back: go on
          if (*end == End::Return) return End::Fall;
          return *end;
        }
      }
    next_rule:;
    }
    return End::Fall;
  }

  const Flow& flow() const { return f_; }

 private:
  uint16_t dport() const {
    // Before DNAT (priority dstnat, -100) an inbound forward still has its
    // public port; after it, the LAN server's.
    if ((hook_ == "prerouting" && prio_ < -100)) return f_.dport_pre;
    return f_.dport;
  }

  static bool has_verdict(const json& rule, const char* verdict) {
    for (const auto& s : rule.value("expr", json::array()))
      if (s.contains(verdict)) return true;
    return false;
  }

  // A verdict statement's effect; nullopt for statements that go on.
  std::optional<End> statement(const json& s, const std::string& chain, uint64_t handle, bool may, bool spec,
                               int depth) {
    if (s.contains("accept") || s.contains("masquerade") || s.contains("snat") || s.contains("dnat") ||
        s.contains("redirect"))
      return may ? End::MaybeAccept : End::Accept;
    if (s.contains("drop") || s.contains("reject")) {
      if (!may) {
        events.push_back({Event::Drop, chain, handle});
        return End::Drop;
      }
      if (spec) events.push_back({Event::MaybeDrop, chain, handle});
      return std::nullopt;
    }
    if (s.contains("queue")) return End::MaybeAccept;
    if (s.contains("return")) return may ? std::nullopt : std::optional<End>(End::Return);
    if (s.contains("jump") || s.contains("goto")) {
      bool go = s.contains("goto");
      std::string target = (go ? s["goto"] : s["jump"]).value("target", "");
      End e = walk(target, may, spec, depth + 1);
      // After a goto whose chain ends, the rest of this chain is skipped.
      if (e == End::Fall) return go && !may ? End::Return : End::Fall;
      return e;
    }
    if (s.contains("vmap")) {
      const auto& vm = s["vmap"];
      bool specific = false, never = false;
      auto v = value_of(vm["key"], &specific, &never);
      if (never || !v) return std::nullopt;  // undecided: the map is skipped
      const json& data = vm["data"];
      const json* entries = nullptr;
      if (data.is_object() && data.contains("set")) entries = &data["set"];
      if (!entries) return std::nullopt;
      for (const auto& pair : *entries) {
        if (!pair.is_array() || pair.size() != 2) continue;
        auto in = contains(pair[0], *v);
        if (in && *in) return statement(pair[1], chain, handle, may, spec || specific, depth);
      }
      return std::nullopt;
    }
    return std::nullopt;
  }

  const Listing& l_;
  const Flow& f_;
  std::string family_, table_;
  int64_t prio_;
  std::string hook_;
};

std::string proto_name(uint8_t p) {
  switch (p) {
    case kTcp: return "tcp";
    case kUdp: return "udp";
    case kGre: return "gre";
    case kEsp: return "esp";
  }
  return std::to_string(p);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string set_of(const std::set<uint16_t>& ports) {
  std::vector<std::string> s;
  for (auto p : ports) s.push_back(std::to_string(p));
  return s.size() == 1 ? s[0] : "{ " + join(s, ", ") + " }";
}

std::string where(const Flow& f) {
  std::string dir;
  if (!f.iif.empty()) dir += " from " + f.iif;
  if (!f.oif.empty()) dir += " to " + f.oif;
  std::string kind = f.state == CtState::Related  ? ""
                     : f.kind == FlowKind::Reply   ? "replies of "
                     : f.kind == FlowKind::Inbound ? "forwarded "
                                                   : "new ";
  return kind + (f.family == 6 ? "IPv6 " : "") + f.label + dir;
}

// The accept rules that let `flows` through, as nft rule text.
std::vector<std::string> accept_lines(const std::vector<const Flow*>& flows) {
  std::vector<std::string> out;
  bool replies = false;
  // Outbound and inbound separately, grouped per direction.
  std::map<std::pair<std::string, std::string>, std::pair<std::set<std::string>, std::map<uint8_t, std::set<uint16_t>>>>
      by_dir;
  std::map<std::pair<std::string, std::string>, bool> dnat;
  for (const Flow* f : flows) {
    if (f->kind == FlowKind::Reply) { replies = true; continue; }
    auto& slot = by_dir[{f->iif, f->oif}];
    dnat[{f->iif, f->oif}] = f->kind == FlowKind::Inbound;
    if (f->dport) slot.second[f->proto].insert(f->dport);
    else slot.first.insert(proto_name(f->proto));
  }
  for (const auto& [dir, what] : by_dir) {
    std::string head;
    if (!dir.first.empty()) head += "iifname \"" + dir.first + "\" ";
    if (!dir.second.empty()) head += "oifname \"" + dir.second + "\" ";
    if (dnat[dir]) head += "ct status dnat ";
    if (!what.first.empty()) {
      std::vector<std::string> p(what.first.begin(), what.first.end());
      out.push_back(head + "meta l4proto " + (p.size() == 1 ? p[0] : "{ " + join(p, ", ") + " }") + " accept");
    }
    for (const auto& [proto, ports] : what.second)
      out.push_back(head + proto_name(proto) + " dport " + set_of(ports) + " accept");
  }
  if (replies) out.insert(out.begin(), "ct state established,related accept");
  return out;
}

std::string firewalld_fix(const std::vector<const Flow*>& flows) {
  // Policy objects (firewalld 0.9+) for traffic between zones.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> by_dir;
  for (const Flow* f : flows) {
    if (f->kind == FlowKind::Reply) continue;  // firewalld accepts established flows itself
    auto& args = by_dir[{f->iif, f->oif}];
    std::string a = f->dport ? "--add-port=" + std::to_string(f->dport) + "/" + proto_name(f->proto)
                             : "--add-protocol=" + proto_name(f->proto);
    if (std::find(args.begin(), args.end(), a) == args.end()) args.push_back(a);
  }
  std::string out;
  int n = 0;
  for (const auto& [dir, args] : by_dir) {
    std::string name = "vpnpt-" + std::string(n++ ? "in" : "out");
    if (dir.first.empty() || dir.second.empty()) continue;
    out += "firewall-cmd --permanent --new-policy=" + name + "\n";
    out += "firewall-cmd --permanent --policy=" + name + " --add-ingress-zone=\"$(firewall-cmd --get-zone-of-interface=" +
           dir.first + ")\" --add-egress-zone=\"$(firewall-cmd --get-zone-of-interface=" + dir.second + ")\"\n";
    out += "firewall-cmd --permanent --policy=" + name + " " + join(args, " ") + "\n";
  }
  if (out.empty()) return {};
  return out + "firewall-cmd --reload";
}

// The fixes for a table: the runtime command, and where to keep it.
std::vector<std::pair<std::string, std::string>> fixes_for(const std::string& family, const std::string& table,
                                                           const std::string& chain, std::optional<uint64_t> before,
                                                           const std::vector<std::string>& lines,
                                                           const std::vector<const Flow*>& flows,
                                                           const RulesetContext& ctx) {
  std::vector<std::pair<std::string, std::string>> fixes;
  std::string ft = family + " " + table;
  if (ft == "inet firewalld") {
    std::string fw = firewalld_fix(flows);
    if (!fw.empty()) fixes.push_back({"firewalld", fw});
    return fixes;
  }
  std::string cmds;
  for (const auto& l : lines)
    cmds += (cmds.empty() ? "" : "\n") + std::string(before ? "nft insert rule " : "nft add rule ") + ft + " " + chain +
            (before ? " position " + std::to_string(*before) : "") + " " + l;
  fixes.push_back({"nftables", cmds});
  std::string where = before ? "before the rule `" + [&] {
    auto it = ctx.rule_text.find(ft + " " + chain + " " + std::to_string(*before));
    return it == ctx.rule_text.end() ? "handle " + std::to_string(*before) : it->second;
  }() + "`" : "at the end";
  std::string keep = "in chain " + chain + " of table " + ft + ", " + where + ", add:\n  " + join(lines, "\n  ");
  if (ctx.debian_tables.count(ft))
    fixes.push_back({"/etc/nftables.conf", keep + "\nthen: systemctl reload nftables"});
  else
    fixes.push_back({"persistent", "the nft command lasts until reboot; where table " + ft +
                                       " is defined (it is not in /etc/nftables.conf), " + keep});
  return fixes;
}

// Each foreign base chain at the hooks a forwarded flow crosses.
// (The router's own packets: each at output and postrouting.)
std::vector<const Listing::Chain*> forward_path(const Listing& l, const Flow& f, bool with_pre_post) {
  std::vector<const Listing::Chain*> out;
  for (const auto& [k, c] : l.chains) {
    if (!c.hook || is_own_table(c.family, c.table) || !family_sees(c.family, f.family)) continue;
    if (f.local_out) {
      if (*c.hook == "output" || *c.hook == "postrouting") out.push_back(&c);
      continue;
    }
    if (*c.hook == "forward" || (with_pre_post && (*c.hook == "prerouting" || *c.hook == "postrouting")))
      out.push_back(&c);
  }
  return out;
}

Flow at_hook(Flow f, const std::string& hook) {
  if (hook == "prerouting") f.oif.clear();  // not routed yet
  return f;
}

std::string why_drop(const std::vector<const Flow*>& flows) {
  std::string why =
      "vpnpt's rules live in table inet vpnpt; every base chain at a hook sees each packet, an accept ends only "
      "its own chain, and a drop anywhere is final, so these packets never cross the router whatever vpnpt does.";
  bool v6 = false, reply = false;
  for (const Flow* f : flows) {
    v6 = v6 || f->family == 6;
    reply = reply || f->kind == FlowKind::Reply;
  }
  if (reply) why += " Replies (ESP, GRE, IKE from the peer) are part of the same tunnel.";
  if (v6)
    why += " Over IPv6 there is no NAT: ESP and IKE should simply pass (RFC 6092, recommendations 20-23).";
  return why;
}

}  // namespace

bool is_own_table(const std::string& family, const std::string& name) {
  return family == kTableFamily && name == kTableName;
}

std::vector<Flow> passthrough_flows(const Config& cfg, bool established) {
  std::vector<Flow> out;
  std::string lan = cfg.lan_interfaces.empty() ? "" : cfg.lan_interfaces.front();
  CtState st = established ? CtState::Established : CtState::New;
  auto add = [&](const std::string& label, int family, uint8_t proto, uint16_t port) {
    Flow f;
    f.label = label;
    f.family = family;
    f.proto = proto;
    f.dport = f.dport_pre = port;
    // IKE, NAT-T and L2TP clients send from the same port (RFC 7296 2.11,
    // RFC 2661 8.1); a PPTP client's TCP port is any.
    if (proto == kUdp) f.sport = port;
    f.iif = lan;
    f.oif = cfg.wan_interface;
    f.state = st;
    out.push_back(f);
    Flow r = f;
    r.kind = FlowKind::Reply;
    r.iif = cfg.wan_interface;
    r.oif = lan;
    r.dport = r.dport_pre = f.sport;  // the reply goes to the host's own port
    r.sport = port;
    r.state = CtState::Established;
    if (!established) out.push_back(r);
  };
  if (cfg.pptp) {
    add("PPTP control (TCP 1723)", 4, kTcp, 1723);
    add("PPTP data (GRE)", 4, kGre, 0);
  }
  if (cfg.l2tp) add("L2TP (UDP 1701)", 4, kUdp, 1701);
  if (cfg.ipsec) {
    for (int fam : {4, 6}) {
      add("IKE (UDP 500)", fam, kUdp, 500);
      add("IPsec NAT-T (UDP 4500)", fam, kUdp, 4500);
      add("IPsec ESP", fam, kEsp, 0);
    }
  }
  for (const auto& fw : cfg.forwards)
    for (const auto& p : fw.ports) {
      Flow f;
      f.kind = FlowKind::Inbound;
      f.family = 4;
      f.proto = p.proto == L4::Tcp ? kTcp : p.proto == L4::Udp ? kUdp : p.proto == L4::Esp ? kEsp : kGre;
      f.dport_pre = p.port;
      f.dport = p.to_port ? p.to_port : p.port;
      f.label = "forward " + fw.name + " (" + std::string(l4_name(p.proto)) +
                (p.port ? " " + std::to_string(p.port) : "") + " to " + ipv4_str(fw.to) + ")";
      f.iif = cfg.wan_interface;
      f.oif = lan;
      f.state = st;
      f.dnat = true;
      out.push_back(f);
    }
  return out;
}

namespace {

// The drops, drop policies and maybe-drops that catch `flows` in foreign
// base chains, one group per rule (or policy), in listing order: table by
// table, chain by chain, rule by rule in handle order, policies last.
struct DropGroup {
  std::string family, table, chain, hook;
  int64_t prio = 0;
  std::optional<uint64_t> handle;  // none: the policy
  bool maybe = false;
  std::vector<const Flow*> flows;
  std::set<uint64_t> established_only;
};

std::vector<DropGroup> collect_drops(const json& nftables, const std::vector<Flow>& flows) {
  Listing l(nftables);
  std::map<std::string, DropGroup> groups;
  std::vector<std::string> order;
  for (const Flow& flow : flows)
    for (const Listing::Chain* c : forward_path(l, flow, true)) {
      Flow f = at_hook(flow, *c->hook);
      Evaluator ev(l, f, c->family, c->table, c->prio, *c->hook);
      auto end = ev.walk(c->name, false, false, 0);
      std::set<uint64_t> est;
      for (const auto& e : ev.events)
        if (e.kind == Evaluator::Event::EstablishedOnly) est.insert(e.handle);
      auto add = [&](const std::string& chain, std::optional<uint64_t> handle, bool maybe) {
        std::string k = c->family + " " + c->table + " " + chain + " " + (handle ? std::to_string(*handle) : "policy") +
                        (maybe ? " maybe" : "");
        auto [it, fresh] = groups.try_emplace(k);
        DropGroup& g = it->second;
        if (fresh) {
          g = {c->family, c->table, chain, *c->hook, c->prio, handle, maybe, {}, {}};
          order.push_back(k);
        }
        if (std::find(g.flows.begin(), g.flows.end(), &flow) == g.flows.end()) g.flows.push_back(&flow);
        g.established_only.insert(est.begin(), est.end());
      };
      for (const auto& e : ev.events) {
        if (e.kind == Evaluator::Event::Drop) add(e.chain, e.handle, false);
        if (e.kind == Evaluator::Event::MaybeDrop) add(e.chain, e.handle, true);
      }
      if (end == Evaluator::End::Fall && c->policy && *c->policy == "drop") add(c->name, std::nullopt, false);
    }
  std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    const DropGroup &x = groups[a], &y = groups[b];
    return std::make_tuple(x.family, x.table, x.chain, !x.handle, x.handle.value_or(0)) <
           std::make_tuple(y.family, y.table, y.chain, !y.handle, y.handle.value_or(0));
  });
  std::vector<DropGroup> out;
  for (const auto& k : order) out.push_back(groups[k]);
  return out;
}

// "table T, chain C (hook H, priority P), rule handle N `text` drops X" or
// "... has policy drop and no rule accepting X".
std::string drop_found(const DropGroup& g, const RulesetContext& ctx) {
  std::vector<std::string> what;
  for (const Flow* fl : g.flows) what.push_back(where(*fl));
  std::string ft = g.family + " " + g.table;
  std::string at =
      "table " + ft + ", chain " + g.chain + " (hook " + g.hook + ", priority " + std::to_string(g.prio) + ")";
  if (!g.handle) return at + " has policy drop and no rule accepting " + join(what, ", ");
  auto it = ctx.rule_text.find(ft + " " + g.chain + " " + std::to_string(*g.handle));
  std::string text = it == ctx.rule_text.end() ? "" : " `" + it->second + "`";
  return at + ", rule handle " + std::to_string(*g.handle) + text + (g.maybe ? " may drop " : " drops ") +
         join(what, ", ") + (g.maybe ? " (when its other conditions hold)" : "");
}

}  // namespace

std::vector<Finding> find_foreign_drops(const json& nftables, const std::vector<Flow>& flows,
                                        const RulesetContext& ctx) {
  std::vector<Finding> out;
  for (const DropGroup& g : collect_drops(nftables, flows)) {
    Finding f;
    f.table = g.family + " " + g.table;
    f.chain = g.chain;
    f.handle = g.handle;
    f.check = !g.handle ? "foreign-policy-drop" : g.maybe ? "foreign-drop-maybe" : "foreign-drop";
    f.found = drop_found(g, ctx);
    f.why = why_drop(g.flows);
    if (!g.handle && !g.established_only.empty()) {
      std::vector<std::string> hs;
      for (auto h : g.established_only) hs.push_back(std::to_string(h));
      f.why += " Rule handle " + join(hs, ", ") +
               " accepts ct state established/related: that covers only flows conntrack already tracks (replies, "
               "GRE the PPTP helper expects), never the first packet of a new tunnel.";
    }
    f.fixes = fixes_for(g.family, g.table, g.chain, g.handle, accept_lines(g.flows), g.flows, ctx);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Flow> pmtu_flows(const Config& cfg, const RulesetContext& ctx) {
  std::vector<Flow> out;
  std::string lan = cfg.lan_interfaces.empty() ? "" : cfg.lan_interfaces.front();
  auto add = [&](int family, bool local) {
    Flow f;
    f.family = family;
    f.proto = family == 4 ? kIcmp : kIcmp6;
    f.icmp_type = family == 4 ? "destination-unreachable" : "packet-too-big";
    f.icmp_code = family == 4 ? "frag-needed" : "no-route";  // ICMPv6 code 0, as nft names it
    f.label = std::string(local ? "the router's own " : "") +
              (family == 4 ? "ICMP fragmentation needed (type 3 code 4)" : "ICMPv6 packet too big (type 2)");
    f.kind = FlowKind::Reply;
    f.state = CtState::Related;
    f.local_out = local;
    f.iif = local ? "" : cfg.wan_interface;
    f.oif = lan;
    out.push_back(f);
  };
  bool smaller = false;
  for (const auto& [i, mtu] : ctx.lan_mtu) smaller = smaller || (ctx.wan_mtu && *ctx.wan_mtu < mtu);
  for (bool local : {false, true}) {
    if (local && !smaller) continue;
    add(4, local);
    if (cfg.ipsec) add(6, local);  // IPv6 passes ESP and IKE (RFC 6092); routers never fragment it
  }
  return out;
}

std::vector<Finding> find_pmtu_drops(const json& nftables, const std::vector<Flow>& flows, const RulesetContext& ctx) {
  std::vector<Finding> out;
  std::string mtus;
  if (ctx.wan_mtu)
    for (const auto& [i, mtu] : ctx.lan_mtu)
      if (*ctx.wan_mtu < mtu)
        mtus = "Here the WAN interface " + ctx.wan + " has MTU " + std::to_string(*ctx.wan_mtu) + ", smaller than " +
               i + "'s " + std::to_string(mtu) + " (PPPoE: 1492): every full-size tunnel packet from the LAN needs " +
               "this error, which the router itself sends (output hook). ";
  for (const DropGroup& g : collect_drops(nftables, flows)) {
    Finding f;
    f.check = "pmtu-icmp-drop";
    f.table = g.family + " " + g.table;
    f.chain = g.chain;
    f.handle = g.handle;
    f.found = drop_found(g, ctx);
    f.why = "GRE, ESP and L2TP/IPsec add headers to what a LAN host sends. A packet too big for a link on the way is "
            "dropped and answered with this ICMP error, which conntrack relates to the tunnel's flow and the router "
            "sends on, de-NATed, to the LAN host, which then sends smaller packets (path MTU discovery, RFC 1191, "
            "RFC 8201). GRE and ESP keep the DF bit, and IPv6 is never fragmented by routers: without the error, "
            "the tunnel comes up (small packets pass) and then stalls on full-size packets, a path MTU black hole. " +
            mtus + "A TCP MSS clamp on the router does not help: it cannot see the TCP inside a tunnel.";
    if (!g.handle && !g.established_only.empty()) {
      std::vector<std::string> hs;
      for (auto h : g.established_only) hs.push_back(std::to_string(h));
      f.why += " Rule handle " + join(hs, ", ") + " accepts ct state established but not related: ICMP errors "
               "about a flow are related, not established.";
    }
    std::vector<std::string> lines;
    bool v4 = false, v6 = false;
    for (const Flow* fl : g.flows) (fl->family == 4 ? v4 : v6) = true;
    if (v4) lines.push_back("icmp type destination-unreachable icmp code frag-needed ct state related accept");
    if (v6) lines.push_back("icmpv6 type packet-too-big ct state related accept");
    if (f.table == "inet firewalld")
      f.fixes.push_back({"firewalld", "firewalld itself accepts related ICMP; remove the direct or rich rule that "
                                      "drops it (firewall-cmd --direct --get-all-rules; firewall-cmd "
                                      "--list-all-zones), then: firewall-cmd --reload"});
    else
      f.fixes = fixes_for(g.family, g.table, g.chain, g.handle, lines, g.flows, ctx);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Finding> find_offloads(const json& nftables, const std::vector<Flow>& offload, const RulesetContext& ctx) {
  Listing l(nftables);
  std::map<std::string, std::pair<Finding, std::vector<std::string>>> by_rule;
  std::vector<std::string> order;
  for (const Flow& flow : offload) {
    // TCP 1723 has a helper, which the kernel never offloads; other UDP
    // forwards lose nothing by it.
    if (flow.proto != kUdp || (flow.dport != 500 && flow.dport != 4500 && flow.dport != 1701)) continue;
    for (const Listing::Chain* c : forward_path(l, flow, false)) {
      Evaluator ev(l, flow, c->family, c->table, c->prio, *c->hook);
      ev.walk(c->name, false, false, 0);
      for (const auto& e : ev.events) {
        if (e.kind != Evaluator::Event::Offload) continue;
        std::string ft = c->family + " " + c->table;
        std::string k = ft + " " + e.chain + " " + std::to_string(e.handle);
        auto [it, fresh] = by_rule.try_emplace(k);
        if (fresh) {
          order.push_back(k);
          Finding& f = it->second.first;
          f.check = "flowtable-offload";
          f.table = ft;
          f.chain = e.chain;
          f.handle = e.handle;
          auto t = ctx.rule_text.find(k);
          f.why =
              "An offloaded flow's packets skip the netfilter hooks: later IKE messages (rekeys, DPD) and L2TP "
              "control bypass vpnpt's chains and the vpnpt_esp module, which then misses rekeys, and conntrack "
              "timeouts (ike_timeout) are no longer refreshed by them.";
          std::string line = "ct state established,related meta l4proto udp ct original proto-dst { 500, 1701, 4500 } accept";
          f.fixes.push_back({"nftables", "nft insert rule " + ft + " " + e.chain + " position " +
                                             std::to_string(e.handle) + " " + line});
          std::string text = t == ctx.rule_text.end() ? "handle " + std::to_string(e.handle) : t->second;
          std::string keep = "in chain " + e.chain + " of table " + ft + ", before `" + text + "`, add:\n  " + line;
          if (ft == "inet firewalld")
            f.fixes = {{"firewalld", "NftablesFlowtable=off in /etc/firewalld/firewalld.conf, then: firewall-cmd "
                                     "--reload (firewalld offloads whole zones; it has no per-port exception)"}};
          else if (ctx.debian_tables.count(ft))
            f.fixes.push_back({"/etc/nftables.conf", keep + "\nthen: systemctl reload nftables"});
          else
            f.fixes.push_back({"persistent", "the nft command lasts until reboot; where table " + ft +
                                                 " is defined, " + keep});
          f.found = "table " + ft + ", chain " + e.chain + ", rule handle " + std::to_string(e.handle) +
                    (t == ctx.rule_text.end() ? "" : " `" + t->second + "`") + " offloads ";
        }
        auto& what = it->second.second;
        std::string w = where(flow);
        w = w.substr(w.find(' ') + 1);  // "new " is wrong for an established flow
        if (std::find(what.begin(), what.end(), w) == what.end()) what.push_back(w);
      }
    }
  }
  std::vector<Finding> out;
  for (const auto& k : order) {
    auto& [f, what] = by_rule[k];
    f.found += join(what, ", ") + " to a flowtable";
    out.push_back(f);
  }
  return out;
}

std::vector<Finding> find_early_helpers(const json& nftables, const RulesetContext& ctx) {
  Listing l(nftables);
  std::vector<Finding> out;
  // Chains reached (by jump/goto) from a base chain before conntrack.
  std::function<void(const Listing::Chain&, const Listing::Chain&, int)> scan =
      [&](const Listing::Chain& base, const Listing::Chain& c, int depth) {
        if (depth > 16) return;
        for (const json* r : c.rules)
          for (const auto& s : r->value("expr", json::array())) {
            if (s.contains("ct helper")) {
              Finding f;
              f.check = "helper-before-conntrack";
              f.table = c.family + " " + c.table;
              f.chain = c.name;
              f.handle = r->value("handle", uint64_t(0));
              std::string helper = s["ct helper"].is_string() ? s["ct helper"].get<std::string>() : "?";
              std::string key = f.table + " " + c.name + " " + std::to_string(*f.handle);
              auto t = ctx.rule_text.find(key);
              f.found = "table " + f.table + ", chain " + c.name + ", rule handle " + std::to_string(*f.handle) +
                        (t == ctx.rule_text.end() ? "" : " `" + t->second + "`") + " sets ct helper \"" + helper +
                        "\" at hook " + *base.hook + " priority " + std::to_string(base.prio) +
                        ", before conntrack (-200)";
              f.why = "Before priority -200 the packet has no conntrack entry yet, so `ct helper set` has nothing "
                      "to attach the helper to and silently does nothing: the PPTP control connection gets no "
                      "helper, its GRE calls are neither expected nor NATed per call, and two LAN hosts calling "
                      "one server clash.";
              std::string del = "nft delete rule " + f.table + " " + c.name + " handle " + std::to_string(*f.handle);
              std::string move = t == ctx.rule_text.end() ? "<the same rule>" : t->second;
              if (ctx.pptp && helper == "pptp")
                f.fixes.push_back({"nftables", del + "\n(vpnpt attaches the PPTP helper itself, at priority filter, "
                                                     "in table inet vpnpt)"});
              else
                f.fixes.push_back({"nftables", del + "\nthen add it to a chain at priority filter (0), e.g.:\nnft "
                                               "add chain " + f.table + " helpers '{ type filter hook " + *base.hook +
                                               " priority filter; }'\nnft add rule " + f.table + " helpers " + move});
              if (f.table == "inet firewalld")
                f.fixes.push_back({"firewalld", "remove the direct rule that sets the helper; firewalld's own "
                                                "helpers (--add-service) attach after conntrack"});
              else if (ctx.debian_tables.count(f.table))
                f.fixes.push_back({"/etc/nftables.conf", "move the line out of chain " + c.name + " of table " +
                                                             f.table + " into a chain with priority filter; then: "
                                                             "systemctl reload nftables"});
              out.push_back(std::move(f));
            }
            for (const char* v : {"jump", "goto"})
              if (s.contains(v)) {
                auto it = l.chains.find(Listing::key(c.family, c.table, s[v].value("target", "")));
                if (it != l.chains.end()) scan(base, it->second, depth + 1);
              }
          }
      };
  for (const auto& [k, c] : l.chains) {
    if (!c.hook || (*c.hook != "prerouting" && *c.hook != "output") || c.prio >= -200) continue;
    scan(c, c, 0);
  }
  return out;
}

std::vector<Finding> find_missing_helpers(const json& nftables, const Config& cfg) {
  Listing l(nftables);
  std::vector<Finding> out;
  bool own = false;
  for (const auto& [k, c] : l.chains) own = own || is_own_table(c.family, c.table);
  if (!own) {
    Finding f;
    f.check = "table-absent";
    f.table = std::string(kTableFamily) + " " + kTableName;
    f.found = "table inet vpnpt is not loaded";
    f.why = "Without it no helper is attached, no IKE timeout set, nothing is forwarded: passthrough rests on "
            "plain masquerade at best.";
    f.fixes.push_back({"vpnpt", "vpnpt apply"});
    out.push_back(std::move(f));
    return out;
  }
  bool forward_pptp = false;
  for (const auto& fw : cfg.forwards) forward_pptp = forward_pptp || fw.pptp_helper;
  struct Path {
    bool wanted;
    const char* chain;
    const char* what;
  };
  const Path paths[] = {{cfg.pptp, "lan_in", "PPTP clients on the LAN"},
                        {cfg.pptp, "out_filter", "a PPTP client on the router itself"},
                        {forward_pptp, "wan_in", "the PPTP server behind the router"}};
  for (const auto& p : paths) {
    if (!p.wanted) continue;
    auto it = l.chains.find(Listing::key(kTableFamily, kTableName, p.chain));
    bool set = false;
    if (it != l.chains.end())
      for (const json* r : it->second.rules)
        for (const auto& s : r->value("expr", json::array()))
          set = set || (s.contains("ct helper") && s["ct helper"] == "pptp");
    if (set) continue;
    Finding f;
    f.check = "helper-missing";
    f.table = std::string(kTableFamily) + " " + kTableName;
    f.chain = p.chain;
    f.found = std::string("table inet vpnpt attaches no PPTP helper in chain ") + p.chain + " (the path of " +
              p.what + ")";
    f.why = "The config wants PPTP there, but the loaded table does not match it (edited by hand, or loaded from "
            "another config): a control connection on that path gets no helper, so its GRE is not tracked per call.";
    f.fixes.push_back({"vpnpt", "vpnpt apply"});
    out.push_back(std::move(f));
  }
  return out;
}

std::map<std::string, std::string> rule_texts(const std::string& listing) {
  std::map<std::string, std::string> out;
  std::istringstream in(listing);
  std::string line, table, chain;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string t = line.substr(b);
    std::istringstream w(t);
    std::string word, a, c;
    w >> word;
    if (word == "table") {
      w >> a >> c;
      table = a + " " + c;
      chain.clear();
      continue;
    }
    if (word == "chain") {
      w >> chain;
      continue;
    }
    if (word == "}") continue;
    auto h = t.rfind(" # handle ");
    if (h == std::string::npos || chain.empty() || table.empty()) continue;
    if (t.back() == '{') continue;  // a set or an object, not a rule
    out[table + " " + chain + " " + t.substr(h + 10)] = t.substr(0, h);
  }
  return out;
}

std::set<std::string> declared_tables(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream w(line);
    std::string word, family, name;
    w >> word;
    if (word == "add" || word == "create") w >> word;
    if (word != "table") continue;
    w >> family >> name;
    if (name.empty() || name == "{") {  // "table NAME {" means family ip
      name = family;
      family = "ip";
    }
    if (!name.empty() && name.back() == '{') name.pop_back();
    out.insert(family + " " + name);
  }
  return out;
}

}  // namespace vpnpt
