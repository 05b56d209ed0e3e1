// esp_mux.cpp: talk to the vpnpt_esp module over generic netlink (libnl-genl-3)
// and load it (kernel.h: libkmod).  The wire format is kmod/uapi/vpnpt_esp.h.
#include "esp_mux.h"

#include <arpa/inet.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "error.h"
#include "kernel.h"
#include "vpnpt_esp.h"

namespace vpnpt::espmux {
namespace {

const char kSubject[] = "esp mux";

[[noreturn]] void fail(const std::string& problem, const std::string& hint = {}) {
  throw Error(ErrorKind::Kernel, kSubject, problem, hint);
}

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using Msg = std::unique_ptr<nl_msg, MsgDeleter>;

// A connected generic netlink socket and the family id, or -1 if absent.
struct Conn {
  Sock sock;
  int family = -1;
};

// Resolving a genl family the kernel does not know asks it to load the
// module that provides it (MODULE_ALIAS_GENL_FAMILY): status and apply in
// "single" mode must not do that, so an absent module is seen in sysfs first.
bool module_loaded() {
  std::error_code ec;
  return std::filesystem::exists("/sys/module/vpnpt_esp", ec);
}

Conn connect_family() {
  Conn c;
  if (!module_loaded()) return c;
  c.sock.reset(nl_socket_alloc());
  if (!c.sock) fail("cannot allocate a netlink socket");
  if (int err = genl_connect(c.sock.get()); err < 0)
    fail(std::string("generic netlink: ") + nl_geterror(err));
  c.family = genl_ctrl_resolve(c.sock.get(), VPNPT_ESP_GENL_NAME);
  return c;
}

Conn need_family() {
  Conn c = connect_family();
  if (c.family < 0)
    fail("the vpnpt_esp module is not loaded (generic netlink family \"" VPNPT_ESP_GENL_NAME
         "\" not found)",
         "run `modprobe vpnpt_esp` (package vpnpt-dkms), or set esp = \"single\"");
  return c;
}

Msg new_msg(const Conn& c, uint8_t cmd, int flags = 0) {
  Msg m(nlmsg_alloc());
  if (!m) fail("cannot allocate a netlink message");
  if (!genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, c.family, 0, flags, cmd,
                   VPNPT_ESP_GENL_VERSION))
    fail("cannot build a netlink message");
  return m;
}

const char* cmd_name(uint8_t cmd) {
  switch (cmd) {
    case VPNPT_ESP_CMD_GET_MAPPINGS: return "dump mappings";
    case VPNPT_ESP_CMD_GET_COUNTERS: return "read counters";
    case VPNPT_ESP_CMD_GET_PARAMS: return "read parameters";
    case VPNPT_ESP_CMD_SET_PARAMS: return "set parameters";
    case VPNPT_ESP_CMD_FLUSH: return "flush";
  }
  return "request";
}

// Sends @m and calls @parse for every reply message (dump or single).
// With @interrupted, a dump the module marked NLM_F_DUMP_INTR (the tables
// changed while it was read) sets it instead of failing.
template <typename F>
void transact(const Conn& c, Msg m, uint8_t cmd, F&& parse, bool* interrupted = nullptr) {
  nl_sock* s = c.sock.get();
  auto trampoline = [](nl_msg* msg, void* arg) -> int {
    (*static_cast<F*>(arg))(msg);
    return NL_OK;
  };
  if (nl_socket_modify_cb(s, NL_CB_VALID, NL_CB_CUSTOM, +trampoline, &parse) < 0)
    fail("cannot set a netlink callback");
  // A dump ends with NLMSG_DONE; a request with its ACK (after the reply,
  // which nl_wait_for_ack hands to the NL_CB_VALID callback).
  const bool dump = cmd == VPNPT_ESP_CMD_GET_MAPPINGS;
  if (dump) nl_socket_disable_auto_ack(s);
  int err = nl_send_auto(s, m.get());
  if (err >= 0) err = dump ? nl_recvmsgs_default(s) : nl_wait_for_ack(s);
  if (err == -NLE_DUMP_INTR && interrupted) {
    *interrupted = true;  // libnl read the dump to its end
    return;
  }
  if (err < 0) {
    std::string hint;
    if (err == -NLE_PERM)
      hint = "changing the module or reading its mappings needs CAP_NET_ADMIN in the initial user namespace (run as root)";
    fail(std::string(cmd_name(cmd)) + ": " + nl_geterror(err), hint);
  }
}

std::string ip4(uint32_t be) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{};
  a.s_addr = be;
  return inet_ntop(AF_INET, &a, buf, sizeof(buf)) ? buf : "?";
}

const char* state_name(uint8_t s) {
  switch (s) {
    case VPNPT_ESP_STATE_PENDING: return "pending";
    case VPNPT_ESP_STATE_BOUND: return "bound";
    case VPNPT_ESP_STATE_DRAINING: return "draining";
  }
  return "unknown";
}

const char* reason_name(uint8_t r) {
  switch (r) {
    case VPNPT_ESP_REASON_NONE: return "";
    case VPNPT_ESP_REASON_IKE: return "ike";
    case VPNPT_ESP_REASON_ESP_FIRST: return "esp-first";
    case VPNPT_ESP_REASON_IKE_OUT: return "ike-out";
    case VPNPT_ESP_REASON_IKE_ONLY_HOST: return "ike-only-host";
  }
  return "unknown";
}

nlattr** parse_attrs(nl_msg* msg, nlattr** tb) {
  if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, VPNPT_ESP_A_MAX, nullptr) < 0)
    fail("malformed reply from the vpnpt_esp module");
  return tb;
}

uint32_t u32(nlattr** tb, int a) { return tb[a] ? nla_get_u32(tb[a]) : 0; }
uint64_t u64(nlattr** tb, int a) { return tb[a] ? nla_get_u64(tb[a]) : 0; }
uint8_t u8(nlattr** tb, int a) { return tb[a] ? nla_get_u8(tb[a]) : 0; }
uint16_t u16(nlattr** tb, int a) { return tb[a] ? nla_get_u16(tb[a]) : 0; }

}  // namespace

bool family_present() { return connect_family().family >= 0; }

void load_module() {
  if (family_present()) return;
  vpnpt::load_module("vpnpt_esp",
                     "install the vpnpt-dkms package (or `make -C kmod && insmod kmod/vpnpt_esp.ko`), "
                     "or set esp = \"single\"");
  if (!family_present())
    fail("module vpnpt_esp loaded but its netlink family is missing", "check `dmesg` for vpnpt_esp errors");
}

void set_params(const Params& p) {
  Conn c = need_family();
  Msg m = new_msg(c, VPNPT_ESP_CMD_SET_PARAMS, NLM_F_ACK);
  nl_msg* raw = m.get();
  bool bad = false;
#define VPNPT_MUX_PUT(attr, name, def, lo, hi) bad = bad || nla_put_u32(raw, VPNPT_ESP_A_##attr, p.name) < 0;
  VPNPT_ESP_TUNABLES(VPNPT_MUX_PUT)
#undef VPNPT_MUX_PUT
  if (bad || nla_put_u8(raw, VPNPT_ESP_A_KEEP_IKE_PORT, p.keep_ike_port ? 1 : 0) < 0 ||
      (!p.wan_ifname.empty() && nla_put_string(raw, VPNPT_ESP_A_WAN_IFNAME, p.wan_ifname.c_str()) < 0) ||
      nla_put_u8(raw, VPNPT_ESP_A_ENABLED, p.enabled ? 1 : 0) < 0)
    fail("cannot build the parameters message");
  transact(c, std::move(m), VPNPT_ESP_CMD_SET_PARAMS, [](nl_msg*) {});
}

Params get_params() {
  Conn c = need_family();
  Params p;
  bool got = false;
  transact(c, new_msg(c, VPNPT_ESP_CMD_GET_PARAMS, NLM_F_ACK), VPNPT_ESP_CMD_GET_PARAMS,
           [&](nl_msg* msg) {
             nlattr* tb[VPNPT_ESP_A_MAX + 1];
             parse_attrs(msg, tb);
#define VPNPT_MUX_GET(attr, name, def, lo, hi) p.name = u32(tb, VPNPT_ESP_A_##attr);
             VPNPT_ESP_TUNABLES(VPNPT_MUX_GET)
#undef VPNPT_MUX_GET
             p.keep_ike_port = u8(tb, VPNPT_ESP_A_KEEP_IKE_PORT) != 0;
             p.enabled = u8(tb, VPNPT_ESP_A_ENABLED) != 0;
             p.wan_ifindex = u32(tb, VPNPT_ESP_A_WAN_IFINDEX);
             if (tb[VPNPT_ESP_A_WAN_IFNAME]) p.wan_ifname = nla_get_string(tb[VPNPT_ESP_A_WAN_IFNAME]);
             got = true;
           });
  if (!got) fail("read parameters: no reply from the vpnpt_esp module");
  return p;
}

bool for_each_mapping(const std::function<void(const Mapping&)>& each) {
  Conn c = need_family();
  bool interrupted = false;
  Mapping m;  // one, reused: its strings keep their buffers
  transact(c, new_msg(c, VPNPT_ESP_CMD_GET_MAPPINGS, NLM_F_DUMP), VPNPT_ESP_CMD_GET_MAPPINGS,
           [&](nl_msg* msg) {
             nlattr* tb[VPNPT_ESP_A_MAX + 1];
             parse_attrs(msg, tb);
             m.kind = u8(tb, VPNPT_ESP_A_KIND) == VPNPT_ESP_KIND_IKE ? "ike" : "esp";
             m.host = ip4(u32(tb, VPNPT_ESP_A_HOST));
             m.peer = ip4(u32(tb, VPNPT_ESP_A_PEER));
             m.spi_out = u32(tb, VPNPT_ESP_A_SPI_OUT);
             m.spi_in = u32(tb, VPNPT_ESP_A_SPI_IN);
             m.state = state_name(u8(tb, VPNPT_ESP_A_STATE));
             m.reason = reason_name(u8(tb, VPNPT_ESP_A_REASON));
             m.zone = u16(tb, VPNPT_ESP_A_ZONE);
             m.age_ms = u64(tb, VPNPT_ESP_A_AGE_MS);
             m.idle_ms = u64(tb, VPNPT_ESP_A_IDLE_MS);
             m.packets_out = u64(tb, VPNPT_ESP_A_PKTS_OUT);
             m.packets_in = u64(tb, VPNPT_ESP_A_PKTS_IN);
             m.bytes_out = u64(tb, VPNPT_ESP_A_BYTES_OUT);
             m.bytes_in = u64(tb, VPNPT_ESP_A_BYTES_IN);
             m.ike_ispi = u64(tb, VPNPT_ESP_A_IKE_ISPI);
             m.ike_rspi = u64(tb, VPNPT_ESP_A_IKE_RSPI);
             m.ike_version = u8(tb, VPNPT_ESP_A_IKE_VERSION);
             each(m);
           }, &interrupted);
  return !interrupted;
}

// The module dumps in many messages and marks a dump during which mappings
// came, went or moved (one may be missing or shown twice): read it again,
// three times at most; the last one is kept whatever it says (a table that
// busy is a snapshot of something in motion anyway).
std::vector<Mapping> dump_mappings() {
  std::vector<Mapping> out;
  bool whole = false;
  for (int attempt = 0; !whole && attempt < 3; attempt++) {
    out.clear();
    whole = for_each_mapping([&](const Mapping& m) { out.push_back(m); });
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> counters() {
  static const char* const kNames[] = {
#define VPNPT_NAME(e, s) s,
      VPNPT_ESP_COUNTERS(VPNPT_NAME)
#undef VPNPT_NAME
  };
  Conn c = need_family();
  std::vector<std::pair<std::string, uint64_t>> out;
  transact(c, new_msg(c, VPNPT_ESP_CMD_GET_COUNTERS, NLM_F_ACK), VPNPT_ESP_CMD_GET_COUNTERS,
           [&](nl_msg* msg) {
             nlattr* tb[VPNPT_ESP_A_MAX + 1];
             parse_attrs(msg, tb);
             if (!tb[VPNPT_ESP_A_COUNTERS]) return;
             nlattr* a;
             int rem;
             nla_for_each_nested(a, tb[VPNPT_ESP_A_COUNTERS], rem) {
               int id = nla_type(a) - 1;
               // a newer module may count more than this controller names
               std::string name = id >= 0 && id < VPNPT_ESP_C_NUM ? kNames[id]
                                                                   : "counter_" + std::to_string(id);
               out.emplace_back(std::move(name), nla_get_u64(a));
             }
           });
  return out;
}

void flush() {
  Conn c = need_family();
  transact(c, new_msg(c, VPNPT_ESP_CMD_FLUSH, NLM_F_ACK), VPNPT_ESP_CMD_FLUSH, [](nl_msg*) {});
}

}  // namespace vpnpt::espmux
