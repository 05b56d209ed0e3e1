// conntrack.h: live conntrack entries and expectations, read through libnl.
//
// Entries are streamed: dump_nat_conntrack() parses each netlink message in
// place (libnl-nf-3 would allocate an object per entry, and does not parse
// CTA_HELP, CTA_TUPLE_MASTER nor CTA_TIMESTAMP anyway) and hands it to a
// callback, which keeps what it reports; nothing else is stored, so memory
// does not grow with entries vpnpt does not report. The kernel filters what
// the dump allows: IPv4 only (nfgen_family), and NATed only, as two dumps
// with CTA_STATUS/CTA_STATUS_MASK (Linux 5.19+): DNAT, then SNAT without
// DNAT. An older kernel ignores the status filter; the same test is then
// made here, so the result is the same, only slower. Expectations are few
// and still read through libnl's cache.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vpnpt {

struct CtTuple {
  uint8_t proto = 0;
  uint32_t src = 0, dst = 0;  // IPv4, host byte order (0 for IPv6 entries)
  uint16_t sport = 0, dport = 0;  // ports; GRE keys (PPTP call IDs) for GRE
};

struct CtEntry {
  uint32_t id = 0;
  CtTuple orig, reply;
  uint32_t status = 0;   // IPS_* bits
  uint32_t timeout = 0;  // seconds left
  uint64_t start_ns = 0; // CLOCK_REALTIME; 0 without nf_conntrack_timestamp
  uint16_t zone = 0;
  std::string helper;
  bool has_master = false;
  CtTuple master;
  uint64_t packets = 0, bytes = 0;  // both directions, 0 without accounting

  bool src_nat() const;
  bool dst_nat() const;
};

struct CtExpectation {
  std::string helper;
  CtTuple expect;  // the flow it waits for
  CtTuple master;  // the connection that created it
  uint32_t timeout = 0;
};

// Each IPv4 entry of this network namespace that is source- or
// destination-NATed, once. Error(Kernel) if conntrack cannot be read.
// Returns how many entries the kernel sent (more than `each` saw when the
// kernel ignores the status filter).
size_t dump_nat_conntrack(const std::function<void(const CtEntry&)>& each);
std::vector<CtExpectation> dump_expectations();

// Every IPv4 entry of this network namespace, once (no kernel filter).
size_t dump_conntrack(const std::function<void(const CtEntry&)>& each);

// What a filtered dump asks the kernel for: IPv4 entries whose original
// tuple has protocol `proto` and, where set, these addresses and destination
// port (CTA_FILTER, Linux 5.9+), and whose status has (status & mask) ==
// value (CTA_STATUS_MASK, Linux 5.19+). The kernel walks its table either
// way, but copies only the matches to user space.
struct CtFilter {
  uint8_t proto = 0;
  std::optional<uint32_t> src, dst;
  std::optional<uint16_t> dport;
  uint32_t status = 0, status_mask = 0;
  bool matches(const CtEntry& e) const;
};

// The entries that match `f`, each once. Returns how many the kernel sent;
// *ignored is set when one of them does not match the tuple filter (a kernel
// older than 5.9 ignores CTA_FILTER and sends every entry).
size_t dump_conntrack(const CtFilter& f, const std::function<void(const CtEntry&)>& each, bool* ignored);

// Delete the entry `e` names: its original tuple, zone and id (so that a
// newer entry with the same tuple is left alone; id 0: whichever entry has
// the tuple in the zone). False when it is gone already; Error(Kernel) on
// any other failure.
bool delete_conntrack(const CtEntry& e);

// A conntrack entry to create (IPCTNL_MSG_CT_NEW, NLM_F_CREATE|NLM_F_EXCL):
// the original tuple in `zone`, source-NATed to `nat_src` when it is not 0
// (the reply tuple the kernel keeps is then `orig.dst -> nat_src`), with
// `timeout` seconds to live. What `vpnpt mux import` gives the standby for
// each handed-over ESP SA: the masquerade A made for the host in that zone.
struct CtNew {
  CtTuple orig;     // no ports for ESP (protocol 50 is generic to conntrack)
  uint16_t zone = 0;
  uint32_t nat_src = 0;  // host byte order; 0: no NAT
  uint32_t timeout = 600;
};

// The request create_conntrack() sends, with sequence `seq` (pure: tested).
std::vector<uint8_t> ct_new_request(const CtNew& c, uint32_t seq);

// Create the entry. 0, -EEXIST when an entry with that original tuple is
// in the zone already (conntrackd synced it, or traffic made it), or
// another -errno from the kernel; Error(Kernel) when netlink cannot be used.
int create_conntrack(const CtNew& c);

}  // namespace vpnpt
