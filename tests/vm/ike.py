#!/usr/bin/python3
"""tests/vm/ike.py: crafted IKEv2 exchanges (RFC 7296 headers) for the VM tests.

The ESP SAs of the mux tests are keyed by hand (ip xfrm); what vpnpt_esp
needs to see before a child SA's ESP is the IKE that would have negotiated
it. This sends exactly that: real IKEv2 headers (section 3.1) on UDP 500,
with opaque payloads in place of the SA/KE/Nonce and the encrypted (SK)
payload, which is all a middlebox can read of IKE anyway.

  ike.py respond [--bind ADDR...]
      in the server's namespace: answer every request on UDP 500 (of each
      ADDR, default 0.0.0.0: a socket each, so that a reply leaves from the
      address the request was sent to, as each peer's own would) with a
      response of the same exchange (R flag, a responder SPI of its own);
      requests on an IKE SA it did not set up (SPIi, SPIr unknown) are
      dropped unanswered, as a real responder does
  ike.py exchange --peer ADDR --state-dir DIR NS [NS...] (--init-auth | --create)
      from each namespace NS at the same time (one process, setns(2) per
      socket): IKE_SA_INIT + IKE_AUTH (a new IKE SA and its first child SA)
      or CREATE_CHILD_SA (a rekey) on the IKE SA kept in DIR/NS.json.
      Retransmits each request every second (RFC 7296 2.1); exits 1 and names
      the namespaces that got no answer within --timeout seconds.
      --then CMD: as soon as NS's exchange completes, run CMD in NS (as a real
      IKE daemon installs the SA and traffic starts); "{ns}" in CMD and $NS
      in its environment are NS.
      Its output goes to DIR/NS.then; ike.py waits for every CMD at the end.
      --ping-src ADDR: instead, in this process, ping --ping-dst from ADDR
      ("{i}": NS's number) until the first reply through the tunnel.
  ike.py ping --src ADDR --dst ADDR [--count N --min M] NS [NS...]
      echo requests from every NS at the same time (one process, no exec per
      namespace); prints "NS got/sent XfrmInNoStates=n" per namespace; exits
      1 if one got fewer than M replies or received ESP it has no SA for.
"""
import subprocess
import argparse
import ctypes
import json
import os
import random
import secrets
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from ikewire import (CREATE_CHILD_SA, F_INITIATOR, F_RESPONSE, IKE_AUTH,  # noqa: E402
                     IKE_SA_INIT, P_SA, P_SK, header, parse_header, payload)

CLONE_NEWNET = 0x40000000


def respond(binds):
    socks = []
    for b in binds:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((b, 500))
        socks.append(s)
    rspis = {}
    issued = set()      # (SPIi, SPIr) of the IKE SAs this responder set up
    # random, not secrets: getrandom(2) blocks until the kernel's CRNG is
    # ready, up to a minute after a TCG boot; these bytes need not be secret.
    print("ike: responder on udp/500 of %s" % " ".join(binds), flush=True)
    while True:
        for s in select.select(socks, [], [])[0]:
            respond_one(s, rspis, issued)


def respond_one(s, rspis, issued):
    """Answer one request waiting on s (see respond)."""
    buf, addr = s.recvfrom(65535)
    h = parse_header(buf)
    if not h or h.flags & F_RESPONSE or h.version >> 4 != 2:
        return
    key = (s.getsockname()[0], addr, h.ispi)
    if h.exch == IKE_SA_INIT:
        rspi = rspis.setdefault(key, random.getrandbits(64) | 1)
        issued.add((h.ispi, rspi))
        body, np = payload(random.randbytes(40)), P_SA
    elif (h.ispi, h.rspi) in issued:
        rspi = h.rspi
        body, np = payload(random.randbytes(64)), P_SK
    else:
        return      # an IKE SA it never set up: a real peer drops it (RFC 7296 2.21)
    s.sendto(header(h.ispi, rspi, np, h.exch, F_RESPONSE, h.msgid, body), addr)


libc = ctypes.CDLL("libc.so.6", use_errno=True)


def socket_in(ns):
    """A UDP socket bound to port 500 in network namespace ns."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 500))
        return s
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def icmp_socket_in(ns, src):
    """A raw ICMP socket in namespace ns, bound to source address src."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.bind((src, 0))
        return s
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def xfrm_stat(ns, key):
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        libc.setns(fd, CLONE_NEWNET)
        with open("/proc/thread-self/net/xfrm_stat") as f:
            for line in f:
                k, v = line.split()
                if k == key:
                    return int(v)
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)
    return None


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


class Pinger:
    """Echo requests from src (inside ns) to dst: what crosses the tunnel."""

    def __init__(self, ns, src, dst, ident):
        self.ns, self.dst, self.ident = ns, dst, ident & 0xFFFF
        self.sock = icmp_socket_in(ns, src)
        self.seq, self.sent, self.got, self.sent_at = 0, 0, set(), 0.0

    def send(self):
        self.seq += 1
        body = struct.pack("!d", time.time()) + b"vpnpt-vm" * 4
        hdr = struct.pack("!BBHHH", 8, 0, 0, self.ident, self.seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + body), self.ident, self.seq) + body
        self.sock.sendto(pkt, (self.dst, 0))
        self.sent += 1
        self.sent_at = time.monotonic()

    def receive(self):
        buf, addr = self.sock.recvfrom(65535)
        ihl = (buf[0] & 0x0F) * 4
        typ, _, _, ident, seq = struct.unpack("!BBHHH", buf[ihl:ihl + 8])
        if typ == 0 and ident == self.ident and addr[0] == self.dst:
            self.got.add(seq)


def ns_index(ns):
    return int("".join(c for c in ns if c.isdigit()) or 0)


def src_of(template, ns):
    return template.replace("{i}", str(ns_index(ns)))


def ping(a):
    """ping --src 10.1.{i}.1 --dst 10.0.0.1 --count N NS...: all at once."""
    ps = [Pinger(ns, src_of(a.src, ns), a.dst, 0x5600 + ns_index(ns)) for ns in a.ns]
    end_send = time.monotonic() + a.count * a.interval
    for p in ps:
        p.send()
    while True:
        now = time.monotonic()
        if now > end_send + a.wait:
            break
        r, _, _ = select.select([p.sock for p in ps], [], [], 0.05)
        for sk in r:
            next(p for p in ps if p.sock is sk).receive()
        for p in ps:
            if p.sent < a.count and now - p.sent_at >= a.interval:
                p.send()
        if all(p.sent == a.count and len(p.got) == a.count for p in ps):
            break
    bad = 0
    for p in ps:
        nostates = xfrm_stat(p.ns, "XfrmInNoStates")
        print("%s %d/%d XfrmInNoStates=%s" % (p.ns, len(p.got), p.sent, nostates))
        if len(p.got) < a.min or nostates:
            bad += 1
    return 1 if bad else 0


class Initiator:
    def __init__(self, ns, peer, state_dir, steps, then=None):
        self.ns, self.peer, self.path = ns, peer, os.path.join(state_dir, ns + ".json")
        self.then, self.proc = then, None
        self.pinger = None
        self.sock = socket_in(ns)
        try:
            with open(self.path) as f:
                self.st = json.load(f)
        except FileNotFoundError:
            self.st = dict(ispi=secrets.randbits(64) | 1, rspi=0, msgid=0)
        self.steps = list(steps)
        self.sent_at = 0.0
        self.done = not self.steps

    def request(self):
        exch = self.steps[0]
        body = payload(secrets.token_bytes(40 if exch == IKE_SA_INIT else 64))
        np = P_SA if exch == IKE_SA_INIT else P_SK
        pkt = header(self.st["ispi"], self.st["rspi"], np, exch, F_INITIATOR, self.st["msgid"], body)
        self.sock.sendto(pkt, (self.peer, 500))
        self.sent_at = time.monotonic()

    def receive(self):
        buf, _ = self.sock.recvfrom(65535)
        h = parse_header(buf)
        if (not h or not h.flags & F_RESPONSE or h.ispi != self.st["ispi"]
                or h.msgid != self.st["msgid"] or h.exch != self.steps[0]):
            return
        self.st["rspi"] = h.rspi
        self.st["msgid"] += 1
        self.steps.pop(0)
        if self.steps:
            self.request()
        else:
            self.done = True
            with open(self.path, "w") as f:
                json.dump(self.st, f)
            if self.pinger:
                self.pinger.send()
            if self.then:
                out = open(self.path[:-5] + ".then", "w")
                self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "sh", "-c",
                                              self.then.replace("{ns}", self.ns)],
                                             stdout=out, stderr=subprocess.STDOUT,
                                             env=dict(os.environ, NS=self.ns))


def exchange(a):
    steps = [IKE_SA_INIT, IKE_AUTH] if a.init_auth else [CREATE_CHILD_SA]
    peers = [Initiator(ns, a.peer, a.state_dir, steps, a.then) for ns in a.ns]
    if a.ping_src:
        for p in peers:
            p.pinger = Pinger(p.ns, src_of(a.ping_src, p.ns), a.ping_dst, 0x5600 + ns_index(p.ns))
    for p in peers:
        p.request()
    deadline = time.monotonic() + a.timeout

    def pinging(p):
        return p.pinger and p.done and not p.pinger.got
    while time.monotonic() < deadline and not all(p.done and not pinging(p) for p in peers):
        socks = {}
        for p in peers:
            if not p.done:
                socks[p.sock] = p.receive
            elif pinging(p):
                socks[p.pinger.sock] = p.pinger.receive
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for sk in r:
            socks[sk]()
        now = time.monotonic()
        for p in peers:
            if not p.done and now - p.sent_at >= 1.0:
                p.request()         # retransmission: same message ID
            elif pinging(p) and now - p.pinger.sent_at >= 0.5:
                p.pinger.send()     # first traffic: until the first reply
    late = [p.ns for p in peers if not p.done]
    unpinged = [p.ns for p in peers if pinging(p)]
    if unpinged:
        print("ike: no echo reply through the tunnel within %ss for: %s" % (a.timeout, " ".join(unpinged)),
              file=sys.stderr)
        return 1
    failed = [p.ns for p in peers if p.proc and p.proc.wait() != 0]
    if late:
        print("ike: no answer within %ss for: %s" % (a.timeout, " ".join(late)), file=sys.stderr)
    if failed:
        print("ike: --then failed in: %s" % " ".join(failed), file=sys.stderr)
    return 1 if late or failed else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    rs = sub.add_parser("respond")
    rs.add_argument("--bind", nargs="+", default=["0.0.0.0"])
    ex = sub.add_parser("exchange")
    ex.add_argument("--peer", required=True)
    ex.add_argument("--state-dir", default="/tmp")
    ex.add_argument("--timeout", type=float, default=30)
    ex.add_argument("--then")
    ex.add_argument("--ping-src", help="after the exchange, ping from this inner address ({i}: NS's number)")
    ex.add_argument("--ping-dst", default="10.0.0.1")
    pg = sub.add_parser("ping")
    pg.add_argument("--src", required=True, help="source address, {i}: the namespace's number")
    pg.add_argument("--dst", required=True)
    pg.add_argument("--count", type=int, default=5)
    pg.add_argument("--min", type=int, default=4, help="replies each namespace must get")
    pg.add_argument("--interval", type=float, default=0.2)
    pg.add_argument("--wait", type=float, default=3.0)
    pg.add_argument("ns", nargs="+")
    g = ex.add_mutually_exclusive_group(required=True)
    g.add_argument("--init-auth", action="store_true")
    g.add_argument("--create", action="store_true")
    ex.add_argument("ns", nargs="+")
    a = ap.parse_args()
    return {"respond": lambda: respond(a.bind), "exchange": lambda: exchange(a), "ping": lambda: ping(a)}[a.cmd]()


if __name__ == "__main__":
    sys.exit(main())
