// esp.h: what apply, check and status do about raw ESP: pick the effective
// mode (esp = "auto" falls back loudly), and configure the vpnpt_esp module
// through its generic netlink family (esp_mux.h is the wire client).
#pragma once

#include <optional>
#include <string>

#include "config.h"
#include "esp_mux.h"

namespace vpnpt {

struct EspDecision {
  EspMode mode;      // Mux, Single or Off (never Auto): what is in effect
  std::string note;  // said by apply, check and status when mode differs from the config
};

// With load, the module is loaded when the config wants it (apply); without,
// only probed (check, dry run). esp = "mux" without a module is Error(Kernel).
EspDecision decide_esp(const Config& cfg, bool load);

// The module's parameters before apply, to put back if the transaction fails.
struct EspSnapshot {
  std::optional<espmux::Params> params;
};
EspSnapshot esp_snapshot();
// Before the commit: parameters only, so that esp_restore can undo it.
void esp_configure(const Config& cfg, const EspDecision& esp);
// The parameters esp_configure would set (nullopt: it would set none).
std::optional<espmux::Params> esp_target(const Config& cfg, const EspDecision& esp);
void esp_restore(const EspSnapshot& snap);
// After the commit: what cannot be undone (dropping the mappings of a module
// that no longer multiplexes here).
void esp_finish(const EspDecision& esp);
// After remove: the module stops multiplexing in this netns; it keeps its
// mappings (they expire after idle_timeout), so that the next apply resumes
// live tunnels. The module itself stays loaded.
void esp_release();

}  // namespace vpnpt
