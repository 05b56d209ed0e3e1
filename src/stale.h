// stale.h: the conntrack entries of VPN flows that began before vpnpt's
// rules were in place, and so never got what the rules give a new flow.
//
// Rules act on a flow's first packet (ct state new): a PPTP control
// connection that was open before apply has no helper, so its calls are
// never translated and its GRE has no master; an IKE or NAT-T mapping made
// before has the kernel's short UDP timeout; a flow to a port the config now
// forwards went to the router itself; an L2TP server's reply from another
// port was refused before the mapping existed, and its retries keep that
// entry alive. Each stays so until its entry times out, which a busy flow
// never does. apply deletes exactly these entries (see man vpnpt.8, "Stale
// sessions"); the next packet of each flow creates a fresh entry that the
// rules handle.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "conntrack.h"

namespace vpnpt {

// What the rules now loaded give, and where: from the config and the host.
struct StaleScope {
  bool pptp_lan = false;      // the pptp helper on LAN clients and the router's own
  bool pptp_forward = false;  // ... and on control connections DNATed to a LAN server
  bool ike = false;           // the ike timeout policy on new IKE/NAT-T flows
  // CLOCK_REALTIME ns since which the ike policy has been loaded: an IKE
  // entry that began earlier (or has no timestamp) lacks it.
  uint64_t ike_since_ns = 0;
  bool l2tp = false;          // replies from another port go to the LAN host
  struct Port {
    uint8_t proto;
    uint16_t port;  // 0 for GRE and ESP
  };
  std::vector<Port> forwards;
  std::vector<Ipv4Net> lan_subnets;
  std::set<uint32_t> local;  // the router's own IPv4 addresses
  std::set<uint32_t> wan;    // those of the WAN interface
};

enum class StaleKind { PptpControl, PptpGre, Ike, L2tpReply, Forward };
const char* stale_kind_name(StaleKind k);  // "pptp-control", "pptp-gre", ...

struct StaleEntry {
  CtEntry entry;
  StaleKind kind;
  std::string why;  // what it lacks, e.g. "no pptp helper"
};

// The scope of `cfg` on this host (reads the interface addresses).
StaleScope stale_scope(const Config& cfg, uint64_t ike_since_ns);

// The stale entries among `all` (pure: no kernel access).
std::vector<StaleEntry> find_stale(const StaleScope& scope, const std::vector<CtEntry>& all);

struct StaleResult {
  std::vector<StaleEntry> cleared;  // deleted by us (not those gone meanwhile)
  std::map<StaleKind, size_t> by_kind;
};

// Read the entries a rule above could pick (kernel-filtered dumps, see
// stale.cpp), delete the stale ones, say which.
StaleResult clear_stale(const StaleScope& scope);

// "192.168.1.2:40000 -> 203.0.113.2:1723 tcp" for messages.
std::string describe_entry(const CtEntry& e);

}  // namespace vpnpt
