// status.h: "vpnpt status": one JSON model of the live state, printed as
// JSON (--json, schema in vpnpt(8)) or as text for people.
#pragma once

#include <iosfwd>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply.h"
#include "conntrack.h"

namespace vpnpt {

void run_status(const Options& opt, bool json, std::ostream& out);

// The VPN sessions among conntrack entries, grouped per LAN host (pure: the
// unit tests feed it entries). now_ns is CLOCK_REALTIME.
nlohmann::json sessions_json(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                             uint64_t now_ns);

// The text form of a status model.
void print_status(const nlohmann::json& s, std::ostream& out);

}  // namespace vpnpt
