// esp_mux.h: the controller's client of the vpnpt_esp kernel module, through
// its generic netlink family "vpnpt_esp" (kmod/uapi/vpnpt_esp.h) and libnl-genl-3.
//
// Every call works in the caller's network namespace.  Failures throw
// vpnpt::Error(ErrorKind::Kernel, "esp mux", <problem>, <hint>).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vpnpt_esp.h"  // VPNPT_ESP_TUNABLES

namespace vpnpt::espmux {

struct Params {
#define VPNPT_MUX_FIELD(attr, name, def, lo, hi) uint32_t name = def;
  VPNPT_ESP_TUNABLES(VPNPT_MUX_FIELD)
#undef VPNPT_MUX_FIELD
  bool keep_ike_port = false;
  bool enabled = false;  // multiplex in this netns; the module does nothing until then
  // The WAN interface: the module takes peers only from it and LAN hosts only
  // from the others, and follows the name (PPP links, renames). Enabling needs it.
  std::string wan_ifname;
  uint32_t wan_ifindex = 0;  // read back only: the name's index now, 0 if absent
};

struct Mapping {
  std::string host, peer;          // dotted IPv4
  uint32_t spi_out = 0, spi_in = 0;  // 0: not seen / not bound yet
  std::string state, reason;       // "pending|bound|draining"; "ike|esp-first|ike-out|..."
  uint64_t age_ms = 0, packets_out = 0, packets_in = 0, bytes_out = 0, bytes_in = 0;
  uint16_t zone = 0;               // conntrack zone of (host, peer)
  std::string kind;                // "esp" or "ike"
  uint64_t idle_ms = 0;
  uint64_t ike_ispi = 0, ike_rspi = 0;  // kind "ike": full 64-bit SPIs/cookies
  uint8_t ike_version = 0;
};

bool family_present();   // the module is loaded and its genl family resolves (never autoloads it)
void load_module();      // libkmod: modprobe vpnpt_esp; Error(Kernel) with a hint if absent
void set_params(const Params&);
Params get_params();
// One dump of the mappings, each passed to `each` as its message is read:
// memory does not grow with the count. False if the module marked the dump
// as overlapping a change (NLM_F_DUMP_INTR: a mapping may have been missed
// or passed twice).
bool for_each_mapping(const std::function<void(const Mapping&)>& each);
// All of them in a vector, the dump read again (three times at most) while
// the module marks it as overlapping a change.
std::vector<Mapping> dump_mappings();
std::vector<std::pair<std::string, uint64_t>> counters();
void flush();

}  // namespace vpnpt::espmux
