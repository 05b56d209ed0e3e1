// table_digest.h: a digest of table inet vpnpt as the kernel holds it, read
// from raw nf_tables netlink dumps instead of libnftables' text listing.
//
// apply records it right after its commit and status compares it, so that
// any change to the table's definition by anyone shows as drift. Listing
// the table as text costs about 0.2 s at 10,000 forwards (libnftables
// parses the dump, then prints it); this reads the same objects in a few
// milliseconds and hashes them.
//
// What goes in: the table, each chain, rule, set, named object and
// flowtable of the table, and the elements of each set that the packet path
// does not fill (not "dynamic", NFT_SET_EVAL), sorted (a hash set's dump
// order is its bucket order). What is left out, as the stateless text
// listing leaves it out: handles and rule positions, counter and "last"
// values, the bytes a quota has used, element expirations, the elements of
// dynamic sets and a set's element count, the set backend the kernel chose,
// netlink padding and the owner's port ID. A set, rule or
// object that differs in anything else gives another digest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vpnpt {

struct TableDigest {
  std::string digest;   // "nl1:" + 16 hex digits
  std::string comment;  // the table's comment ("" if none)
};

// nullopt when the table does not exist. Error(Kernel) when the dumps fail.
// The dumps are repeated (up to three times) when a commit came between
// them, so that the digest is of one generation of the ruleset.
std::optional<TableDigest> table_digest();

// Whether table inet vpnpt holds a named object `name` of nf_tables object
// type `type` (NFT_OBJECT_*), from one small dump: `list ct timeout` through
// libnftables first reads the whole ruleset into its cache, every set
// element included (0.2 s at 10,000 forwards).
bool table_has_object(const std::string& name, uint32_t type);

// True for a digest made by table_digest() (an older apply recorded the
// digest of the text listing instead).
bool is_netlink_digest(const std::string& digest);

}  // namespace vpnpt
