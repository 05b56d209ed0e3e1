// doctor.h: "vpnpt doctor": why a VPN still does not cross the router.
//
// Most failed passthroughs are not a missing feature but something else in
// the way. Each check reads the live kernel (libnftables' JSON listing,
// /proc/sys, conntrack through netlink), never a guess from config files,
// and each finding says what it found, why that breaks passthrough, and the
// fix for the tool that owns the thing (nftables, firewalld, a Debian
// /etc/nftables.conf, sysctl). Exit status: 0 nothing found, 7 findings
// (ErrorKind::Findings), the usual codes for errors. The checks are listed in
// vpnpt(8), DOCTOR.
//
// Gathering is here; the judging is pure, over snapshots (check_system,
// check_sessions, and doctor_rules.h for the ruleset), so unit tests feed it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply.h"
#include "config.h"
#include "conntrack.h"
#include "doctor_rules.h"
#include "kernel.h"

namespace vpnpt {

// What the system checks read, as read.
struct SystemSnapshot {
  std::optional<uint64_t> ct_count, ct_max;       // nf_conntrack_count, nf_conntrack_max
  bool gre_tracking = true;                       // nf_conntrack_gre_timeout exists
  std::optional<int> helper_sysctl;               // nf_conntrack_helper; none since Linux 6.0
  std::vector<std::pair<std::string, int>> rp_filter;  // interface → effective (max of all and it)
  struct File {
    std::string path, text;
  };
  std::vector<File> settings;                     // sysctl.d and modprobe.d files
  std::vector<KernelPiece> pieces;                // probe_kernel(cfg)
  PieceState esp_module = PieceState::Unknown;    // vpnpt_esp
};

// Check 4: kernel pieces, conntrack table fill, rp_filter, helper sysctl.
std::vector<Finding> check_system(const Config& cfg, const SystemSnapshot& s);

// Check 5: live symptoms in conntrack (every IPv4 entry of the VPN protocols,
// and un-NATed UDP to the router). `esp` is the ESP mode in effect.
std::vector<Finding> check_sessions(const Config& cfg, EspMode esp, const std::vector<CtEntry>& entries);

struct CheckResult {
  std::string name;    // "foreign-tables", ...
  std::string status;  // "ok", "findings", "skipped"
  std::string note;    // why skipped, or what was looked at
};

struct DoctorReport {
  std::vector<CheckResult> checks;
  std::vector<Finding> findings;
};

void print_doctor(const DoctorReport& r, std::ostream& out);
nlohmann::json doctor_json(const DoctorReport& r);

// Run every check; print; return the exit status (0 or 7).
int run_doctor(const Options& opt, bool json, std::ostream& out);

}  // namespace vpnpt
