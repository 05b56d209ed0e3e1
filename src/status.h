// status.h: "vpnpt status": the live state, printed as JSON (--json, schema
// in vpnpt(8)) or as text for people. The VPN sessions are typed structs
// (Session, PptpCall), gathered while conntrack is streamed and rendered at
// the edge: one JSON writer, one text printer.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply.h"
#include "conntrack.h"
#include "esp_mux.h"
#include "kernel.h"
#include "pair.h"

namespace vpnpt {

struct StatusView {
  bool json = false;  // --json
  bool all = false;   // --all: every session, even thousands
};

void run_status(const Options& opt, const StatusView& view, std::ostream& out);

enum class SessionKind { Pptp, Gre, Esp, L2tp, NatT, Ike, Forward };
const char* kind_name(SessionKind k);

struct Endpoint {
  uint32_t addr = 0;  // IPv4, host byte order
  uint16_t port = 0;  // 0: the protocol has none
};

// A GRE call of a PPTP control connection, from the LAN host's side.
struct PptpCall {
  uint32_t local = 0, remote = 0;
  uint16_t call_id = 0, peer_call_id = 0, nat_call_id = 0;
  std::optional<uint64_t> age;  // seconds; none without conntrack timestamps
  uint32_t timeout = 0;
  uint64_t packets = 0;
};

// A pending expectation (a call the PPTP helper waits for).
struct PptpExpectation {
  std::string helper;
  uint8_t protocol = 0;
  uint32_t from = 0, to = 0;
  uint16_t key = 0;
  uint32_t timeout = 0;
};

struct Session {
  SessionKind kind = SessionKind::Forward;
  uint8_t protocol = 0;
  bool inbound = false;  // to a forwarded LAN server (DNAT), else out through the masquerade
  Endpoint local, remote, nat;  // LAN host's side, the peer, the router's public side
  std::optional<uint64_t> age;
  uint32_t timeout = 0;
  bool assured = false;
  std::string helper;
  uint16_t zone = 0;
  uint64_t packets = 0, bytes = 0;
  std::vector<PptpCall> calls;                 // pptp only
  std::vector<PptpExpectation> expectations;   // pptp only
};

struct HostSessions {
  uint32_t host = 0;
  std::vector<Session> sessions;
};

struct Sessions {
  std::vector<HostSessions> hosts;  // in address order
  std::vector<PptpExpectation> orphans;  // expectations of no listed session
  size_t total = 0;
};

// The text view lists each session up to this many; beyond, one line per host.
constexpr size_t kSessionsListed = 200;

// Turns conntrack entries, one at a time, into sessions grouped per LAN host
// (pure: the unit tests feed it entries). now_ns is CLOCK_REALTIME. Keeps
// only what it reports.
class SessionCollector {
 public:
  explicit SessionCollector(uint64_t now_ns) : now_ns_(now_ns) {}
  void add(const CtEntry& e);
  void add(const CtExpectation& x);
  Sessions finish() &&;

 private:
  struct Control {
    CtTuple tuple;
    uint32_t host;
    size_t index;
  };
  struct PendingCall {
    CtTuple master;
    uint32_t host;
    PptpCall call;
    Session alone;  // shown as a session of its own if its control is gone
  };
  uint64_t now_ns_;
  std::map<uint32_t, std::vector<Session>> hosts_;
  std::unordered_multimap<uint64_t, Control> controls_;  // PPTP control connections by tuple
  std::vector<PendingCall> calls_;
  std::vector<CtExpectation> expectations_;
};

Sessions collect_sessions(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                          uint64_t now_ns);
// The "hosts" and "expectations" arrays of the JSON schema, at depth (for
// the indentation); and as nlohmann::json for the unit tests.
void write_hosts_json(const Sessions& s, int depth, std::ostream& out);
void write_expectations_json(const Sessions& s, int depth, std::ostream& out);
struct EspStatus;
// esp.mappings: from EspStatus::stream as the module's dump is read, else
// from EspStatus::mappings; after the array, ,"mappings_error" (the dump
// failed) and ,"mappings_interrupted": true (NLM_F_DUMP_INTR) when so.
void write_mappings_json(const EspStatus& e, int depth, std::ostream& out);
nlohmann::json sessions_json(const std::vector<CtEntry>& entries, const std::vector<CtExpectation>& expectations,
                             uint64_t now_ns);

// What status reports besides the sessions.
enum class Drift { None, ConfigChanged, Modified, Unknown, Absent };
const char* drift_name(Drift d);

struct TableStatus {
  bool present = false;
  Drift drift = Drift::None;
  std::string digest;                       // from the table's comment
  std::optional<std::string> applied_from;  // config of the last apply here
};

struct EspStatus {
  std::optional<std::string> configured;  // the config's esp mode; none without a config
  bool module_loaded = false;
  std::optional<std::string> effective;   // from the last apply; none without one
  std::string note, error;
  std::vector<std::pair<std::string, uint64_t>> counters;
  std::vector<espmux::Mapping> mappings;
  // When set (run_status), the mappings are read from the module while they
  // are written, one message at a time (espmux::for_each_mapping), and never
  // kept: memory does not grow with their number. `mappings` is then empty.
  std::function<bool(const std::function<void(const espmux::Mapping&)>&)> stream;
};

struct CounterValue {
  std::string name;
  uint64_t packets = 0, bytes = 0;
};

struct Status {
  std::string version, config, config_error;
  TableStatus table;
  std::vector<KernelPiece> kernel;
  EspStatus esp;
  std::vector<CounterValue> counters;  // by name
  PairStatus pair;                     // role and conntrackd sync (pair.h)
  Sessions sessions;
};

// One JSON writer (schema in vpnpt(8)) and one text printer.
nlohmann::json head_json(const Status& st);  // all but hosts, expectations and streamed mappings
void write_status_json(const Status& st, std::ostream& out);
void print_status(const Status& st, bool all, std::ostream& out);
void print_sessions(const Sessions& sessions, bool all, std::ostream& out);

}  // namespace vpnpt
