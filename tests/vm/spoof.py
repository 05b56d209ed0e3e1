#!/usr/bin/python3
"""tests/vm/spoof.py: what a hostile LAN host sends, for the t-attack-* tests.

Raw sockets only (no scapy: its import alone takes seconds under TCG). Each
stream is sent from inside a network namespace (setns(2) per socket, one
process for all), optionally with a forged source address (IP_HDRINCL: the
kernel does not check the source of a header we wrote).

  spoof.py ike --ns NS --dst ADDR [--src ADDR] [--exch 36] [--count N]
               [--interval S] [--init-first PEER]
      IKEv2 request headers (RFC 7296 3.1: Initiator flag, random initiator
      and responder SPIs, message ID 0, an opaque SK payload) on UDP 500 to
      ADDR:500, from --src:500 if given (forged), else from NS's own address.
      --init-first PEER: first one genuine IKE_SA_INIT from NS's own address
      to PEER (the attacker's own IKE SA: the router now knows PEER).
  spoof.py esp --stream SPEC [--stream SPEC...] [--pps N] [--duration S]
      ESP packets (SPI, sequence number, 64 bytes of junk) from every stream
      in turn, N packets per second in all, for S seconds (0: until killed).
      SPEC is comma-separated key=value: ns=NS (required), dst=ADDR
      (required), ndst=K (cycle through K consecutive destinations from
      dst), src=ADDR (forged source; default: NS's own), spi=N (fixed; with
      ndst, N+k to the k-th destination), spi=random (a new SPI per packet)
      or spi=seq (0x10000 + the packet's number: a new SPI per packet, the
      same in every run). --count N: stop after N packets; --pps 0: as fast
      as the sockets take them.
      --follow: a stream whose namespace is deleted pauses, and resumes in
      the namespace created next under that name (one flood for many labs).
      The first packet a stream gets out in a namespace prints "up NS INODE"
      (the inode of /run/netns/NS).
      Prints "running: N sent" once --report packets (100) are out, and
      "sent N" at the end (SIGTERM/SIGINT end it cleanly too).
"""
import argparse
import ctypes
import ipaddress
import os
import secrets
import signal
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
IPPROTO_ESP = 50
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def in_ns(ns, fn):
    """Run fn() inside network namespace ns (sockets keep their namespace)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        return fn()
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


def ip_header(src, dst, proto, payload_len):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, secrets.randbits(16), 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", checksum(h)) + h[12:]


def raw_socket(ns):
    """A socket that sends whole IP packets we built (forged source)."""
    def mk():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        return s
    return in_ns(ns, mk)


def ike_request(exch, ispi, rspi, msgid, body_len=64):
    body = struct.pack("!BBH", 0, 0, 4 + body_len) + secrets.token_bytes(body_len)
    np = 33 if exch == 34 else 46      # SA for IKE_SA_INIT, else SK
    return struct.pack("!QQBBBBII", ispi, rspi, np, 0x20, exch, 0x08, msgid, 28 + len(body)) + body


def cmd_ike(a):
    if a.init_first:
        def mk():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 500))
            return s
        s = in_ns(a.ns, mk)
        s.sendto(ike_request(34, secrets.randbits(64) | 1, 0, 0), (a.init_first, 500))
        s.close()
    if a.src:
        s = raw_socket(a.ns)
    else:
        def mk():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            u.bind(("0.0.0.0", 500))
            return u
        s = in_ns(a.ns, mk)
    for k in range(a.count):
        if k:
            time.sleep(a.interval)
        ike = ike_request(a.exch, secrets.randbits(64) | 1, secrets.randbits(64) | 1, 0)
        if a.src:
            udp = struct.pack("!HHHH", 500, 500, 8 + len(ike), 0) + ike   # checksum 0: none (IPv4)
            s.sendto(ip_header(a.src, a.dst, socket.IPPROTO_UDP, len(udp)) + udp, (a.dst, 0))
        else:
            s.sendto(ike, (a.dst, 500))
    print("sent %d" % a.count, flush=True)
    return 0


class Stream:
    def __init__(self, spec):
        kv = dict(p.split("=", 1) for p in spec.split(","))
        self.ns, self.src = kv["ns"], kv.get("src")
        base = int(ipaddress.IPv4Address(kv["dst"]))
        self.dsts = [str(ipaddress.IPv4Address(base + k)) for k in range(int(kv.get("ndst", 1)))]
        spi = kv.get("spi", "random")
        self.seq_spi = spi == "seq"
        self.spi = None if spi in ("random", "seq") else int(spi, 0)
        self.sock, self.ino, self.checked, self.up = None, None, 0.0, False
        self.k = 0
        self.seq = 0
        self.open()

    def open(self):
        self.up = False
        if self.sock:
            self.sock.close()
            self.sock = None
        try:
            self.ino = os.stat("/run/netns/" + self.ns).st_ino
            if self.src:
                self.sock = raw_socket(self.ns)
            else:
                self.sock = in_ns(self.ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_ESP))
        except OSError:
            self.sock, self.ino = None, None

    def follow(self):
        """--follow: reopen when NS was deleted and created again."""
        now = time.monotonic()
        if now - self.checked < 0.1:
            return
        self.checked = now
        try:
            ino = os.stat("/run/netns/" + self.ns).st_ino
        except OSError:
            ino = None
        if ino != self.ino:
            self.open()

    def send(self):
        if not self.sock:
            return 0
        i = self.k % len(self.dsts)
        dst = self.dsts[i]
        self.k += 1
        self.seq += 1
        if self.seq_spi:
            spi = 0x10000 + self.k - 1
        elif self.spi is None:
            spi = secrets.randbits(32) | 0x100
        else:
            spi = self.spi + i
        esp = struct.pack("!II", spi, self.seq) + secrets.token_bytes(64)
        try:
            if self.src:
                self.sock.sendto(ip_header(self.src, dst, IPPROTO_ESP, len(esp)) + esp, (dst, 0))
            else:
                self.sock.sendto(esp, (dst, 0))
            if not self.up:
                self.up = True
                print("up %s %s" % (self.ns, self.ino), flush=True)
        except OSError:
            pass    # the namespace or its route went away under us: keep going
        return 1


stop = False


def cmd_esp(a):
    global stop

    def end(*_):
        global stop
        stop = True
    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGINT, end)
    streams = [Stream(s) for s in a.stream]
    sent = 0
    t0 = time.monotonic()
    gap = 1.0 / a.pps if a.pps > 0 else 0
    nxt = t0
    while not stop and (a.duration <= 0 or time.monotonic() - t0 < a.duration) and \
            (a.count <= 0 or sent < a.count):
        for st in streams:
            if a.follow:
                st.follow()
            sent += st.send()
        if sent == a.report:
            print("running: %d sent" % sent, flush=True)
        if not gap:
            continue
        nxt += gap * len(streams)
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        elif d < -1:
            nxt = time.monotonic()     # cannot keep up: do not burst
    print("sent %d" % sent, flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    ik = sub.add_parser("ike")
    ik.add_argument("--ns", required=True)
    ik.add_argument("--dst", required=True)
    ik.add_argument("--src")
    ik.add_argument("--exch", type=int, default=36)
    ik.add_argument("--count", type=int, default=1)
    ik.add_argument("--interval", type=float, default=1.0)
    ik.add_argument("--init-first")
    es = sub.add_parser("esp")
    es.add_argument("--stream", action="append", required=True)
    es.add_argument("--pps", type=float, default=100)
    es.add_argument("--duration", type=float, default=0)
    es.add_argument("--count", type=int, default=0, help="stop after this many packets (0: no limit)")
    es.add_argument("--follow", action="store_true", help="outlive NS: reopen when it is created again")
    es.add_argument("--report", type=int, default=100, help='print "running" after this many packets')
    a = ap.parse_args()
    return cmd_ike(a) if a.cmd == "ike" else cmd_esp(a)


if __name__ == "__main__":
    sys.exit(main())
