// mux_transfer.h: `vpnpt mux export` and `vpnpt mux import`, the planned
// switchover of a router pair (vpnpt(8), ROUTER PAIR).
//
// conntrackd syncs the zones of raw-ESP flows but not the vpnpt_esp module's
// SPI tables, so after a switchover the standby cannot route ESP that the
// peer sends first (kmod/DESIGN.md, "Router pair"). Before a planned
// switchover the active router exports its module's mappings as a JSON
// document and the standby imports it (VPNPT_ESP_CMD_ADD_MAPPING, one per
// mapping). Pending ESP mappings (outbound SPI seen, inbound not bound) carry
// no inbound SPI and are not transferable: they are counted, not exported.
// A bound SA the peer started, on which the host has not sent yet, has
// spi_out 0 and is exported so (the host's first packet on B joins it).
//
// conntrackd does not sync ESP either (the shipped conntrackd.conf leaves it
// out: a synced entry in a zone B gives another host after a crash blocks
// that host), so B also lacks each host's masquerade in its zone, and the
// peer's ESP would not be un-NATed there. The export therefore records, per
// ESP mapping, the address A's conntrack entry in that zone masquerades it
// to ("nat": the reply tuple's destination), and the import creates that
// entry on B (ctnetlink, conntrack.h create_conntrack) after the mapping.
//
// The document (version 2; version 1, without "nat"/"wan", is still read:
// its import creates no conntrack entries):
//   { "format": "vpnpt-mux-mappings", "version": 2, "router": "<hostname>",
//     "exported_at": "<UTC ISO 8601>", "pending_not_exported": N,
//     "wan": "198.51.100.1",
//     "mappings": [
//       { "kind": "esp", "host": "192.168.1.2", "peer": "203.0.113.2",
//         "zone": 1024, "spi_out": "0x0000c001", "spi_in": "0x0000c101",
//         "state": "bound", "reason": "esp-first", "nat": "198.51.100.1" },
//       { "kind": "ike", "host": ..., "peer": ..., "zone": ...,
//         "ike_ispi": "0x0123456789abcdef", "ike_rspi": "0x...",
//         "ike_version": 2, "reason": "ike-out" } ] }
// SPIs are hex strings (64-bit IKE SPIs do not fit a JSON double); ESP SPIs
// in host byte order, as `ip xfrm state` prints them. "wan" (optional) is
// the NAT address most of the ESP entries had: an ESP mapping whose own
// entry A had lost meanwhile (no "nat") is given that one.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "esp_mux.h"

namespace vpnpt {
struct Options;
}

namespace vpnpt::muxxfer {

constexpr const char* kFormat = "vpnpt-mux-mappings";
constexpr int kVersion = 2;  // reads 1 and 2

struct Entry {
  std::string kind;                // "esp" or "ike"
  std::string host, peer;          // dotted IPv4
  uint16_t zone = 0;
  uint32_t spi_out = 0, spi_in = 0;  // esp: spi_in non-zero; spi_out 0: the peer
                                     // started the SA, the host has not sent on it
  std::string state = "bound";       // esp: "bound" or "draining"
  std::string reason;                // as dumped ("ike", "esp-first", ...; "": none)
  uint64_t ike_ispi = 0, ike_rspi = 0;  // ike
  uint8_t ike_version = 0;              // ike: 1 or 2
  std::string nat;                      // esp: the masquerade address ("": none known)

  // "esp 192.168.1.2 <-> 203.0.113.2 spi_out 0x... spi_in 0x... zone N"
  std::string describe() const;
  // Two entries name the same mapping (what DEL_MAPPING takes).
  bool same_mapping(const Entry& o) const;
};

struct Document {
  std::string router, exported_at;
  uint64_t pending_not_exported = 0;
  std::string wan;  // "": none
  int version = kVersion;
  std::vector<Entry> mappings;
  // The address the entry's conntrack entry is masqueraded to: its own
  // "nat", else "wan" ("": none, no entry is created).
  std::string nat_of(const Entry& e) const;
};

// A's ESP conntrack entry of a mapping: host -> peer, protocol 50, in the
// mapping's zone, source-NATed.
struct EspNat {
  std::string host, peer, nat;
  uint16_t zone = 0;
};
// Fill each ESP entry's "nat" from A's conntrack entries, and "wan" with the
// address most of them have.
void add_nat(Document& d, const std::vector<EspNat>& entries);

// The transferable mappings of a dump (bound and draining ESP SAs, IKE SAs);
// pending ones are counted in pending_not_exported.
Document from_dump(const std::vector<espmux::Mapping>& dump);
std::string render(const Document& doc);
// Validate a document; Error(Config, file, "mappings[i] (...): problem")
// naming the entry when it is wrong. Nothing is sent to the kernel.
Document parse(const std::string& text, const std::string& file);

// What import needs from the module; the real one is netlink, tests fake it.
class Module {
 public:
  virtual ~Module() = default;
  // 0, or -errno with the module's extack message in *msg.
  virtual int add(const Entry& e, std::string* msg) = 0;
  virtual int del(const Entry& e, std::string* msg) = 0;
  // The ESP mapping's conntrack entry (host -> peer, protocol 50, its zone,
  // masqueraded to `nat`): 0 created, -EEXIST there already, or -errno.
  virtual int ct_add(const Entry& e, const std::string& nat, std::string* msg) = 0;
  virtual int ct_del(const Entry& e, std::string* msg) = 0;
};

struct ImportResult {
  size_t added = 0;          // new on this router
  size_t already = 0;        // present before this run (ADD was a no-op)
  // One conntrack entry per (host, peer, zone) of the ESP mappings:
  size_t ct_created = 0;     // created by this run
  size_t ct_present = 0;     // there already (synced, or traffic made them)
  size_t ct_none = 0;        // no NAT address in the file: none created
  // On a refusal (the module's, or the kernel's for the conntrack entry):
  // the entry's index, -errno and the message; the mappings and conntrack
  // entries this run added were deleted again, newest first.
  bool refused = false;
  bool refused_ct = false;  // the conntrack entry was refused, not the mapping
  size_t refused_index = 0;
  int error = 0;
  std::string message;
  size_t rolled_back = 0;
  std::vector<std::string> not_rolled_back;  // DEL failed: these remain
};

// ADD each mapping in document order, and after an ESP one its conntrack
// entry (when a NAT address is known); on the first refusal DEL, in reverse
// order, what this run added (not the mappings in `present`, the module's
// mappings before the run, which an ADD left as they were, nor conntrack
// entries that were there already).
ImportResult import_all(const Document& doc, const std::vector<Entry>& present, Module& mod);

// The module's transferable mappings now, as entries (for `present`).
std::vector<Entry> present_entries();

// The commands.
void run_export(const Options& opt, const std::string& out_file, std::ostream& out, std::ostream& err);
void run_import(const Options& opt, const std::string& file, std::ostream& out);

}  // namespace vpnpt::muxxfer
