#!/usr/bin/python3
"""tests/vm/scale.py: t-scale's traffic, every LAN host to every peer, from one process.

  scale.py --hosts N --peer WAN,INNER [--peer WAN,INNER...] [--count C] [--min M]
           [--timeout T] [--server NS]

Host i is namespace vm-hI, inner address 10.1.I.1; each peer is a WAN
address (where its IKE and ESP come from, all in the server's namespace NS)
and an inner one (10.0.P.1). Each host has one UDP socket on port 500 and
one raw ICMP socket for all its peers (setns(2) per socket, no process per
host), so N hosts x P peers cost 2N sockets and one select loop.

1. Every host at once, each with --per-host exchanges in flight (its peers
   in turn, host I starting at peer I mod P, so that each peer has about
   N x per-host / P hosts at a time): IKE_SA_INIT + IKE_AUTH with crafted
   RFC 7296 headers (tests/vm/ike.py respond answers), each request
   retransmitted every second; as soon as a pair's exchange is done its host
   pings the peer's inner address through its tunnel (every 0.5 s) until
   the first reply, then starts its next peer. The module serialises a
   peer's bind windows and holds the other hosts' requests (hold_max 16 per
   peer, a quarter of it per host): with every exchange of every host at
   once, most would be dropped and wait for their retransmissions.
2. Every pair at once: --count echo requests, 0.2 s apart; each pair must
   get --min replies.
3. The counters at the receivers, per SPI (XFRM_MSG_GETSA dump in each
   namespace): host I's inbound SA from peer P and the server's inbound SA
   of (I, P) (found by the outbound SPI host I uses) must both have carried
   packets, the host's at least as many as the replies it got; and
   XfrmInNoStates (ESP on an SPI the receiver has no SA for: another host's
   packet) and XfrmInStateProtoError are 0 in every host and in the server.

Prints one line per phase; exits 1 naming the pairs (at most 20) that failed.
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ike import CLONE_NEWNET, checksum, icmp_socket_in, libc, socket_in  # noqa: E402
from ikewire import F_INITIATOR, F_RESPONSE, IKE_AUTH, IKE_SA_INIT, P_SA, P_SK, header, parse_header, payload  # noqa: E402

NETLINK_XFRM = 6
XFRM_MSG_NEWSA, XFRM_MSG_GETSA = 0x10, 0x12
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
IPPROTO_ESP = 50


def in_ns(ns, fn):
    """fn() run inside network namespace ns (this thread only, then back)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError("setns " + ns)
        return fn()
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def xfrm_states():
    """{(saddr, daddr, spi): packets} of every IPv4 ESP SA of this namespace.

    struct xfrm_usersa_info (linux/xfrm.h, x86-64): sel 0..56, id.daddr 56,
    id.spi 72, id.proto 76, saddr 80, lft 96..160, curlft.bytes 160,
    curlft.packets 168, ..., family 212."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    try:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, 1, 0))
        out = {}
        while True:
            buf = s.recv(1 << 20)
            off = 0
            while off + 16 <= len(buf):
                ln, typ = struct.unpack_from("=IH", buf, off)
                if typ == NLMSG_DONE:
                    return out
                if typ == NLMSG_ERROR:
                    err = struct.unpack_from("=i", buf, off + 16)[0]
                    raise OSError(-err, "XFRM_MSG_GETSA dump")
                if typ == XFRM_MSG_NEWSA:
                    b = off + 16
                    family = struct.unpack_from("=H", buf, b + 212)[0]
                    if family == socket.AF_INET and buf[b + 76] == IPPROTO_ESP:
                        daddr = socket.inet_ntoa(buf[b + 56:b + 60])
                        saddr = socket.inet_ntoa(buf[b + 80:b + 84])
                        spi = struct.unpack_from("!I", buf, b + 72)[0]
                        out[(saddr, daddr, spi)] = struct.unpack_from("=Q", buf, b + 168)[0]
                off += (ln + 3) & ~3
    finally:
        s.close()


def xfrm_stat():
    with open("/proc/thread-self/net/xfrm_stat") as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


class Pair:
    """One (host, peer): its IKE SA and its echo requests."""

    def __init__(self, host, wan, inner):
        self.host, self.wan, self.inner = host, wan, inner
        self.ispi, self.rspi, self.msgid = random.getrandbits(64) | 1, 0, 0
        self.steps = [IKE_SA_INIT, IKE_AUTH]
        self.sent_at = 0.0          # last IKE request or echo request
        self.seq, self.got = 0, set()
        self.first_seq = 0          # phase 2's first sequence number

    def name(self):
        return "%s->%s" % (self.host.ns, self.wan)

    def ike_request(self):
        exch = self.steps[0]
        body = payload(random.randbytes(40 if exch == IKE_SA_INIT else 64))
        pkt = header(self.ispi, self.rspi, P_SA if exch == IKE_SA_INIT else P_SK, exch,
                     F_INITIATOR, self.msgid, body)
        self.host.ike.sendto(pkt, (self.wan, 500))
        self.sent_at = time.monotonic()

    def ike_response(self, h):
        if h.msgid != self.msgid or not self.steps or h.exch != self.steps[0]:
            return
        self.rspi, self.msgid = h.rspi, self.msgid + 1
        self.steps.pop(0)
        if self.steps:
            self.ike_request()
        else:
            self.echo()

    def echo(self):
        self.seq += 1
        body = struct.pack("!d", time.time()) + b"vpnpt-vm" * 4
        hdr = struct.pack("!BBHHH", 8, 0, 0, self.host.ident, self.seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + body), self.host.ident, self.seq) + body
        self.host.icmp.sendto(pkt, (self.inner, 0))
        self.sent_at = time.monotonic()

    def replies(self):      # replies to phase 2's requests
        return len([s for s in self.got if s >= self.first_seq])


class Host:
    def __init__(self, i, peers):
        self.ns, self.addr, self.ident = "vm-h%d" % i, "192.168.1.%d" % (i + 1), 0x5600 + i
        self.ike = socket_in(self.ns)
        self.icmp = icmp_socket_in(self.ns, "10.1.%d.1" % i)
        self.by_wan = {}
        self.by_inner = {}
        self.todo, self.flight = [], 0     # phase 1: pairs not started, pairs in flight
        self.on_first = None               # called with the pair whose first reply came
        for wan, inner in peers:
            p = Pair(self, wan, inner)
            self.by_wan[wan] = self.by_inner[inner] = p

    def on_ike(self):
        buf, addr = self.ike.recvfrom(65535)
        h = parse_header(buf)
        p = self.by_wan.get(addr[0])
        if p and h and h.flags & F_RESPONSE and h.ispi == p.ispi:
            p.ike_response(h)

    def on_icmp(self):
        buf, addr = self.icmp.recvfrom(65535)
        ihl = (buf[0] & 0x0F) * 4
        typ, _, _, ident, seq = struct.unpack("!BBHHH", buf[ihl:ihl + 8])
        p = self.by_inner.get(addr[0])
        if p and typ == 0 and ident == self.ident:
            first = not p.got
            p.got.add(seq)
            if first and self.on_first:
                self.on_first(p)


def loop(hosts, pairs, until, tick, deadline):
    """Receive on every socket; tick(now) every 0.1 s; stop when until() or at deadline."""
    handlers = {}
    for h in hosts:
        handlers[h.ike] = h.on_ike
        handlers[h.icmp] = h.on_icmp
    socks = list(handlers)
    last = 0.0
    while not until():
        now = time.monotonic()
        if now > deadline:
            return False
        if now - last >= 0.1:
            tick(now)
            last = now
        for sk in select.select(socks, [], [], 0.1)[0]:
            handlers[sk]()
    return True


def fails(names, what):
    print("scale: %d pairs %s: %s%s" % (len(names), what, " ".join(names[:20]),
                                         " ..." if len(names) > 20 else ""), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, required=True)
    ap.add_argument("--peer", action="append", required=True, help="WAN,INNER")
    ap.add_argument("--server", default="vm-s")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--min", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=150)
    ap.add_argument("--per-host", type=int, default=2, help="exchanges a host has in flight")
    a = ap.parse_args()
    peers = [tuple(p.split(",")) for p in a.peer]
    t0 = time.monotonic()
    hosts = [Host(i, peers) for i in range(1, a.hosts + 1)]
    pairs = [p for h in hosts for p in h.by_wan.values()]
    print("scale: %d hosts x %d peers = %d pairs, sockets open in %.1fs" %
          (len(hosts), len(peers), len(pairs), time.monotonic() - t0), flush=True)

    # 1. every host at once, --per-host exchanges each, each followed by its first echo reply
    t1 = time.monotonic()
    active = []

    def start(h):
        while h.todo and h.flight < a.per_host:
            p = h.todo.pop(0)
            h.flight += 1
            active.append(p)
            p.ike_request()

    def bound(p):
        p.host.flight -= 1
        start(p.host)
    for h in hosts:
        i = int(h.ns[4:])
        ps = list(h.by_wan.values())
        h.todo = ps[i % len(ps):] + ps[:i % len(ps)]
        h.on_first = bound
        start(h)
    last_note = [t1]

    def tick1(now):
        for p in active:
            if p.steps:
                if now - p.sent_at >= 1.0:
                    p.ike_request()         # retransmission: same message ID
            elif not p.got and now - p.sent_at >= 0.5:
                p.echo()                    # first traffic: until the first reply
        if now - last_note[0] >= 10:
            last_note[0] = now
            print("scale: %.0fs: %d/%d pairs bound and answered" % (now - t1, sum(1 for p in pairs if p.got),
                                                                   len(pairs)), flush=True)
    if not loop(hosts, pairs, lambda: all(p.got for p in pairs), tick1, t1 + a.timeout):
        fails([p.name() for p in active if p.steps], "without an IKE answer in %ss" % a.timeout)
        fails([p.name() for p in active if not p.steps and not p.got],
              "without an echo reply through the tunnel in %ss" % a.timeout)
        fails([p.name() for p in pairs if p not in active], "not started in %ss" % a.timeout)
        return 1
    print("scale: %d IKE exchanges, each followed by an echo reply through its tunnel, in %.1fs" %
          (len(pairs), time.monotonic() - t1), flush=True)

    # 2. every tunnel at once
    t2 = time.monotonic()
    for p in pairs:
        p.first_seq = p.seq + 1

    def tick2(now):
        for p in pairs:
            if p.seq - p.first_seq + 1 < a.count and now - p.sent_at >= 0.2:
                p.echo()
    end = t2 + a.count * 0.2 + 5
    loop(hosts, pairs, lambda: all(p.replies() >= a.count for p in pairs), tick2, end)
    short = [p for p in pairs if p.replies() < a.min]
    got = sum(p.replies() for p in pairs)
    print("scale: all %d tunnels at once: %d/%d echo replies in %.1fs" %
          (len(pairs), got, len(pairs) * a.count, time.monotonic() - t2), flush=True)
    if short:
        fails(["%s(%d/%d)" % (p.name(), p.replies(), a.count) for p in short],
              "with fewer than %d replies" % a.min)

    # 3. per-SPI counters at the receivers, stray ESP nowhere
    bad = []
    srv = in_ns(a.server, xfrm_states)
    stats = {a.server: in_ns(a.server, xfrm_stat)}
    host_in = srv_in = 0
    for h in hosts:
        sas = in_ns(h.ns, xfrm_states)
        stats[h.ns] = in_ns(h.ns, xfrm_stat)
        for p in h.by_wan.values():
            mine_in = [n for (s, d, _), n in sas.items() if s == p.wan and d == h.addr]
            spi_out = [spi for (s, d, spi) in sas if s == h.addr and d == p.wan]
            if len(mine_in) != 1 or len(spi_out) != 1:
                bad.append("%s(%d in/%d out SAs)" % (p.name(), len(mine_in), len(spi_out)))
                continue
            at_srv = [n for (s, d, spi), n in srv.items() if d == p.wan and spi == spi_out[0]]
            n_srv = at_srv[0] if at_srv else 0
            host_in += mine_in[0]
            srv_in += n_srv
            if mine_in[0] < len(p.got) or n_srv < len(p.got):
                bad.append("%s(host SA %d, server SA %d, replies %d)" % (p.name(), mine_in[0], n_srv, len(p.got)))
    stray = ["%s:%s=%d" % (ns, k, st.get(k, 0)) for ns, st in stats.items()
             for k in ("XfrmInNoStates", "XfrmInStateProtoError") if st.get(k, 0)]
    print("scale: per SPI: the server's %d inbound SAs carried %d packets, the hosts' %d carried %d;"
          " XfrmInNoStates and XfrmInStateProtoError 0 in %d of %d namespaces" %
          (len(pairs), srv_in, len(pairs), host_in, len(stats) - len({s.split(":")[0] for s in stray}),
           len(stats)), flush=True)
    if bad:
        fails(bad, "whose SA counters do not show their traffic")
    if stray:
        print("scale: ESP a receiver had no SA for (cross-delivered) or that failed: %s" % " ".join(stray[:20]))
    return 1 if short or bad or stray else 0


if __name__ == "__main__":
    sys.exit(main())
