// conntrack.h: live conntrack entries and expectations, read through libnl.
//
// libnl-nf-3 (3.7) parses the tuples, status, timeout, zone and counters of
// an entry but not its helper name (CTA_HELP), its master (CTA_TUPLE_MASTER,
// which ties a PPTP GRE call to its control connection) nor its start time
// (CTA_TIMESTAMP).
// So the dump is run here and each message is given to libnl's parser and,
// for those three attributes, to libnl's attribute functions: no second
// netlink library is needed.
#pragma once

#include <cstdint>
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

// IPv4 entries of this network namespace. Error(Kernel) if conntrack cannot be read.
std::vector<CtEntry> dump_conntrack();
std::vector<CtExpectation> dump_expectations();

}  // namespace vpnpt
