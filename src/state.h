// state.h: what vpnpt keeps between runs, in /run/vpnpt (a tmpfs: gone at
// boot, like the table itself). Both files are per network namespace, keyed
// by the namespace's inode, so routers in different namespaces (or a test lab
// next to the host) never share a lock or a record.
//
// The folder is made 0700 whatever the umask and refused when it is a
// symlink, someone else's, or writable by group or others. Files are 0600,
// opened with O_NOFOLLOW, and written to a fresh O_EXCL file renamed into
// place: a symlink planted at a state path is never followed.
//
//   lock-<netns>     held (flock) for the whole of apply and remove
//   transaction-<netns>.nft  the last transaction the kernel refused, kept to
//                    be read (never loaded: apply loads from a private memfd)
//   applied-<netns>  the digests of the last apply: of the rendered text and
//                    of the table as the kernel held it right after it
//   pending-<netns>  while an apply --confirm waits for vpnpt confirm: the
//                    table and module parameters to restore, and the deadline
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace vpnpt {

// Write `text` to a fresh private file beside `path` (O_EXCL, 0600), fsync
// it, then rename it over `path`: a reader sees the old file or the whole
// new one, and a symlink planted at `path` is replaced, never followed.
// Error(Kernel) naming the file when any step fails (nothing left behind).
void replace_file(const std::string& path, const std::string& text);

// Every function takes the run folder: /run/vpnpt, or --run-dir. It never
// comes from the environment (under sudo -E that would be the user's choice
// of where root writes).
constexpr const char* kDefaultRunDir = "/run/vpnpt";
// Keep a transaction the kernel refused, for inspection: written to a
// private file, then renamed over transaction-<netns>.nft (the last refusal
// wins). Returns that path. Nothing ever loads it back.
std::string keep_transaction(const std::string& run_dir, const std::string& text);

// Holds the lock until destroyed. Error(Locked) when another vpnpt has it.
class Lock {
 public:
  explicit Lock(const std::string& run_dir);
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  int fd_ = -1;
};

struct AppliedRecord {
  std::string config_path;
  std::string digest;          // of the rendered ruleset
  // Of the table as the kernel holds it right after apply (table_digest.h;
  // an older apply recorded the digest of its text listing).
  std::string listing_digest;
  std::string esp_mode;        // effective ESP mode: mux, single, off
  std::string esp_note;        // why, when it differs from the config
  // The ruleset generation right after apply's commit, when nothing else
  // committed in between (so the table is exactly what apply loaded).
  std::optional<uint32_t> generation;
  std::string lister;  // what made the listing: kernel release and libnftables build
  // CLOCK_REALTIME ns since which the ike timeout policy has been loaded
  // (0: not loaded): IKE entries that began earlier are stale (stale.h).
  uint64_t ike_since_ns = 0;
  // This apply cleared the stale sessions (stale.h): not --keep-sessions,
  // and the check did not fail.
  bool sessions_checked = false;
};

void save_applied(const std::string& run_dir, const AppliedRecord& rec);
std::optional<AppliedRecord> load_applied(const std::string& run_dir);
void forget_applied(const std::string& run_dir);
nlohmann::json applied_to_json(const AppliedRecord& rec);
std::optional<AppliedRecord> applied_from_json(const nlohmann::json& j);

// The snapshot of a pending apply --confirm (confirm.h), as JSON text.
void save_pending(const std::string& run_dir, const std::string& text);
std::optional<std::string> load_pending(const std::string& run_dir);
void forget_pending(const std::string& run_dir);

}  // namespace vpnpt
