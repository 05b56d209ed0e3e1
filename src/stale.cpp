// stale.cpp: which conntrack entries are stale, and clearing them (stale.h).
#include "stale.h"

#include <ifaddrs.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>

#include <arpa/inet.h>

#include <cstdio>
#include <tuple>
#include <utility>

namespace vpnpt {

namespace {

constexpr uint16_t kPptpPort = 1723, kL2tpPort = 1701, kIkePort = 500, kNattPort = 4500;

bool in_nets(uint32_t a, const std::vector<Ipv4Net>& nets) {
  for (const auto& n : nets) {
    uint32_t mask = n.prefix ? ~uint32_t(0) << (32 - n.prefix) : 0;
    if ((a & mask) == n.addr) return true;
  }
  return false;
}

// A flow that a LAN host (or the router itself) began towards the outside:
// masqueraded, or from a LAN subnet or one of the router's addresses, and not
// to the router.
bool outbound(const StaleScope& s, const CtEntry& e, bool router_too) {
  if (s.local.count(e.orig.dst) || e.dst_nat()) return false;
  return e.src_nat() || in_nets(e.orig.src, s.lan_subnets) || (router_too && s.local.count(e.orig.src));
}

bool same_pair(const CtTuple& a, uint32_t x, uint32_t y) {
  return (a.src == x && a.dst == y) || (a.src == y && a.dst == x);
}

}  // namespace

const char* stale_kind_name(StaleKind k) {
  switch (k) {
    case StaleKind::PptpControl: return "pptp-control";
    case StaleKind::PptpGre: return "pptp-gre";
    case StaleKind::Ike: return "ike";
    case StaleKind::L2tpReply: return "l2tp-reply";
    case StaleKind::Forward: return "forward";
  }
  return "?";
}

std::string describe_entry(const CtEntry& e) {
  auto end = [&](uint32_t a, uint16_t p) {
    return ipv4_str(a) + ((e.orig.proto == IPPROTO_TCP || e.orig.proto == IPPROTO_UDP) ? ":" + std::to_string(p) : "");
  };
  std::string proto = e.orig.proto == IPPROTO_TCP   ? "tcp"
                      : e.orig.proto == IPPROTO_UDP ? "udp"
                      : e.orig.proto == IPPROTO_GRE ? "gre"
                      : e.orig.proto == IPPROTO_ESP ? "esp"
                                                    : "proto " + std::to_string(e.orig.proto);
  return proto + " " + end(e.orig.src, e.orig.sport) + " -> " + end(e.orig.dst, e.orig.dport);
}

StaleScope stale_scope(const Config& cfg, uint64_t ike_since_ns) {
  StaleScope s;
  s.pptp_lan = cfg.pptp;
  s.ike = cfg.ipsec;
  s.l2tp = cfg.l2tp;
  s.lan_subnets = cfg.lan_subnets;
  for (const auto& f : cfg.forwards) {
    if (f.service == "pptp") s.pptp_forward = true;
    if (f.service == "ipsec") s.ike = true;
    for (const auto& p : f.ports) {
      uint8_t proto = p.proto == L4::Tcp ? IPPROTO_TCP
                      : p.proto == L4::Udp ? IPPROTO_UDP
                      : p.proto == L4::Gre ? IPPROTO_GRE
                                           : IPPROTO_ESP;
      s.forwards.push_back({proto, p.port});
    }
  }
  s.ike_since_ns = s.ike ? ike_since_ns : 0;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
      s.local.insert(a);
      if (i->ifa_name && cfg.wan_interface == i->ifa_name) s.wan.insert(a);
    }
    freeifaddrs(list);
  }
  return s;
}

std::vector<StaleEntry> find_stale(const StaleScope& s, const std::vector<CtEntry>& all) {
  std::vector<StaleEntry> out;
  std::vector<const CtEntry*> controls;
  for (const auto& e : all) {
    const auto& o = e.orig;
    // PPTP control connections without the helper the rules now attach.
    if (o.proto == IPPROTO_TCP && o.dport == kPptpPort && e.helper.empty() &&
        ((s.pptp_lan && outbound(s, e, /*router_too=*/true)) || (s.pptp_forward && e.dst_nat()))) {
      out.push_back({e, StaleKind::PptpControl, "no pptp helper"});
      controls.push_back(&e);
      continue;
    }
    // IKE and NAT-T mappings begun before the ike timeout policy was loaded.
    if (s.ike && o.proto == IPPROTO_UDP && (o.dport == kIkePort || o.dport == kNattPort) &&
        (outbound(s, e, /*router_too=*/false) || e.dst_nat()) && e.start_ns < s.ike_since_ns) {
      out.push_back({e, StaleKind::Ike, e.start_ns ? "began before the ike timeout policy"
                                                   : "no start time: began before vpnpt's first apply"});
      continue;
    }
    // A flow to a port the config forwards, taken by the router itself.
    if (!e.dst_nat() && !e.src_nat() && s.wan.count(o.dst) && !s.local.count(o.src)) {
      bool fwd = false;
      for (const auto& p : s.forwards)
        fwd = fwd || (p.proto == o.proto && (p.port == 0 || p.port == o.dport));
      if (fwd) {
        out.push_back({e, StaleKind::Forward, "not DNATed to the forward's server"});
        continue;
      }
    }
  }
  for (const auto& e : all) {
    const auto& o = e.orig;
    // GRE of a stale control connection: no master, so never translated.
    if (o.proto == IPPROTO_GRE && !e.has_master) {
      for (const CtEntry* c : controls)
        if (same_pair(o, c->orig.src, c->orig.dst) || same_pair(o, c->reply.src, c->reply.dst)) {
          out.push_back({e, StaleKind::PptpGre, "gre of a control connection without the helper"});
          break;
        }
      continue;
    }
    // An L2TP server's reply from another port to a LAN host's mapping,
    // refused before the rules could send it on: its retries keep it alive.
    if (s.l2tp && o.proto == IPPROTO_UDP && o.sport != kL2tpPort && !e.dst_nat() && !e.src_nat() &&
        s.local.count(o.dst)) {
      for (const auto& f : all)
        if (f.orig.proto == IPPROTO_UDP && f.orig.dport == kL2tpPort && f.src_nat() && f.reply.src == o.src &&
            f.reply.dst == o.dst && f.reply.dport == o.dport) {
          out.push_back({e, StaleKind::L2tpReply, "l2tp reply from another port, refused before the rules"});
          break;
        }
    }
  }
  return out;
}

namespace {

// Only what a rule of find_stale could pick, from the kernel-filtered dumps
// that hold it: conntrack may hold a million entries, a handful of which
// are VPN flows, and each dump copies only its matches to user space.
//
//   TCP to port 1723 (pptp)          UDP to 500 and 4500 (ike)
//   UDP to 1701 (l2tp)               per WAN address and forwarded protocol:
//                                    the entries to it that cross no NAT
//   GRE (only when a PPTP control connection without helper is there)
//   UDP from an L2TP server to the router (only for the server of an L2TP
//   mapping that is there: each (server, router address) pair)
//
// Each dump walks every bucket of the kernel's conntrack hash (262,144 on
// the test machine: about 2.5 ms of CPU with no entry at all), then costs
// about 0.9 us per entry it sends and 0.2 us per entry it filters out. So
// k filtered dumps beat one dump of everything only for a large table and
// a small k; otherwise one dump of everything is read, as it is when a
// kernel ignores CTA_FILTER (before 5.9) and answers each dump with every
// entry.
bool filtered_dumps_pay(size_t k) {
  if (k <= 1) return true;
  long n = -1;
  if (FILE* f = std::fopen("/proc/sys/net/netfilter/nf_conntrack_count", "r")) {
    if (std::fscanf(f, "%ld", &n) != 1) n = -1;
    std::fclose(f);
  }
  // k * (W + 0.2 n) < W + 0.9 n, with W = 2,500 us
  return n >= 0 && double(n) * (0.9 - 0.2 * double(k)) > 2500.0 * double(k - 1);
}

std::vector<CtEntry> read_all_candidates(const StaleScope& scope) {
  std::vector<CtEntry> all;
  dump_conntrack([&](const CtEntry& e) {
    const auto& o = e.orig;
    bool keep = o.proto == IPPROTO_GRE || o.proto == IPPROTO_ESP ||
                (o.proto == IPPROTO_TCP && (o.dport == kPptpPort || scope.wan.count(o.dst))) ||
                (o.proto == IPPROTO_UDP && (o.dport == kIkePort || o.dport == kNattPort ||
                                            o.dport == kL2tpPort || scope.local.count(o.dst)));
    if (keep) all.push_back(e);
  });
  return all;
}

std::vector<CtEntry> read_candidates(const StaleScope& scope) {
  std::set<uint8_t> fwd_protos;
  for (const auto& p : scope.forwards) fwd_protos.insert(p.proto);
  const bool pptp = scope.pptp_lan || scope.pptp_forward;
  const size_t k = (pptp ? 1 : 0) + (scope.ike ? 2 : 0) + (scope.l2tp ? 1 : 0) + scope.wan.size() * fwd_protos.size();
  if (!filtered_dumps_pay(k)) return read_all_candidates(scope);
  std::vector<CtEntry> all;
  std::set<std::tuple<uint32_t, uint8_t, uint32_t, uint32_t, uint16_t, uint16_t>> seen;
  bool ignored = false;
  auto keep = [&](const CtEntry& e) {
    const auto& o = e.orig;
    if (seen.insert({e.id, o.proto, o.src, o.dst, o.sport, o.dport}).second) all.push_back(e);
  };
  auto dump = [&](const CtFilter& f) {
    if (!ignored) dump_conntrack(f, keep, &ignored);
  };
  if (pptp) dump({.proto = IPPROTO_TCP, .dport = kPptpPort});
  if (scope.ike) {
    dump({.proto = IPPROTO_UDP, .dport = kIkePort});
    dump({.proto = IPPROTO_UDP, .dport = kNattPort});
  }
  if (scope.l2tp) dump({.proto = IPPROTO_UDP, .dport = kL2tpPort});
  for (uint32_t addr : scope.wan)
    for (uint8_t proto : fwd_protos)
      dump({.proto = proto, .dst = addr, .status = 0, .status_mask = IPS_SRC_NAT | IPS_DST_NAT});
  bool control_without_helper = false;
  std::set<std::pair<uint32_t, uint32_t>> l2tp_servers;  // (server, router address)
  for (const auto& e : all) {
    if (e.orig.proto == IPPROTO_TCP && e.orig.dport == kPptpPort && e.helper.empty()) control_without_helper = true;
    if (scope.l2tp && e.orig.proto == IPPROTO_UDP && e.orig.dport == kL2tpPort && e.src_nat() &&
        scope.local.count(e.reply.dst))
      l2tp_servers.insert({e.reply.src, e.reply.dst});
  }
  if (pptp && control_without_helper) dump({.proto = IPPROTO_GRE});
  if (l2tp_servers.size() > 64) {  // many: one dump of UDP to the router that crosses no NAT
    for (uint32_t addr : scope.local)
      dump({.proto = IPPROTO_UDP, .dst = addr, .status = 0, .status_mask = IPS_SRC_NAT | IPS_DST_NAT});
  } else {
    for (const auto& [server, router] : l2tp_servers)
      dump({.proto = IPPROTO_UDP, .src = server, .dst = router, .status = 0, .status_mask = IPS_SRC_NAT | IPS_DST_NAT});
  }
  return ignored ? read_all_candidates(scope) : all;
}

}  // namespace

StaleResult clear_stale(const StaleScope& scope) {
  StaleResult r;
  for (auto& s : find_stale(scope, read_candidates(scope)))
    if (delete_conntrack(s.entry)) {
      ++r.by_kind[s.kind];
      r.cleared.push_back(std::move(s));
    }
  return r;
}

}  // namespace vpnpt
