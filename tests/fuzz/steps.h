// steps.h: how tests/fuzz/fuzz_mux.cpp reads its input, shared with the seed
// writer (make_seeds.cpp).  An input is a parameter block and then steps,
// each an op byte and its arguments; a step cut short by the end of the
// input is not run.  All values are taken modulo their range, so every byte
// string is a valid input.
#pragma once

#include <cstdint>

namespace fuzzmux {

// The parameter block: PARAM_BYTES bytes at the start of the input.
enum : unsigned {
  PB_FLAGS,       // bit 0 keep_ike_port, bit 1 wan_ifindex = IF_WAN, bit 2 tight limits
  PB_PER_HOST,    // tight: 1 + b % 8
  PB_PER_PEER,    // tight: 1 + b % 16
  PB_MAPPINGS,    // tight: 1 + b % 32
  PB_ZONES,       // tight: 1 + b % 16
  PB_HOLD,        // b % 8
  PB_PENDING,     // 1 + b % 5 s
  PB_IDLE,        // pending + b % 60 s
  PARAM_BYTES
};

enum Op : uint8_t {
  // honest hosts and peers, followed by a ground-truth model
  OP_NEGOTIATE,   // h r flags(bit0 IKEv1, bit1 started by the peer, bit2 IKE on 4500)
  OP_PROGRESS,    // neg spi_out(2) spi_in(2): send the request again or answer it
  OP_MANUAL_SA,   // h r spi_out(2) spi_in(2): manual keys, the host speaks first
  OP_TRAFFIC,     // sa dir: one ESP packet of an honest SA
  OP_RETIRE,      //         the oldest SA replaced by a rekey stops
  // time and housekeeping, as pernet.c and netlink.c do them
  OP_ADVANCE,     // ms(2) flags(bit0: no gc, bit1: minutes, bit2: a route change)
  OP_GC,          //         gc, drop expired, flush and release dirty zones
  OP_FLUSH,       //         netlink FLUSH
  OP_PARAM,       // which value(2)
  OP_REINJECT,    //         the re-inject work: released packets go through the hook again
  OP_ZONES_TAKE,  //         take dirty zones, release them in a later OP_GC (a slow flush)
  // anyone else: LAN hosts that are not honest, the internet
  OP_RAW,         // side headlen len(2) bytes...: any IPv4 packet
  OP_FORGE_ESP,   // side src dst spi(2)
  OP_FORGE_IKE,   // side src dst hdr ispi msgid port
  OP_FORGE_ICMP,  // side src inner_src inner_dst spi(2)
  // the kernel's GFP_ATOMIC allocations can fail
  OP_ALLOC_FAIL,  // n: the table's allocation after the next n % 8 fails
  // the controller's planned-switchover handover (netlink ADD/DEL_MAPPING)
  OP_ADD_MAPPING, // flags h r zone spi_out(2) spi_in(2); flags bit 0: a dumped one again
  OP_DEL_MAPPING, // i: the i-th dumped mapping
  OP_COUNT
};

constexpr int N_HOSTS = 4;   // honest LAN hosts 192.168.1.10..
constexpr int N_PEERS = 3;   // honest peers 198.51.100.10..
constexpr uint32_t IF_LAN = 2, IF_LAN2 = 4, IF_WAN = 3;

}  // namespace fuzzmux
