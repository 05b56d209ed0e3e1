// diff.h: what apply would change, against what is loaded: table inet vpnpt
// (its chains' rules, sets, maps, counters, ct helpers and timeouts), the
// kernel modules it would load and the vpnpt_esp module's parameters.
//
// Both tables are compared as the kernel lists them: the loaded one as it
// is, the candidate after loading it into a scratch network namespace that
// exists for the length of the listing (the router's own is not touched).
// So a rule written differently but listed the same is no change, and one
// the kernel would normalise shows as it will look once applied. The
// listings are split into blocks (the table's own lines, each chain, set,
// map, counter, ct helper or ct timeout); a chain's rules are compared in
// order (a longest common subsequence), a set's or map's elements as a set.
// Elements of dynamic sets (filled by the packet path) and the table comment
// (vpnpt's version and digest) are not compared.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply.h"
#include "config.h"
#include "ruleset.h"

namespace vpnpt {

// vpnpt diff's exit status when there is something to apply. 1-6 are
// errors (error.h) and 7 is doctor's; vpnpt(8) lists them all.
constexpr int kExitPending = 8;

struct BlockDiff {
  std::string kind;  // "table", "chain", "set", "map", "counter", "ct helper", "ct timeout"
  std::string name;
  std::vector<std::string> removed, added;  // lines (rules, elements as "element X")
};

struct ParamDiff {
  std::string name;  // "idle_timeout", ...
  std::string from, to;
};

struct Plan {
  bool table_loaded = false;
  std::vector<BlockDiff> blocks;
  std::vector<std::string> modules;  // kernel modules apply would load
  std::vector<ParamDiff> esp;        // vpnpt_esp parameters apply would set
  bool empty() const { return blocks.empty() && modules.empty() && esp.empty(); }
};

// The blocks of two table listings (pure: no kernel access).
std::vector<BlockDiff> diff_listings(const std::string& loaded, const std::string& candidate);

// The whole plan of applying `rs` (built from `cfg`) now.
Plan plan_apply(const Config& cfg, const Ruleset& rs);

// The kernel's listing of `rs`, loaded into a scratch network namespace.
std::string list_candidate(const Ruleset& rs);

void print_plan(const Plan& plan, std::ostream& out);
nlohmann::json plan_json(const Plan& plan);

// vpnpt diff: print the plan; 0 when there is nothing to do, else kExitPending.
int run_diff(const Options& opt, bool json, std::ostream& out);

}  // namespace vpnpt
