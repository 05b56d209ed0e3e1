// config.h: vpnpt's configuration, parsed from TOML and validated.
//
// load_config() reads and checks everything that can be checked without the
// running system (types, ranges, addresses, duplicates) and throws
// Error(Config) with "file:line: key: problem" on the first mistake.
// check_host() then checks what depends on the machine (interfaces exist).
// Every key is documented in man/vpnpt.toml.5 and in etc/vpnpt.toml.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vpnpt_esp.h"  // VPNPT_ESP_TUNABLES

namespace vpnpt {

enum class EspMode { Auto, Mux, Single, Off };
const char* esp_mode_name(EspMode m);

struct Ipv4Net {
  uint32_t addr = 0;  // host byte order, host bits zero
  int prefix = 32;
  std::string str() const;
};
std::string ipv4_str(uint32_t addr);  // host byte order in

// Tuning of the vpnpt_esp module ([ipsec.mux]): the module's own table of
// names, defaults and ranges (kmod/uapi/vpnpt_esp.h), and keep_ike_port.
struct MuxConfig {
#define VPNPT_MUX_FIELD(attr, name, def, lo, hi) uint32_t name = def;
  VPNPT_ESP_TUNABLES(VPNPT_MUX_FIELD)
#undef VPNPT_MUX_FIELD
  bool keep_ike_port = false;
};

enum class L4 { Tcp, Udp, Esp, Gre };
const char* l4_name(L4 p);

// One port (or protocol) that a [[forward]] expands to.
struct ForwardPort {
  L4 proto = L4::Tcp;
  uint16_t port = 0;     // 0 for esp/gre
  uint16_t to_port = 0;  // 0: same as port
};

struct Forward {
  std::string name;     // name = "..." or the preset, e.g. "wireguard"
  std::string service;  // preset name, or "" for protocol + port
  uint32_t to = 0;      // host byte order
  std::vector<ForwardPort> ports;
  bool pptp_helper = false;  // PPTP: attach the helper on WAN ingress
  int line = 0;
};

struct Config {
  std::string path;

  std::string wan_interface;
  int wan_interface_line = 0;
  bool masquerade = true;

  std::vector<std::string> lan_interfaces;
  std::vector<int> lan_interface_lines;
  std::vector<Ipv4Net> lan_subnets;

  bool pptp = true;
  bool l2tp = true;
  bool ipsec = true;
  EspMode esp = EspMode::Auto;
  uint32_t ike_timeout = 600;
  MuxConfig mux;

  std::vector<Forward> forwards;

  // Does this config want the ESP module at all?
  bool wants_mux() const { return ipsec && (esp == EspMode::Mux || esp == EspMode::Auto); }
};

// Parse a TOML document. `path` is used in messages only.
Config parse_config(const std::string& text, const std::string& path);
// Read and parse a file; a missing or unreadable file is a config error.
// With strict_perms (sshd's StrictModes), a file that is group- or
// world-writable, or owned by neither root nor the effective user, is
// refused with Error(Unsafe): whoever can write it can add DNAT forwards.
Config load_config(const std::string& path, bool strict_perms = true);
// Checks against the running system: the named interfaces exist.
void check_host(const Config& cfg);

}  // namespace vpnpt
