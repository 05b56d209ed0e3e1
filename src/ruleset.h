// ruleset.h: Config → the nftables text of table inet vpnpt.
//
// The text comes from the templates in rules/ (one per concern: base, pptp,
// l2tp, ipsec, forward); this file decides which apply and fills in their
// variables. The table's comment carries a digest of the text, so status can
// tell whether the live table was loaded from the current config.
#pragma once

#include <string>

#include "config.h"

namespace vpnpt {

inline constexpr const char* kTableFamily = "inet";
inline constexpr const char* kTableName = "vpnpt";

struct Ruleset {
  std::string text;    // the table, ready for libnftables
  std::string digest;  // of `text` without its comment line (16 hex digits)
};

// Where the templates are (never from the environment): --rules-dir, else
// <exe>/../share/vpnpt/rules, <exe>/rules (build tree), the folder installed
// (VPNPT_RULES_DIR, fixed at build time).
std::string find_rules_dir(const std::string& override_dir);

// `version` goes into the table comment (and so into the digest); empty is
// this build's. Golden tests pass a fixed one, so a release does not change
// them.
Ruleset render_ruleset(const Config& cfg, const std::string& rules_dir, const std::string& version = {});

// The digest recorded in a table comment written by render_ruleset, or "".
std::string digest_from_comment(const std::string& comment);

// 64-bit FNV-1a as 16 hex digits: to detect change, not to resist attack.
std::string text_digest(const std::string& text);

}  // namespace vpnpt
