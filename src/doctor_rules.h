// doctor_rules.h: what the rest of the ruleset does to VPN passthrough.
//
// vpnpt owns one table, but every base chain at a hook sees the packet: an
// accept in one table only ends that chain, while a drop anywhere is final.
// So another table (firewalld's, a Debian /etc/nftables.conf, a hand-made
// "inet filter") can undo vpnpt without vpnpt ever seeing an error. This
// file reads the kernel's JSON listing (libnftables, as `nft -j list
// ruleset`) and follows each flow that passthrough needs through every
// foreign base chain at forward, prerouting and postrouting, rule by rule.
//
// The evaluation is conservative, to not cry wolf: a condition it cannot
// decide (addresses, marks, meters) makes a rule "maybe". A maybe-accept
// counts as covering the flow; a maybe-drop is reported only when the rule
// names the flow's protocol or port itself. `ct state established,related
// accept` covers replies and flows conntrack already tracks, never the first
// packet of a new tunnel, and the finding says so.
//
// Pure: analyze_ruleset() takes the parsed JSON and the flows; the unit tests
// feed it canned rulesets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.h"

namespace vpnpt {

// One problem doctor found: what, why it breaks passthrough, and the fix for
// each tool that may own the thing ("nftables", "firewalld",
// "/etc/nftables.conf", "sysctl", "vpnpt", "conntrack").
struct Finding {
  std::string check;  // stable id, e.g. "foreign-drop" (listed in vpnpt(8))
  std::string found, why;
  std::vector<std::pair<std::string, std::string>> fixes;  // tool → what to run or change
  std::string table;                    // "inet filter", when about a table
  std::string chain;
  std::optional<uint64_t> handle;       // rule handle, when about a rule
};

// A flow that passthrough needs, as a base chain sees one of its packets.
enum class FlowKind { Outbound, Reply, Inbound };
enum class CtState { New, Established, Related };  // Related: an ICMP error about a flow

struct Flow {
  std::string label;   // "IKE (UDP 500)"
  FlowKind kind = FlowKind::Outbound;
  int family = 4;      // 4 or 6
  uint8_t proto = 0;   // IP protocol number
  uint16_t sport = 0, dport = 0;  // 0: unknown or none
  uint16_t dport_pre = 0;         // before DNAT (inbound forwards), else dport
  std::string iif, oif;           // "" unknown
  CtState state = CtState::New;
  bool dnat = false;
  bool local_out = false;         // sent by the router itself (output hook), not forwarded
  std::string icmp_type, icmp_code;  // ICMP(v6) flows, as nft names them
};

// The flows `cfg` passes: LAN → WAN new flows and their replies (IPv4, and
// ESP/IKE/NAT-T over IPv6 which pass without NAT, RFC 6092), and the
// inbound [[forward]] ports. With `established`, the same flows once
// conntrack has seen both directions (what a flowtable offloads).
std::vector<Flow> passthrough_flows(const Config& cfg, bool established = false);

struct RulesetContext {
  std::string wan;                      // for the fixes
  std::vector<std::string> lan;
  // "family table chain handle" → the rule as `nft -a list ruleset` prints it.
  std::map<std::string, std::string> rule_text;
  // "family table" of tables defined in /etc/nftables.conf.
  std::set<std::string> debian_tables;
  bool pptp = true;                     // cfg.pptp: vpnpt attaches the PPTP helper itself
  // Interface MTUs (/sys/class/net/IF/mtu), for the PMTU check.
  std::optional<unsigned> wan_mtu;
  std::vector<std::pair<std::string, unsigned>> lan_mtu;
};

// The table that vpnpt owns, skipped by the checks of foreign tables.
bool is_own_table(const std::string& family, const std::string& name);

// Checks 1 and 3: drops, rejects and drop policies of foreign tables that
// catch `flows`; flowtables that offload the UDP ones (`offload` flows are
// the established ones).
std::vector<Finding> find_foreign_drops(const nlohmann::json& nftables, const std::vector<Flow>& flows,
                                        const RulesetContext& ctx);
std::vector<Finding> find_offloads(const nlohmann::json& nftables, const std::vector<Flow>& offload,
                                   const RulesetContext& ctx);
// Check "mtu": the ICMP errors path MTU discovery needs for the tunnels of
// LAN hosts: "fragmentation needed" (IPv4 type 3 code 4) and, with IPsec,
// ICMPv6 "packet too big" (type 2), from the WAN to the LAN, which conntrack
// marks related to the tunnel's flow; and, when the WAN's MTU is smaller
// than a LAN interface's (PPPoE: 1492), the same errors the router sends
// itself (output hook).
std::vector<Flow> pmtu_flows(const Config& cfg, const RulesetContext& ctx);
// Foreign chains that drop them (a drop rule naming ICMP, or a drop policy
// without an accept for them).
std::vector<Finding> find_pmtu_drops(const nlohmann::json& nftables, const std::vector<Flow>& flows,
                                     const RulesetContext& ctx);
// Check 2: `ct helper set` in a chain that runs before conntrack (priority
// < -200 at prerouting or output): it has no conntrack entry to attach to.
std::vector<Finding> find_early_helpers(const nlohmann::json& nftables, const RulesetContext& ctx);
// Check 2, vpnpt's side: table inet vpnpt is loaded and attaches the PPTP
// helper on each path the config needs (LAN clients, the router's own
// client, a PPTP server behind the router).
std::vector<Finding> find_missing_helpers(const nlohmann::json& nftables, const Config& cfg);

// "# handle N" lines of a text listing (`nft -a list ruleset`) keyed as
// RulesetContext::rule_text wants.
std::map<std::string, std::string> rule_texts(const std::string& listing);
// "family table" of each `table` declared in an nftables file's text.
std::set<std::string> declared_tables(const std::string& text);

}  // namespace vpnpt
