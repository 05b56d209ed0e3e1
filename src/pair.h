// pair.h: "vpnpt status" on a router of a pair (vpnpt(8), ROUTER PAIR):
// which role this router sees and whether conntrackd syncs its sessions.
//
// Role: keepalived moves the WAN address between the routers and it is the
// only IPv4 address on the WAN interface (masquerade takes it), so a router
// with an IPv4 address on [wan] interface is the active one and a router
// without is the standby. Sync: a conntrackd running in this network
// namespace (found in /proc, its config from its "-C" argument, else
// /etc/conntrackd/conntrackd.conf), asked for its statistics over its UNIX
// socket (UNIX { Path } in that config) as "conntrackd -s" does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vpnpt {

struct PairStatus {
  std::string wan_interface;               // from the config; empty without one
  std::vector<std::string> wan_addresses;  // its IPv4 addresses
  bool conntrackd = false;                 // a conntrackd runs in this namespace
  std::optional<int> pid;
  std::string config;                      // its config file
  std::string socket;                      // UNIX { Path } of that config
  bool answered = false;                   // it answered on the socket
  std::optional<uint64_t> internal, external;  // entries in its caches
  std::string error;                       // why it did not answer

  // "active" (holds a WAN address), "standby" (none), "unknown" (no [wan]).
  const char* role() const;
};

PairStatus pair_status(const std::string& wan_interface);

// The conntrackd config's UNIX { Path ... } (default /var/run/conntrackd.ctl).
std::string conntrackd_socket_path(const std::string& config_text);
// The two "current active connections" counts of "conntrackd -s" output
// (cache internal, cache external).
void parse_conntrackd_stats(const std::string& text, std::optional<uint64_t>& internal,
                            std::optional<uint64_t>& external);

nlohmann::json pair_json(const PairStatus& p);
// One line for the text status, or "" when there is nothing pair-like to
// say (no conntrackd in this namespace).
std::string pair_text(const PairStatus& p);

}  // namespace vpnpt
