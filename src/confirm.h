// confirm.h: apply --confirm SECONDS, vpnpt confirm and vpnpt revert.
//
// Changing a remote router's firewall over SSH can cut the SSH session that
// would fix it. apply --confirm keeps a snapshot of what is loaded (table
// inet vpnpt as libnftables lists it, counters and all; the vpnpt_esp
// module's parameters; the applied record) in the run folder, applies, and
// restores the snapshot in one transaction unless vpnpt confirm comes before
// the deadline. The restore is armed before the commit, by something that
// outlives the SSH session: a transient systemd timer (systemd-run) when
// systemd is PID 1 and vpnpt runs in its network namespace, else a detached
// process (double fork, setsid, SIGHUP ignored) that re-executes vpnpt as
// "revert --wait". The restore reads only the snapshot, never the config.
//
// A second apply --confirm while one is pending keeps the first snapshot
// (the last state known to work) and re-arms with the new deadline; a plain
// apply leaves the pending revert as it is.
#pragma once

#include <iosfwd>
#include <string>

#include "apply.h"

namespace vpnpt {

// Before apply's commit (the lock held): snapshot what is loaded, or keep
// the pending snapshot, and arm its restore in `seconds`. Returns the token
// that names this arming; what it armed is said in *armed.
struct Armed {
  std::string token;
  std::string by;     // "detached process, pid N" or "systemd timer U"
  bool fresh = true;  // false: an earlier pending snapshot was kept
};
Armed confirm_arm(const Options& opt, unsigned seconds);
// apply failed before its commit: a fresh arming is withdrawn (its restore
// finds nothing and does nothing); a kept snapshot stays armed.
void confirm_disarm(const Options& opt, const Armed& armed);

// vpnpt confirm: keep what the pending apply --confirm loaded.
void run_confirm(const Options& opt, std::ostream& out);

// vpnpt revert: restore the pending snapshot now. With a token, only that
// arming's; with wait, at its deadline unless confirmed before (the
// detached process).
void run_revert(const Options& opt, const std::string& token, bool wait, std::ostream& out);

}  // namespace vpnpt
