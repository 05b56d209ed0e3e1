// kernel.h: which kernel pieces vpnpt needs, whether they are there, and
// loading the modular ones.
//
// A piece is loaded (a module in /sys/module), builtin (modules.builtin or
// the kernel config says =y), available (libkmod can load it), missing, or
// unknown (no way to tell: no modules tree and no config).
// The ct helper itself is also proven by the transaction of apply (and the
// dry run of check), which the kernel refuses, whole, when the helper does
// not exist.
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace vpnpt {

enum class PieceState { Loaded, Builtin, Available, Missing, Unknown };
const char* piece_state_name(PieceState s);  // "loaded", "builtin", ...

struct KernelPiece {
  std::string name;     // module name, e.g. "nf_conntrack_pptp"
  std::string purpose;  // what vpnpt uses it for
  PieceState state;
};

// The pieces `cfg` needs (the ESP module is reported by esp_mux, not here).
std::vector<KernelPiece> probe_kernel(const Config& cfg);

// Load modular pieces that are available; a missing piece is an
// Error(Kernel) naming it. Returns the pieces with their new states.
std::vector<KernelPiece> load_kernel_pieces(const Config& cfg);

// Error(Kernel) naming the first missing piece, if any.
void require_pieces(const std::vector<KernelPiece>& pieces);

// nftables and conntrack need CAP_NET_ADMIN: Error(Kernel) saying so, once,
// instead of a netlink error from each library.
void require_net_admin();

// modprobe through libkmod. Error(Kernel) when it cannot be found or loaded.
void load_module(const std::string& name, const std::string& hint);

// The state of one module by name (see the list above).
PieceState module_state(const std::string& name, const std::string& config_symbol);

// Enable conntrack timestamps and per-flow counters in this network
// namespace so that status can show each session's age and traffic
// (net.netfilter.nf_conntrack_timestamp and nf_conntrack_acct). They apply to
// flows created afterwards.
void enable_conntrack_accounting();

}  // namespace vpnpt
