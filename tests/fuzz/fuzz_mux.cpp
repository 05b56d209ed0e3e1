// fuzz_mux.cpp: libFuzzer target over vpnpt_esp's pure logic, driven the way
// the module's hook drives it.
//
//   honest hosts 192.168.1.10-13 --[if 2, 4]--+              +-- honest peers 198.51.100.10-12
//   other LAN hosts 192.168.1.66-69 ----------+-- router ---[if 3, 203.0.113.1]-- the internet
//                                          192.168.1.1
//
// The input (steps.h) is a sequence of steps: honest hosts and peers
// negotiating, rekeying and sending ESP (a ground-truth model knows which
// host owns every SA, as tests/kmod/model_test.cpp), anyone else sending
// raw or forged IPv4 from either side, time passing, gc, flush, parameter
// changes and re-injection of held packets.  Every packet is bytes: it goes
// through mux_parse() and mux_classify() as in kmod/hooks.c, held packets
// come back through mux_take_released() as in pernet.c.  After every step:
//   - no cross-delivery: an honest peer's ESP (and IKE, with keep_ike_port)
//     for host H's SA never lands in a zone whose conntrack is another
//     host's; no zone serves two (host, peer) pairs;
//   - limits: n_sa + n_ike <= max_mappings, ESP per host <= max_per_host,
//     ESP + IKE per peer <= max_per_peer, held per peer <= hold_max (a
//     count above a limit lowered by a parameter change may only shrink);
//     the table's own counts agree with its dump and with the packets the
//     harness sees held; no (peer, SPI) or (peer, IKE SPI) is mapped twice;
//   - ADD_MAPPING (the controller's handover) refuses with one of its errnos
//     or creates a mapping that a second ADD finds (success); a dumped
//     mapping added again is success; DEL of a dumped mapping succeeds.  An
//     honest SA or IKE SA whose values the controller names is tainted: the
//     controller is trusted, what it says is delivered;
//   - no leak: every held packet comes back (released, expired or at the
//     end), then the table is destroyed and LeakSanitizer checks.
// A failure prints what broke and aborts: libFuzzer keeps the input.
// FUZZ_MUX_TRACE=1 prints every step (to read a reproducer).
//
// What an attacker could not know is not held against the table.  The
// internet sees the WAN: a WAN attacker may replay any SPI or IKE SPI once
// the honest side sent it, but one it used before (guessing 32 or 64 random
// bits) "taints" that honest SA, which is then not checked.  Another LAN
// host does not see its neighbours' traffic (a switched LAN; one that can
// could as well ARP-spoof the router): an honest SA or IKE SA whose values
// a LAN attacker used at any time is tainted.  LAN packets with an honest
// host's source address are not sent: nothing on a LAN tells a host from
// one spoofing it.
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "packet.h"
#include "steps.h"

using namespace kmodtest;
using namespace fuzzmux;

namespace {

bool g_trace = false;
int g_alloc_fail = -1;  // the table's allocations to let through before one fails

#define TRACE(...) \
  do { if (g_trace) fprintf(stderr, __VA_ARGS__); } while (0)

[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_mux: INVARIANT BROKEN: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(run the input again with FUZZ_MUX_TRACE=1 for every step)\n");
  va_end(ap);
  abort();
}

std::string a2s(uint32_t a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, b, sizeof(b));
  return b;
}

const uint32_t WAN_ADDR = ip("203.0.113.1"), LAN_ADDR = ip("192.168.1.1");
const uint32_t LOCAL_SPI = 0xfeedf00d;  // the router's own SA with anyone
int g_aux;                               // stands for hooks.c's okfn

uint32_t host_addr(int h) { return ip("192.168.1.10") + (uint32_t(h) << 24); }
uint32_t peer_addr(int r) { return ip("198.51.100.10") + (uint32_t(r) << 24); }
uint32_t pool_addr(uint8_t b) {  // addresses anyone else uses
  switch (b % 12) {
    case 0: case 1: case 2: case 3: return ip("192.168.1.66") + (uint32_t(b % 12) << 24);
    case 4: case 5: case 6: return peer_addr(b % 12 - 4);
    case 7: return ip("192.0.2.7");
    case 8: return WAN_ADDR;
    case 9: return LAN_ADDR;
    case 10: return host_addr(0);
    default: return host_addr(1);
  }
}
uint64_t honest_ispi(int h, int r) { return 0x1000000000ULL * uint64_t(h + 1) + uint64_t(r + 1); }
uint32_t honest_spi(uint16_t v) { return 0x100 + v % 4096; }

enum TagKind { T_OTHER, T_IKE_INIT, T_NEG_REQ, T_NEG_RESP, T_MANUAL_FIRST, T_DATA_OUT, T_DATA_IN };

// One packet in flight: what hooks.c calls an skb.  The table owns it
// while held (the cookie); otherwise it is freed after its verdict.
struct Packet {
  Bytes b;
  uint32_t iif;
  uint32_t headlen;
  TagKind tag;
  size_t idx;      // negotiation or SA index for honest packets
  uint32_t peer;   // set when held: the peer whose queue holds it
};

struct Sa {
  int h, r;
  uint32_t s_out, s_in;
  bool alive = true, started = false;
  bool in_seen = false, out_seen = false;  // the honest side sent it: on the wire
  bool in_parsed = false;                  // the module has read one of its inbound packets
  bool tainted = false;                    // an attacker guessed an SPI first
  uint64_t last_used = 0;
};

struct Neg {
  int h, r;
  bool by_peer, ikev1, natt;
  uint32_t msgid;
  int state = 0;  // 0 request to send, 1 held, 2 sent, 3 done, 4 response held
  bool blind = false;  // in flight at a FLUSH: the module forgot it
};

struct Verdict {
  enum mux_parse_res pr;
  struct mux_pkt p;
  enum mux_verdict v;
  uint16_t zone;
};

// The input, read front to back.
struct Reader {
  const uint8_t* d;
  size_t n, i = 0;
  bool has(size_t k) const { return n - i >= k; }
  uint8_t u8() { return d[i++]; }
  uint16_t u16() { uint16_t v = uint16_t(d[i] << 8 | d[i + 1]); i += 2; return v; }
};

class World {
 public:
  explicit World(const uint8_t* params);
  ~World();
  bool step(Reader& in);  // false: the input ended

 private:
  // --- the hook: bytes in, verdict out (hooks.c vpnpt_esp_hook)
  Verdict hook(Packet* pk);
  void send(Packet* pk);
  void send(Bytes b, uint32_t iif, TagKind tag, size_t idx);
  void result(Packet* pk, const Verdict& r);
  void expired(Packet* pk);
  void drain(bool released);
  void housekeep();

  // --- the honest world
  void negotiate(int h, int r, uint8_t flags);
  void progress(size_t idx, uint16_t so, uint16_t si);
  void manual_sa(int h, int r, uint16_t so, uint16_t si);
  void traffic(size_t idx, bool out);
  void retire();
  void send_request(size_t idx);
  void send_response(size_t idx);
  void data_out(size_t idx, TagKind tag);
  void data_in(size_t idx);
  Bytes ike_pkt(const Neg& n, bool from_peer, bool response);
  uint32_t host_iif(int h) const { return h % 2 ? IF_LAN2 : IF_LAN; }
  bool spi_taken(int h, int r, uint32_t so, uint32_t si);

  // --- everyone else
  void other(Bytes b, uint32_t iif);
  void note_other(const struct mux_pkt& p, bool from_wan);

  // --- the controller
  void add_mapping(uint8_t f, uint8_t hb, uint8_t rb, uint8_t zb, uint16_t so, uint16_t si);
  void del_mapping(uint8_t i);
  std::vector<struct mux_view> dump();

  // --- what must hold
  void note_out(uint32_t host, uint32_t peer, uint16_t zone);
  void check_in(const char* what, int h, int r, uint16_t zone);
  void check();

  uint64_t now_ = 1'000'000;
  struct mux m_;
  Router rt_;
  std::set<Packet*> held_;
  std::vector<Sa> sas_;
  std::vector<size_t> old_;
  std::vector<Neg> negs_;
  std::set<std::pair<int, int>> ike_up_;
  std::map<std::pair<int, int>, uint64_t> ike_seen_;  // an IKE SA's last message
  // A host keys its SAs with a peer by IKE or by hand, not both: the module
  // lets a host's new outbound SPI join its SA whose inbound SPI R sent first
  // (an IKE child SA), which a manual SA of the same pair would take for its own
  std::map<std::pair<int, int>, char> keying_;
  std::map<uint16_t, std::pair<uint32_t, uint32_t>> zone_owner_;  // conntrack: zone -> (host, peer)
  // honest SPIs ever used: (peer, spi_in) -> (host, spi_out), and back
  std::map<std::pair<int, uint32_t>, std::pair<int, uint32_t>> used_in_, used_out_;
  std::set<std::pair<uint32_t, uint32_t>> atk_in_, atk_out_;
  std::set<std::pair<uint32_t, uint64_t>> atk_ispi_;
  std::set<std::pair<int, int>> ike_tainted_;
  std::vector<uint16_t> taken_zones_;  // dirty zones taken, conntrack not flushed yet
  std::map<uint32_t, uint32_t> prev_host_, prev_peer_, prev_held_;
  uint32_t prev_total_ = 0;
};

World::World(const uint8_t* params) {
  struct mux_params p;
  mux_params_default(&p);
  uint8_t f = params[PB_FLAGS];
  p.keep_ike_port = f & 1;
  // the controller always names the WAN interface; 0 is that interface
  // being absent for now (a PPP link down): no peer traffic is classified
  p.wan_ifindex = (f & 2) ? 0 : IF_WAN;
  if (f & 4) {
    p.max_per_host = 1 + params[PB_PER_HOST] % 8;
    p.max_per_peer = 1 + params[PB_PER_PEER] % 16;
    p.max_mappings = 1 + params[PB_MAPPINGS] % 32;
    p.zone_count = uint16_t(1 + params[PB_ZONES] % 16);
  }
  p.hold_max = params[PB_HOLD] % 8;
  p.pending_timeout = 1 + params[PB_PENDING] % 5;
  p.idle_timeout = p.pending_timeout + params[PB_IDLE] % 60;
  p.drain_timeout = 1 + params[PB_IDLE] % 7;
  p.enabled = true;
  if (mux_init(&m_, &p, 0x5eed1234) != 0) fail("mux_init refused its parameters");
  m_.ops.local_spi = [](void*, __be32 daddr, u32 spi) { return daddr == WAN_ADDR && spi == LOCAL_SPI; };
  m_.ops.is_local = [](void* rt, __be32 a) { return static_cast<Router*>(rt)->is_local_cb(a); };
  // the router's addresses never change here, but other routes do (OP_ADVANCE
  // moves rt_.gen, which rt_.parse puts in each packet)
  m_.ops.ctx = &rt_;
  rt_.local = {WAN_ADDR, LAN_ADDR};
  TRACE("params keep_ike_port=%d wan=%u per_host=%u per_peer=%u mappings=%u zones=%u hold=%u "
        "pending=%u idle=%u drain=%u\n", p.keep_ike_port, p.wan_ifindex, p.max_per_host,
        p.max_per_peer, p.max_mappings, p.zone_count, p.hold_max, p.pending_timeout,
        p.idle_timeout, p.drain_timeout);
}

World::~World() {
  // pernet.c's exit: flush, drop whatever is held, release zones, destroy
  mux_flush(&m_, now_);
  std::vector<Packet*> back;
  for (bool rel : {true, false}) {
    struct list_head l;
    INIT_LIST_HEAD(&l);
    if (rel) mux_take_released(&m_, &l);
    else mux_take_expired(&m_, &l);
    struct mux_held *h, *t;
    list_for_each_entry_safe(h, t, &l, node) {
      list_del(&h->node);
      auto* pk = static_cast<Packet*>(h->cookie);
      mux_held_free(h);
      held_.erase(pk);
      delete pk;
    }
  }
  if (!held_.empty()) fail("%zu held packets never came back after FLUSH", held_.size());
  mux_destroy(&m_);
}

// ------------------------------------------------------------------ the hook

Verdict World::hook(Packet* pk) {
  Verdict r{};
  r.v = MUX_PASS;
  r.pr = rt_.parse(&m_, pk->b, pk->iif, &r.p, pk->headlen, uint32_t(pk->b.size() + 256));
  if (r.pr != MUX_PARSE_OURS) return r;
  if (r.p.type == MUX_PKT_ESP && r.p.spi <= 255) fail("parser let reserved SPI %u through", r.p.spi);
  r.v = mux_classify(&m_, &r.p, now_, pk, &g_aux, &r.zone);
  if (r.v == MUX_NOT_OURS) {  // ESP's direction rule, applied in classify
    if (!r.p.local_later) fail("MUX_NOT_OURS for a packet parse checked");
    r.pr = MUX_PARSE_DIRECTION;
    r.v = MUX_PASS;
    return r;
  }
  if (r.v == MUX_ZONE) {
    struct mux_params p;
    mux_params_get(&m_, &p);
    if (r.zone < p.zone_base || r.zone - p.zone_base >= p.zone_count)
      fail("zone %u outside %u+%u", r.zone, p.zone_base, p.zone_count);
  }
  return r;
}

void World::send(Packet* pk) {
  Verdict r = hook(pk);
  TRACE("  -> parse %d type %d dir %d src %s dst %s spi 0x%x verdict %d zone %u\n", r.pr, r.p.type,
        r.p.dir, a2s(r.p.src).c_str(), a2s(r.p.dst).c_str(), r.p.spi, r.v, r.zone);
  if (r.v == MUX_HOLD) {
    pk->peer = r.p.dir == MUX_DIR_OUT ? r.p.dst : r.p.src;
    held_.insert(pk);
  }
  result(pk, r);
  if (r.v != MUX_HOLD) delete pk;
}

void World::send(Bytes b, uint32_t iif, TagKind tag, size_t idx) {
  send(new Packet{std::move(b), iif, UINT32_MAX, tag, idx, 0});
}

// What a verdict means for the model and for conntrack.
void World::result(Packet* pk, const Verdict& r) {
  const struct mux_pkt& p = r.p;
  bool ours = r.pr == MUX_PARSE_OURS;
  struct mux_params now;
  mux_params_get(&m_, &now);
  // with the WAN interface absent a peer's packets are nobody's (they pass)
  bool wan_down = !now.wan_ifindex && pk->iif == IF_WAN && r.pr == MUX_PARSE_DIRECTION;
  if (pk->tag != T_OTHER && !ours && !wan_down)
    fail("the parser refused an honest packet (tag %d): result %d", pk->tag, r.pr);
  // What passes while the module is blind to the WAN (no interface of that
  // name now) is like what passed before it was loaded (kmod/DESIGN.md,
  // Limits): an SA or IKE SA whose first inbound packets it never read is
  // not checked.
  if (wan_down) {
    if (pk->tag == T_DATA_IN && !sas_[pk->idx].in_parsed) sas_[pk->idx].tainted = true;
    if (pk->tag == T_NEG_RESP || pk->tag == T_NEG_REQ)
      ike_tainted_.insert({negs_[pk->idx].h, negs_[pk->idx].r});
  }
  if (ours && pk->tag == T_DATA_IN) sas_[pk->idx].in_parsed = true;
  if (ours && r.v == MUX_ZONE && p.dir == MUX_DIR_OUT && p.type != MUX_PKT_ICMP_ESP)
    note_out(p.src, p.dst, r.zone);  // conntrack: this zone's replies go to p.src
  switch (pk->tag) {
    case T_OTHER:
      if (ours) note_other(p, pk->iif == IF_WAN);
      if (ours && r.v == MUX_ZONE && p.type == MUX_PKT_ICMP_ESP && p.dir == MUX_DIR_IN) {
        // an error about (WAN -> inner_dst, spi): the host that sends on it
        for (auto& sa : sas_)
          if (sa.alive && !sa.tainted && sa.out_seen && peer_addr(sa.r) == p.inner_dst &&
              sa.s_out == p.spi)
            check_in("ICMP error quoting its ESP", sa.h, sa.r, r.zone);
      }
      break;
    case T_IKE_INIT:
      break;
    case T_NEG_REQ: {
      Neg& n = negs_[pk->idx];
      if (n.by_peer && r.v == MUX_ZONE && !ike_tainted_.count({n.h, n.r}))
        check_in("IKE request of its IKE SA", n.h, n.r, r.zone);
      if (n.state != 0 && n.state != 1) break;  // a late copy: the model moved on
      if (r.v == MUX_HOLD) n.state = 1;
      else if (r.v == MUX_DROP) n.state = 0;  // lost: retransmitted later
      else n.state = 2;
      break;
    }
    case T_NEG_RESP: {
      Neg& n = negs_[pk->idx];
      if (!n.by_peer && r.v == MUX_ZONE && !ike_tainted_.count({n.h, n.r}))
        check_in("IKE response of its IKE SA", n.h, n.r, r.zone);
      if (n.state != 2 && n.state != 4) break;
      if (r.v == MUX_HOLD) { n.state = 4; break; }
      if (r.v == MUX_DROP) { n.state = 2; break; }
      n.state = 3;  // both ends install the SA: its SPIs came with the progress step
      break;
    }
    case T_MANUAL_FIRST: {
      Sa& sa = sas_[pk->idx];
      // a packet released after its SA went idle at both ends: nobody answers
      if (r.v != MUX_ZONE || sa.started || !sa.alive) break;
      sa.started = true;
      data_in(pk->idx);  // the peer answers at once
      break;
    }
    case T_DATA_OUT:
      break;
    case T_DATA_IN: {
      Sa& sa = sas_[pk->idx];
      if (r.v == MUX_ZONE && !sa.tainted) check_in("ESP", sa.h, sa.r, r.zone);
      break;
    }
  }
}

void World::expired(Packet* pk) {
  if (pk->tag == T_NEG_REQ && negs_[pk->idx].state == 1) negs_[pk->idx].state = 0;
  if (pk->tag == T_NEG_RESP && negs_[pk->idx].state == 4) negs_[pk->idx].state = 2;
  delete pk;
}

// pernet.c: the re-inject work (released) and the gc work (expired).
void World::drain(bool released) {
  struct list_head l;
  INIT_LIST_HEAD(&l);
  if (released) mux_take_released(&m_, &l);
  else mux_take_expired(&m_, &l);
  std::vector<Packet*> pks;
  struct mux_held *h, *t;
  list_for_each_entry_safe(h, t, &l, node) {
    list_del(&h->node);
    auto* pk = static_cast<Packet*>(h->cookie);
    if (h->aux != &g_aux) fail("held packet came back without its okfn");
    if (!held_.erase(pk)) fail("held packet %p came back twice or was never held", (void*)pk);
    mux_held_free(h);
    pks.push_back(pk);
  }
  for (Packet* pk : pks) {
    TRACE("  %s packet tag %d\n", released ? "re-inject" : "expired", pk->tag);
    if (released) send(pk);
    else expired(pk);
  }
}

// pernet.c: after gc and flush, expired packets dropped and the zones of
// freed pairs flushed of conntrack entries, then free again.
void World::housekeep() {
  drain(false);
  for (uint16_t z : taken_zones_) {
    zone_owner_.erase(z);
    mux_zone_release(&m_, z);
  }
  taken_zones_.clear();
  uint16_t z[32];
  uint32_t n;
  while ((n = mux_zone_take_dirty(&m_, z, 32)) > 0)
    for (uint32_t i = 0; i < n; i++) {
      zone_owner_.erase(z[i]);
      mux_zone_release(&m_, z[i]);
    }
}

// ------------------------------------------------------------ honest world

Bytes World::ike_pkt(const Neg& n, bool from_peer, bool response) {
  ike_seen_[{n.h, n.r}] = now_;
  uint8_t exch = n.ikev1 ? IKEV1_EXCH_QUICK_MODE : IKEV2_EXCH_CREATE_CHILD;
  struct ike_info i = ike_hdr(n.ikev1 ? 1 : 2, exch, honest_ispi(n.h, n.r), 0x77, n.msgid, response);
  Bytes msg = ike(i);
  uint16_t port = n.natt ? 4500 : 500;
  if (n.natt) msg = natt(msg);
  if (from_peer) return ipv4(peer_addr(n.r), WAN_ADDR, PROTO_UDP, udp(port, port, msg));
  return ipv4(host_addr(n.h), peer_addr(n.r), PROTO_UDP, udp(port, port, msg));
}

void World::negotiate(int h, int r, uint8_t flags) {
  if (keying_.emplace(std::make_pair(h, r), 'i').first->second != 'i') return;
  Neg n;
  n.h = h;
  n.r = r;
  n.ikev1 = flags & 1;
  n.natt = flags & 4;
  for (auto& o : negs_)
    if (o.h == h && o.r == r && o.state != 3) return;  // one at a time per pair
  if (!ike_up_.count({h, r})) {
    // IKE_SA_INIT from the host creates the IKE SA the table follows
    if (atk_ispi_.count({peer_addr(r), honest_ispi(h, r)})) ike_tainted_.insert({h, r});
    struct ike_info i = ike_hdr(n.ikev1 ? 1 : 2, n.ikev1 ? 2 : IKEV2_EXCH_SA_INIT,
                                honest_ispi(h, r), 0, 0, false);
    Bytes msg = ike(i);
    uint16_t port = n.natt ? 4500 : 500;
    if (n.natt) msg = natt(msg);
    TRACE("  IKE SA init h%d r%d\n", h, r);
    send(ipv4(host_addr(h), peer_addr(r), PROTO_UDP, udp(port, port, msg)), host_iif(h), T_IKE_INIT, 0);
    ike_up_.insert({h, r});
    ike_seen_[{h, r}] = now_;
    n.by_peer = false;
  } else {
    n.by_peer = !n.ikev1 && (flags & 2);
  }
  n.msgid = n.ikev1 ? 0x1000 + uint32_t(negs_.size()) : uint32_t(negs_.size() + 2);
  negs_.push_back(n);
  send_request(negs_.size() - 1);
}

void World::send_request(size_t idx) {
  const Neg& n = negs_[idx];
  TRACE("  request h%d r%d%s\n", n.h, n.r, n.by_peer ? " by peer" : "");
  if (n.by_peer) send(ike_pkt(n, true, false), IF_WAN, T_NEG_REQ, idx);
  else send(ike_pkt(n, false, false), host_iif(n.h), T_NEG_REQ, idx);
}

void World::send_response(size_t idx) {
  const Neg& n = negs_[idx];
  TRACE("  response h%d r%d\n", n.h, n.r);
  if (n.by_peer) send(ike_pkt(n, false, true), host_iif(n.h), T_NEG_RESP, idx);
  else send(ike_pkt(n, true, true), IF_WAN, T_NEG_RESP, idx);
}

bool World::spi_taken(int h, int r, uint32_t so, uint32_t si) {
  // R's kernel refuses a second SA on (our WAN, spi) and SPIs are random
  // 32-bit values: an SPI is never used for two SAs, except the same pair
  // again by the same host once its SA is gone (manual keys re-created
  // from the same configuration).  A manual SA re-created with one SPI
  // kept and the other changed is a limit (kmod/DESIGN.md).
  auto i = used_in_.find({r, si});
  auto o = used_out_.find({r, so});
  bool in_ok = i == used_in_.end() || i->second == std::make_pair(h, so);
  bool out_ok = o == used_out_.end() || o->second == std::make_pair(h, si);
  if (!in_ok || !out_ok) return true;
  for (auto& sa : sas_)
    if (sa.alive && sa.r == r && (sa.s_out == so || sa.s_in == si)) return true;
  return false;
}

void World::progress(size_t idx, uint16_t so, uint16_t si) {
  Neg& n = negs_[idx];
  if (n.state == 0) { send_request(idx); return; }
  if (n.state != 2) return;
  send_response(idx);
  if (n.state != 3) return;
  Sa sa;
  sa.h = n.h;
  sa.r = n.r;
  sa.s_out = honest_spi(so);
  sa.s_in = honest_spi(si);
  if (spi_taken(sa.h, sa.r, sa.s_out, sa.s_in)) return;
  used_in_[{sa.r, sa.s_in}] = {sa.h, sa.s_out};
  used_out_[{sa.r, sa.s_out}] = {sa.h, sa.s_in};
  // negotiated in an IKE SA an attacker claimed with a guessed SPI: the
  // table may rightly give its child SAs to the attacker
  sa.tainted = atk_in_.count({peer_addr(sa.r), sa.s_in}) || atk_out_.count({peer_addr(sa.r), sa.s_out}) ||
               ike_tainted_.count({n.h, n.r}) || n.blind;
  for (auto& o : sas_)
    if (o.alive && o.h == n.h && o.r == n.r) old_.push_back(size_t(&o - &sas_[0]));
  sa.started = true;
  sas_.push_back(sa);
  TRACE("  SA %zu h%d r%d out 0x%x in 0x%x%s\n", sas_.size() - 1, sa.h, sa.r, sa.s_out, sa.s_in,
        sa.tainted ? " (tainted)" : "");
  size_t i = sas_.size() - 1;
  if (so & 0x8000) { data_out(i, T_DATA_OUT); data_in(i); }
  else { data_in(i); data_out(i, T_DATA_OUT); }
}

void World::manual_sa(int h, int r, uint16_t so, uint16_t si) {
  if (keying_.emplace(std::make_pair(h, r), 'm').first->second != 'm') return;
  Sa sa;
  sa.h = h;
  sa.r = r;
  sa.s_out = honest_spi(so);
  sa.s_in = honest_spi(si);
  if (spi_taken(h, r, sa.s_out, sa.s_in)) return;
  used_in_[{r, sa.s_in}] = {h, sa.s_out};
  used_out_[{r, sa.s_out}] = {h, sa.s_in};
  sa.tainted = atk_in_.count({peer_addr(r), sa.s_in}) || atk_out_.count({peer_addr(r), sa.s_out});
  sas_.push_back(sa);
  TRACE("  manual SA %zu h%d r%d out 0x%x in 0x%x%s\n", sas_.size() - 1, h, r, sa.s_out, sa.s_in,
        sa.tainted ? " (tainted)" : "");
  data_out(sas_.size() - 1, T_MANUAL_FIRST);
}

void World::traffic(size_t idx, bool out) {
  Sa& sa = sas_[idx];
  if (!sa.alive) return;
  // DESIGN.md: idle_timeout exceeds the longest silence of a live SA; one
  // silent for longer is gone at both ends (lifetime, DPD)
  struct mux_params p;
  mux_params_get(&m_, &p);
  if (sa.last_used && now_ - sa.last_used >= uint64_t(p.idle_timeout) * 1000) {
    sa.alive = false;
    return;
  }
  if (!sa.started) { data_out(idx, T_MANUAL_FIRST); return; }
  if (out) data_out(idx, T_DATA_OUT);
  else data_in(idx);
}

void World::data_out(size_t idx, TagKind tag) {
  Sa& sa = sas_[idx];
  sa.last_used = now_;
  sa.out_seen = true;
  TRACE("  ESP out SA %zu h%d r%d spi 0x%x\n", idx, sa.h, sa.r, sa.s_out);
  send(ipv4(host_addr(sa.h), peer_addr(sa.r), PROTO_ESP, esp(sa.s_out)), host_iif(sa.h), tag, idx);
}

void World::data_in(size_t idx) {
  Sa& sa = sas_[idx];
  sa.last_used = now_;
  sa.in_seen = true;
  TRACE("  ESP in SA %zu h%d r%d spi 0x%x\n", idx, sa.h, sa.r, sa.s_in);
  send(ipv4(peer_addr(sa.r), WAN_ADDR, PROTO_ESP, esp(sa.s_in)), IF_WAN, T_DATA_IN, idx);
}

void World::retire() {
  if (old_.empty()) return;
  sas_[old_.front()].alive = false;
  old_.erase(old_.begin());
}

// ------------------------------------------------------------ everyone else

// Not sent: nothing on a LAN tells a host from one spoofing its address,
// and nothing on the internet tells a peer from one spoofing its address
// (kmod/DESIGN.md, threat model, says what such a forger can still do).
bool spoofs_honest(const Bytes& b, uint32_t iif) {
  if (b.size() < 20) return false;
  uint32_t src;
  memcpy(&src, &b[12], 4);
  if (iif == IF_WAN) {
    for (int r = 0; r < N_PEERS; r++)
      if (src == peer_addr(r)) return true;
  } else {
    for (int h = 0; h < N_HOSTS; h++)
      if (src == host_addr(h)) return true;
  }
  return false;
}

void World::other(Bytes b, uint32_t iif) {
  if (spoofs_honest(b, iif)) return;
  send(std::move(b), iif, T_OTHER, 0);
}

// An attacker's packet: SPIs and IKE SPIs it could not have seen.
void World::note_other(const struct mux_pkt& p, bool from_wan) {
  uint32_t peer = p.dir == MUX_DIR_OUT ? p.dst : p.src;
  if (p.type == MUX_PKT_ESP) {
    (p.dir == MUX_DIR_IN ? atk_in_ : atk_out_).insert({peer, p.spi});
    for (auto& sa : sas_) {
      if (peer_addr(sa.r) != peer) continue;
      if (p.dir == MUX_DIR_IN && sa.s_in == p.spi && (!sa.in_seen || !from_wan)) sa.tainted = true;
      if (p.dir == MUX_DIR_OUT && sa.s_out == p.spi && (!sa.out_seen || !from_wan)) sa.tainted = true;
    }
  } else if (p.type == MUX_PKT_IKE) {
    atk_ispi_.insert({peer, p.ike.ispi});
    for (int h = 0; h < N_HOSTS; h++)
      for (int r = 0; r < N_PEERS; r++)
        if (peer == peer_addr(r) && p.ike.ispi == honest_ispi(h, r) &&
            (!from_wan || !ike_up_.count({h, r})))
          ike_tainted_.insert({h, r});
  }
}

// ------------------------------------------------------------ the controller

std::vector<struct mux_view> World::dump() {
  std::vector<struct mux_view> v;
  struct mux_dump_pos pos = {};
  mux_dump(&m_, &pos, now_, [](void* ctx, const struct mux_view* e) {
    static_cast<std::vector<struct mux_view>*>(ctx)->push_back(*e);
    return 0;
  }, &v, nullptr);
  return v;
}

// ADD_MAPPING as the controller sends it: a dumped mapping again (an import
// run twice), or one made of the input's bytes.
void World::add_mapping(uint8_t f, uint8_t hb, uint8_t rb, uint8_t zb, uint16_t so, uint16_t si) {
  const char* why = nullptr;
  struct mux_mapping mp = {};
  if (f & 1) {
    auto v = dump();
    if (v.empty()) return;
    const auto& e = v[hb % v.size()];
    if (e.kind == VPNPT_ESP_KIND_ESP && (e.state == VPNPT_ESP_STATE_PENDING || !e.spi_in))
      return;  // not a mapping ADD takes
    mp = mapping_of(e);
    int ret = mux_mapping_add(&m_, &mp, now_, &why);
    TRACE("add dumped mapping %zu again: %d\n", hb % v.size(), ret);
    if (ret) fail("a dumped mapping added again: %d (%s)", ret, why ? why : "");
    return;
  }
  struct mux_params p;
  mux_params_get(&m_, &p);
  int h = hb % N_HOSTS, r = rb % N_PEERS;
  mp.kind = (f & 2) ? VPNPT_ESP_KIND_IKE : VPNPT_ESP_KIND_ESP;
  mp.host = (f & 4) ? host_addr(h) : pool_addr(hb);
  mp.peer = (f & 8) ? peer_addr(r) : pool_addr(rb);
  mp.zone = uint16_t(p.zone_base + zb % (p.zone_count + 2) - 1);  // one out of range at each end
  mp.spi_out = (f & 16) ? honest_spi(so) : so;
  mp.spi_in = (f & 32) ? honest_spi(si) : si;
  mp.state = (f & 64) ? VPNPT_ESP_STATE_DRAINING : VPNPT_ESP_STATE_BOUND;
  mp.ispi = (f & 16) ? honest_ispi(h, r) : (uint64_t(so) << 16 | si);
  mp.rspi = (f & 32) ? 0x99 : si;
  mp.ike_version = uint8_t(1 + (f >> 7));
  // what the controller names is delivered as it says: not held against
  // the table, as an attacker's guess is not
  if (mp.kind == VPNPT_ESP_KIND_ESP) {
    atk_in_.insert({mp.peer, mp.spi_in});
    atk_out_.insert({mp.peer, mp.spi_out});
    for (auto& sa : sas_)
      if (peer_addr(sa.r) == mp.peer && (sa.s_in == mp.spi_in || sa.s_out == mp.spi_out))
        sa.tainted = true;
  } else {
    atk_ispi_.insert({mp.peer, mp.ispi});
    for (int hh = 0; hh < N_HOSTS; hh++)
      for (int rr = 0; rr < N_PEERS; rr++)
        if (mp.peer == peer_addr(rr) && mp.ispi == honest_ispi(hh, rr)) ike_tainted_.insert({hh, rr});
  }
  int ret = mux_mapping_add(&m_, &mp, now_, &why);
  TRACE("add %s %s -> %s zone %u spi 0x%x/0x%x ispi 0x%" PRIx64 ": %d %s\n",
        mp.kind == VPNPT_ESP_KIND_ESP ? "esp" : "ike", a2s(mp.host).c_str(), a2s(mp.peer).c_str(),
        mp.zone, mp.spi_out, mp.spi_in, mp.ispi, ret, why ? why : "");
  switch (ret) {
    case 0: case -EINVAL: case -ERANGE: case -EBUSY: case -EEXIST: case -EDQUOT: case -ENOSPC:
    case -ENOMEM:
      break;
    default:
      fail("ADD_MAPPING returned %d", ret);
  }
  if (ret && !why) fail("ADD_MAPPING refused (%d) without saying why", ret);
  if (ret == 0 && (ret = mux_mapping_add(&m_, &mp, now_, &why)) != 0)
    fail("ADD_MAPPING of a mapping just added: %d (%s)", ret, why ? why : "");
}

void World::del_mapping(uint8_t i) {
  auto v = dump();
  if (v.empty()) return;
  const auto& e = v[i % v.size()];
  struct mux_mapping mp = mapping_of(e);
  const char* why = nullptr;
  // an honest pair's exchange in flight loses its IKE SA, as at a FLUSH
  for (auto& n : negs_)
    if (host_addr(n.h) == e.host && peer_addr(n.r) == e.peer && n.state != 0 && n.state != 3)
      n.blind = true;
  int ret = mux_mapping_del(&m_, &mp, now_, &why);
  TRACE("del dumped mapping %zu: %d\n", i % v.size(), ret);
  if (ret) fail("DEL_MAPPING of a dumped mapping: %d (%s)", ret, why ? why : "");
  if (mux_mapping_del(&m_, &mp, now_, &why) != -ENOENT) fail("DEL_MAPPING twice did not say ENOENT");
}

// ------------------------------------------------------------ invariants

void World::note_out(uint32_t host, uint32_t peer, uint16_t zone) {
  auto it = zone_owner_.find(zone);
  if (it != zone_owner_.end() && it->second != std::make_pair(host, peer))
    fail("zone %u serves two pairs: %s -> %s and now %s -> %s", zone,
         a2s(it->second.first).c_str(), a2s(it->second.second).c_str(), a2s(host).c_str(),
         a2s(peer).c_str());
  zone_owner_[zone] = {host, peer};
}

void World::check_in(const char* what, int h, int r, uint16_t zone) {
  auto it = zone_owner_.find(zone);
  if (it == zone_owner_.end()) return;  // no conntrack entry: the router gets it, a loss
  if (it->second != std::make_pair(host_addr(h), peer_addr(r)))
    fail("CROSS-DELIVERY: %s of host %s with peer %s put in zone %u, whose conntrack is %s -> %s",
         what, a2s(host_addr(h)).c_str(), a2s(peer_addr(r)).c_str(), zone,
         a2s(it->second.first).c_str(), a2s(it->second.second).c_str());
}

void World::check() {
  struct mux_params p;
  mux_params_get(&m_, &p);
  // the model's side of DESIGN.md's assumption: an SA silent for the
  // idle_timeout in force is gone at both ends (a later, longer timeout
  // does not bring it back)
  for (auto& sa : sas_)
    if (sa.alive && sa.last_used && now_ - sa.last_used >= uint64_t(p.idle_timeout) * 1000)
      sa.alive = false;
  // the same for an IKE SA: its exchanges are abandoned (no peer answers
  // after that long), and the host's next negotiation starts a new one
  for (auto it = ike_up_.begin(); it != ike_up_.end();) {
    if (now_ - ike_seen_[*it] < uint64_t(p.idle_timeout) * 1000) { ++it; continue; }
    for (auto& n : negs_)
      if (n.h == it->first && n.r == it->second) n.state = 3;
    it = ike_up_.erase(it);
  }
  std::vector<struct mux_view> v;
  struct mux_dump_pos pos = {};
  mux_dump(&m_, &pos, now_, [](void* ctx, const struct mux_view* e) {
    static_cast<std::vector<struct mux_view>*>(ctx)->push_back(*e);
    return 0;
  }, &v, nullptr);
  uint32_t n_esp = 0, n_ike = 0;
  std::map<uint32_t, uint32_t> per_host, per_peer, per_held;
  std::map<uint16_t, std::pair<uint32_t, uint32_t>> zones;
  std::set<std::pair<uint32_t, uint32_t>> ins, outs;
  std::set<std::pair<uint32_t, uint64_t>> ispis;
  for (auto& e : v) {
    if (e.kind == VPNPT_ESP_KIND_ESP) {
      n_esp++;
      per_host[e.host]++;
      if (e.spi_in && !ins.insert({e.peer, e.spi_in}).second)
        fail("inbound SPI 0x%x of peer %s mapped twice", e.spi_in, a2s(e.peer).c_str());
      if (e.spi_out && !outs.insert({e.peer, e.spi_out}).second)
        fail("outbound SPI 0x%x to peer %s mapped twice", e.spi_out, a2s(e.peer).c_str());
    } else {
      n_ike++;
      if (!ispis.insert({e.peer, e.ispi}).second)
        fail("IKE SA 0x%" PRIx64 " of peer %s mapped twice", e.ispi, a2s(e.peer).c_str());
    }
    per_peer[e.peer]++;
    auto z = zones.emplace(e.zone, std::make_pair(e.host, e.peer));
    if (z.first->second != std::make_pair(e.host, e.peer))
      fail("zone %u given to %s -> %s and %s -> %s", e.zone, a2s(e.host).c_str(),
           a2s(e.peer).c_str(), a2s(z.first->second.first).c_str(),
           a2s(z.first->second.second).c_str());
    auto o = zone_owner_.find(e.zone);
    if (o != zone_owner_.end() && o->second != std::make_pair(e.host, e.peer))
      fail("zone %u of %s -> %s still holds conntrack of %s -> %s", e.zone, a2s(e.host).c_str(),
           a2s(e.peer).c_str(), a2s(o->second.first).c_str(), a2s(o->second.second).c_str());
  }
  if (n_esp != m_.n_sa || n_ike != m_.n_ike)
    fail("table counts %u ESP + %u IKE, its dump %u + %u", m_.n_sa, m_.n_ike, n_esp, n_ike);
  // held in a queue, or released / expired and waiting for the works
  size_t waiting = 0;
  std::set<Packet*> queued(held_);
  struct mux_held* h;
  for (struct list_head* l : {&m_.released, &m_.expired})
    list_for_each_entry(h, l, node) {
      waiting++;
      queued.erase(static_cast<Packet*>(h->cookie));
    }
  if (m_.n_held + waiting != held_.size())
    fail("table counts %u held + %zu to hand back, %zu packets are out", m_.n_held, waiting,
         held_.size());
  for (Packet* pk : queued) per_held[pk->peer]++;

  // a limit lowered by a parameter change evicts nothing: above it, a
  // count may only shrink
  uint32_t total = n_esp + n_ike;
  if (total > p.max_mappings && total > prev_total_)
    fail("%u mappings, max_mappings %u", total, p.max_mappings);
  prev_total_ = total;
  auto limit = [](const char* what, const std::map<uint32_t, uint32_t>& now,
                  std::map<uint32_t, uint32_t>& prev, uint32_t max) {
    for (auto& [a, n] : now) {
      auto it = prev.find(a);
      if (n > max && (it == prev.end() || n > it->second))
        fail("%s %s: %u, limit %u", what, a2s(a).c_str(), n, max);
    }
    prev = now;
  };
  limit("ESP mappings of host", per_host, prev_host_, p.max_per_host);
  limit("ESP + IKE mappings of peer", per_peer, prev_peer_, p.max_per_peer);
  limit("held packets of peer", per_held, prev_held_, p.hold_max);
}

// ------------------------------------------------------------------ steps

bool World::step(Reader& in) {
  static const uint8_t args[OP_COUNT] = {
      3, 5, 6, 2, 0,   // negotiate progress manual traffic retire
      3, 0, 0, 3, 0, 0,  // advance gc flush param reinject zones_take
      4, 5, 7, 6,      // raw esp ike icmp
      1,               // alloc_fail
      8, 1,            // add_mapping del_mapping
  };
  if (!in.has(1)) return false;
  uint8_t op = in.u8() % OP_COUNT;
  if (!in.has(args[op])) return false;
  switch (op) {
    case OP_NEGOTIATE: {
      int h = in.u8() % N_HOSTS, r = in.u8() % N_PEERS;
      uint8_t f = in.u8();
      TRACE("negotiate h%d r%d flags %u\n", h, r, f);
      negotiate(h, r, f);
      break;
    }
    case OP_PROGRESS: {
      uint8_t i = in.u8();
      uint16_t so = in.u16(), si = in.u16();
      if (negs_.empty()) break;
      TRACE("progress %zu\n", i % negs_.size());
      progress(i % negs_.size(), so, si);
      break;
    }
    case OP_MANUAL_SA: {
      int h = in.u8() % N_HOSTS, r = in.u8() % N_PEERS;
      uint16_t so = in.u16(), si = in.u16();
      TRACE("manual h%d r%d\n", h, r);
      manual_sa(h, r, so, si);
      break;
    }
    case OP_TRAFFIC: {
      uint8_t i = in.u8(), d = in.u8();
      if (sas_.empty()) break;
      TRACE("traffic SA %zu %s\n", i % sas_.size(), d & 1 ? "in" : "out");
      traffic(i % sas_.size(), !(d & 1));
      break;
    }
    case OP_RETIRE:
      TRACE("retire\n");
      retire();
      break;
    case OP_ADVANCE: {
      uint16_t ms = in.u16();
      uint8_t f = in.u8();
      // mostly below a second (gc runs every second); now and then minutes
      uint64_t d = (f & 2) ? uint64_t(ms) * 16 : ms % 1500;
      now_ += d;
      // bit 2: meanwhile some address or route changed (rt_genid moves):
      // the cached direction answers of bound SAs are asked again
      if (f & 4) rt_.gen++;
      TRACE("advance %" PRIu64 " ms%s%s\n", d, f & 1 ? " (no gc)" : "", f & 4 ? " (route change)" : "");
      if (!(f & 1)) {
        mux_gc(&m_, now_);
        housekeep();
      }
      break;
    }
    case OP_GC:
      TRACE("gc\n");
      mux_gc(&m_, now_);
      housekeep();
      break;
    case OP_FLUSH:
      TRACE("flush\n");
      // FLUSH forgets everything, as a module loaded just now knows nothing
      // (kmod/DESIGN.md, Limits): an exchange in flight and an SA whose first
      // inbound packet was not read yet are not checked
      for (auto& n : negs_)
        if (n.state != 0 && n.state != 3) n.blind = true;
      for (auto& sa : sas_)
        if (sa.alive && !sa.in_parsed) sa.tainted = true;
      mux_flush(&m_, now_);
      housekeep();
      break;
    case OP_PARAM: {
      uint8_t which = in.u8();
      uint16_t val = in.u16();
      struct mux_params p;
      mux_params_get(&m_, &p);
      switch (which % 10) {
        case 0: p.idle_timeout = val % 120; break;
        case 1: p.pending_timeout = val % 8; break;
        case 2: p.drain_timeout = val % 40; break;
        case 3: p.max_per_host = val % 10; break;
        case 4: p.max_per_peer = val % 20; break;
        case 5: p.max_mappings = val % 40; break;
        case 6: p.hold_max = val % 10; break;
        case 7: p.keep_ike_port = !p.keep_ike_port; break;
        case 8: p.wan_ifindex = p.wan_ifindex ? 0 : IF_WAN; break;
        default: p.zone_base = uint16_t(1 + val % 60000); p.zone_count = uint16_t(1 + val % 17); break;
      }
      struct mux_params before;
      mux_params_get(&m_, &before);
      int ret = mux_params_set(&m_, &p);
      // what netlink.c and the netdev notifier do when the WAN comes back
      if (!ret && p.wan_ifindex && p.wan_ifindex != before.wan_ifindex) mux_blind_end(&m_, now_);
      TRACE("param %u = %u: %d\n", which % 10, val, ret);
      break;
    }
    case OP_REINJECT:
      TRACE("reinject\n");
      drain(true);
      break;
    case OP_ZONES_TAKE: {
      uint16_t z[32];
      uint32_t n;
      while ((n = mux_zone_take_dirty(&m_, z, 32)) > 0) taken_zones_.insert(taken_zones_.end(), z, z + n);
      TRACE("zones taken: %zu\n", taken_zones_.size());
      break;
    }
    case OP_RAW: {
      uint8_t side = in.u8(), hl = in.u8();
      uint16_t len = in.u16() % 1600;
      size_t n = std::min<size_t>(len, in.n - in.i);
      Bytes b(in.d + in.i, in.d + in.i + n);
      in.i += n;
      uint32_t iif = (side & 1) ? IF_WAN : (side & 2) ? IF_LAN2 : IF_LAN;
      TRACE("raw %zu bytes if %u headlen %u\n", n, iif, hl);
      Packet* pk = new Packet{std::move(b), iif, hl == 255 ? UINT32_MAX : hl, T_OTHER, 0, 0};
      if (spoofs_honest(pk->b, iif)) delete pk;
      else send(pk);
      break;
    }
    case OP_FORGE_ESP: {
      uint8_t side = in.u8(), s = in.u8(), d = in.u8();
      uint16_t spi = in.u16();
      uint32_t src = pool_addr(s), dst = (side & 1) ? ((side & 2) ? WAN_ADDR : LAN_ADDR) : pool_addr(d);
      uint32_t v = (side & 4) ? honest_spi(spi) : spi;
      if (side & 8) v = LOCAL_SPI;
      TRACE("forge ESP %s -> %s spi 0x%x from %s\n", a2s(src).c_str(), a2s(dst).c_str(), v,
            side & 1 ? "wan" : "lan");
      other(ipv4(src, dst, PROTO_ESP, esp(v)), (side & 1) ? IF_WAN : IF_LAN);
      break;
    }
    case OP_FORGE_IKE: {
      uint8_t side = in.u8(), s = in.u8(), d = in.u8(), hdr = in.u8(), is = in.u8(), mid = in.u8(),
              port = in.u8();
      static const uint8_t kinds[6][2] = {{2, IKEV2_EXCH_SA_INIT}, {2, IKEV2_EXCH_AUTH},
                                          {2, IKEV2_EXCH_CREATE_CHILD}, {2, IKEV2_EXCH_INFORMATIONAL},
                                          {1, 2}, {1, IKEV1_EXCH_QUICK_MODE}};
      const uint8_t* k = kinds[hdr % 6];
      uint64_t ispi = is < 12 ? honest_ispi(is % N_HOSTS, (is / N_HOSTS) % N_PEERS) : is;
      struct ike_info i = ike_hdr(k[0], k[1], ispi, k[1] == IKEV2_EXCH_SA_INIT ? 0 : 0x77, mid,
                                  hdr & 8);
      Bytes msg = ike(i);
      uint16_t sp = 500, dp = 500;
      if (port & 1) { sp = dp = 4500; msg = natt(msg); }
      if (port & 2) sp = 1024;
      uint32_t src = pool_addr(s), dst = (side & 1) ? ((side & 2) ? WAN_ADDR : LAN_ADDR) : pool_addr(d);
      TRACE("forge IKE v%u exch %u ispi 0x%" PRIx64 " msgid %u %s -> %s from %s\n", k[0], k[1],
            ispi, mid, a2s(src).c_str(), a2s(dst).c_str(), side & 1 ? "wan" : "lan");
      other(ipv4(src, dst, PROTO_UDP, udp(sp, dp, msg)), (side & 1) ? IF_WAN : IF_LAN);
      break;
    }
    case OP_ADD_MAPPING: {
      uint8_t f = in.u8(), hb = in.u8(), rb = in.u8(), zb = in.u8();
      uint16_t so = in.u16(), si = in.u16();
      add_mapping(f, hb, rb, zb, so, si);
      break;
    }
    case OP_DEL_MAPPING:
      del_mapping(in.u8());
      break;
    case OP_ALLOC_FAIL:
      g_alloc_fail = in.u8() % 8;
      TRACE("allocation %d from now fails\n", g_alloc_fail);
      break;
    case OP_FORGE_ICMP: {
      static const uint8_t kIcmpTypes[4] = {3, 11, 12, 0};  // 0: an echo reply, not an error
      uint8_t side = in.u8(), s = in.u8(), is = in.u8(), id = in.u8();
      uint16_t spi = in.u16();
      uint32_t isrc = pool_addr(is), idst = pool_addr(id);
      uint32_t v = (side & 4) ? honest_spi(spi) : spi;
      Bytes q = ipv4(isrc, idst, PROTO_ESP, esp(v));
      uint32_t src = pool_addr(s), dst = (side & 1) ? WAN_ADDR : isrc;
      TRACE("forge ICMP %s -> %s quoting %s -> %s spi 0x%x\n", a2s(src).c_str(), a2s(dst).c_str(),
            a2s(isrc).c_str(), a2s(idst).c_str(), v);
      other(ipv4(src, dst, PROTO_ICMP, icmp_error(kIcmpTypes[(side >> 4) % 4], q)),
            (side & 1) ? IF_WAN : IF_LAN);
      break;
    }
  }
  check();
  return true;
}

}  // namespace

// The table allocates with calloc in user space (compat.h mux_alloc); the
// link wraps calloc (CMakeLists.txt) so that OP_ALLOC_FAIL can make one
// fail, as GFP_ATOMIC may in the kernel.  Only armed around table calls.
extern "C" void* __real_calloc(size_t n, size_t sz);
extern "C" void* __wrap_calloc(size_t n, size_t sz) {
  if (g_alloc_fail == 0) {
    g_alloc_fail = -1;
    return nullptr;
  }
  if (g_alloc_fail > 0) g_alloc_fail--;
  return __real_calloc(n, sz);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_trace = getenv("FUZZ_MUX_TRACE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < PARAM_BYTES) return 0;
  g_alloc_fail = -1;
  World w(data);
  Reader in{data + PARAM_BYTES, size - PARAM_BYTES};
  for (int steps = 0; steps < 2000 && w.step(in); steps++) {
  }
  return 0;
}
