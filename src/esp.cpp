// esp.cpp: ESP mode policy on top of the vpnpt_esp netlink client.
#include "esp.h"

#include "error.h"
#include "kernel.h"

namespace vpnpt {

namespace {

constexpr const char* kModule = "vpnpt_esp";
constexpr const char* kHint =
    "install vpnpt-dkms for this kernel (or build kmod/), or set esp = \"single\" or \"auto\"";

espmux::Params params_of(const Config& cfg) {
  espmux::Params p;
#define VPNPT_MUX_COPY(attr, name, def, lo, hi) p.name = cfg.mux.name;
  VPNPT_ESP_TUNABLES(VPNPT_MUX_COPY)
#undef VPNPT_MUX_COPY
  p.keep_ike_port = cfg.mux.keep_ike_port;
  p.wan_ifname = cfg.wan_interface;
  p.enabled = true;
  return p;
}

}  // namespace

EspDecision decide_esp(const Config& cfg, bool load) {
  if (!cfg.ipsec || cfg.esp == EspMode::Off) return {EspMode::Off, ""};
  if (cfg.esp == EspMode::Single) return {EspMode::Single, ""};
  std::string why;
  try {
    if (espmux::family_present()) return {EspMode::Mux, ""};
    if (load) {
      espmux::load_module();
      if (espmux::family_present()) return {EspMode::Mux, ""};
      why = "the vpnpt_esp module loaded but its netlink family is missing";
    } else {
      if (module_state(kModule, "") == PieceState::Available) return {EspMode::Mux, "the vpnpt_esp module will be loaded by apply"};
      why = "the vpnpt_esp module is not installed for this kernel";
    }
  } catch (const Error& e) {
    if (cfg.esp == EspMode::Mux) throw;
    why = e.what();
  }
  if (cfg.esp == EspMode::Mux) throw Error(ErrorKind::Kernel, kModule, why, kHint);
  return {EspMode::Single, "esp = \"auto\" falls back to \"single\" (one LAN host per remote peer for raw ESP): " + why};
}

EspSnapshot esp_snapshot() {
  EspSnapshot s;
  if (espmux::family_present()) s.params = espmux::get_params();
  return s;
}

void esp_configure(const Config& cfg, const EspDecision& esp) {
  if (esp.mode == EspMode::Mux) {
    espmux::set_params(params_of(cfg));
  } else if (espmux::family_present()) {
    // Loaded for another namespace, or for an earlier "mux" config here: it
    // must stop multiplexing in this one (esp_finish forgets what it had).
    espmux::Params p = espmux::get_params();
    p.enabled = false;
    espmux::set_params(p);
  }
}

std::optional<espmux::Params> esp_target(const Config& cfg, const EspDecision& esp) {
  if (esp.mode == EspMode::Mux) return params_of(cfg);
  if (!espmux::family_present()) return std::nullopt;
  espmux::Params p = espmux::get_params();
  p.enabled = false;
  return p;
}

void esp_finish(const EspDecision& esp) {
  if (esp.mode != EspMode::Mux && espmux::family_present()) espmux::flush();
}

void esp_restore(const EspSnapshot& snap) {
  try {
    if (snap.params && espmux::family_present()) espmux::set_params(*snap.params);
  } catch (const Error&) {
    // Best effort: the error that made us restore is the one to report.
  }
}

void esp_release() {
  if (!espmux::family_present()) return;
  espmux::Params p = espmux::get_params();
  p.enabled = false;
  espmux::set_params(p);
  // No flush: the mappings stay (gc expires them after idle_timeout), so that
  // remove + apply (a restart of vpnpt or of nftables.service) resumes every
  // live tunnel. A flush would turn each live inbound SPI into a tombstone.
}

}  // namespace vpnpt
