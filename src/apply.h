// apply.h: the operations that change (or check) the kernel: check, apply,
// remove. Each takes the lock, and each leaves the previous ruleset (and ESP
// module state) as it was when it fails.
#pragma once

#include <iosfwd>
#include <string>

#include "config.h"
#include "state.h"

namespace vpnpt {

struct Options {
  std::string config_path;
  std::string rules_dir;  // "" = find_rules_dir()
  std::string run_dir = kDefaultRunDir;
  bool verbose = false;
  bool strict_perms = true;  // --no-strict-perms turns it off
};

// Validate config, host and kernel; dry-run the transaction. Changes nothing.
void run_check(const Options& opt, std::ostream& out);
// Print the ruleset apply would load.
void run_show(const Options& opt, std::ostream& out);
struct ApplyOptions {
  bool dry_run = false;        // -n: have the kernel check it, then abort
  bool keep_sessions = false;  // --keep-sessions: leave stale VPN sessions (stale.h)
  bool diff = false;           // --diff: print the plan (diff.h) first
  unsigned confirm = 0;        // --confirm SECONDS: revert unless confirmed (confirm.h)
};

// Replace table inet vpnpt atomically (or only dry-run it); then clear the
// VPN sessions that began before the rules (unless keep_sessions).
void run_apply(const Options& opt, const ApplyOptions& how, std::ostream& out);
// Delete table inet vpnpt and nothing else.
void run_remove(const Options& opt, std::ostream& out);

}  // namespace vpnpt
