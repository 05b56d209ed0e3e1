#!/usr/bin/python3
"""Steady sessions for failover tests: a packet every 1/RATE s, each answered.

Every client message carries a trailer "STREAM <session> <seq>" after a
message of the protocol the ports say (an L2TP HELLO on 1701, a NAT-T
INFORMATIONAL with the non-ESP marker on 4500, bare data otherwise); the
server answers with "ECHO <session> <seq>". The server pins each session to
the address and port it first came from and always answers there, as a peer
that identifies a session by its address does (an L2TP LNS, a NAT-T
responder until an authenticated address update): when a NAT gives the
session another public port, the answers go to the old one.

  stream.py server --port P [--port Q ...]
  stream.py client SERVER --port P --sport S --session NAME [--rate 20]
                   --stop FILE --t0 FILE
  stream.py pptp SERVER --tag T [--call-id 1] [--rate 20] --stop FILE --t0 FILE
      A PPTP call to tests/peers/pptp.py server (control connection on TCP
      1723, then GRE); at the end a second Outgoing-Call-Request on the same
      control connection checks that it still carries.

Clients send until FILE --stop exists, then wait 1 s for late answers and
log one "done" line: sent, answered, lost (sent - answered), gap_s (the
longest time without an answer), recovery_s (from the time in the --t0 file,
when the test cut the old router off, to the first answer after the first
pause of 0.5 s or more that ends after it; 0 when there was none; null when
the session never came back), tail_lost (unanswered among the packets of
the last 2 s before the stop: not zero means the session is not carrying).
Exit 0 when tail_lost is 0.
"""

import argparse
import os
import select
import socket
import struct
import time

import ike
import l2tp
import pptp
from peerlib import addr, die, log, raw_socket, udp_socket

TAIL_S = 2.0
OUTAGE_S = 0.5       # a pause between answers this long is an outage


def wrap(port, payload):
    if port == 1701:
        return l2tp.message(1, 0, 0, l2tp.HELLO) + payload
    if port == 4500:
        return ike.NON_ESP_MARKER + ike.encrypted(0x5353535353535353, 0x5252525252525252, ike.INFORMATIONAL,
                                                  ike.F_INITIATOR, 2) + payload
    return payload


def trailer(data, word):
    i = data.rfind(word + b" ")
    if i < 0:
        return None
    parts = data[i:].split()
    if len(parts) != 3:
        return None
    return parts[1].decode(errors="replace"), int(parts[2])


# ---- server ------------------------------------------------------------------

def server(args):
    socks = [udp_socket(p) for p in args.port]
    pinned = {}              # session -> first (ip, port)
    log("listen", port=args.port)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            data, peer = s.recvfrom(65535)
            t = trailer(data, b"STREAM")
            if t is None:
                continue
            session, seq = t
            first = pinned.setdefault(session, peer)
            if first != peer and seq % 20 == 0:
                log("moved", session=session, first=addr(first), now=addr(peer), seq=seq)
            s.sendto(wrap(s.getsockname()[1], b"ECHO %s %d" % (session.encode(), seq)), first)


# ---- clients -----------------------------------------------------------------

class Meter:
    """Send times and answer times of one session's packets."""

    def __init__(self, args):
        self.args = args
        self.sent = {}       # seq -> time sent
        self.got = {}        # seq -> time answered

    def answered(self, seq):
        if seq in self.sent and seq not in self.got:
            self.got[seq] = time.time()
            if len(self.got) == 1:
                log("up")

    def run(self, send, recv_ready, fd):
        """Send every 1/rate s until the stop file exists; RECV_READY() reads answers."""
        period, seq = 1.0 / self.args.rate, 0
        nxt = time.monotonic()
        stop_at = None
        while True:
            now = time.monotonic()
            if stop_at is None and os.path.exists(self.args.stop):
                stop_at = now + 1.0
            if stop_at is not None and now >= stop_at:
                break
            if stop_at is None and now >= nxt:
                seq += 1
                self.sent[seq] = time.time()
                try:
                    send(seq)
                except OSError:
                    pass     # no route while the addresses move: a lost packet
                nxt += period
            wait = max(0.0, min(nxt, stop_at or nxt) - time.monotonic())
            r, _, _ = select.select([fd], [], [], wait)
            if r:
                recv_ready()
        return self.report()

    def report(self):
        sent, got = self.sent, self.got
        times = sorted(got.values())
        gap = max((b - a for a, b in zip(times, times[1:])), default=None)
        t0 = None
        try:
            with open(self.args.t0) as f:
                t0 = float(f.read().strip())
        except (OSError, ValueError):
            pass
        recovery = None
        if t0 is not None and times and times[-1] > t0:
            recovery = 0.0   # no outage after the cut
            for a, b in zip(times, times[1:]):
                if b > t0 and b - a >= OUTAGE_S:
                    recovery = round(b - t0, 2)
                    break
        last = max(sent.values(), default=0)
        tail = [s for s in sent if sent[s] >= last - TAIL_S]
        tail_lost = sum(1 for s in tail if s not in got)
        if tail and tail_lost == len(tail):
            recovery = None  # never came back
        log("done", sent=len(sent), answered=len(got), lost=len(sent) - len(got),
            gap_s=round(gap, 2) if gap is not None else None, recovery_s=recovery,
            tail_sent=len(tail), tail_lost=tail_lost)
        return 0 if sent and tail_lost == 0 else 1


def client(args):
    m = Meter(args)
    s = udp_socket(args.sport)
    dst = (args.server, args.port)
    session = args.session.encode()

    def send(seq):
        s.sendto(wrap(args.port, b"STREAM %s %d" % (session, seq)), dst)

    def recv():
        data, peer = s.recvfrom(65535)
        t = trailer(data, b"ECHO")
        if t and t[0] == args.session:
            m.answered(t[1])
        elif t:
            log("foreign", session=t[0], seq=t[1], peer=addr(peer))

    return m.run(send, recv, s)


def pptp_client(args):
    m = Meter(args)
    graw = raw_socket(pptp.IPPROTO_GRE)
    sock = socket.create_connection((args.server, pptp.PPTP_PORT), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(call_id, serial):
        sock.sendall(pptp.ctrl(pptp.OCRQ, struct.pack(
            pptp.OCRQ_FMT, call_id, serial, 2400, 10000000, 3, 3, 64, 0, 0, 0, b"", b"")))
        r = pptp.recv_ctrl(sock)
        if not r or r[0] != pptp.OCRP:
            return None
        return struct.unpack(pptp.OCRP_FMT, r[1][:20])[0]

    sock.sendall(pptp.ctrl(pptp.SCCRQ, struct.pack(
        pptp.SCCRQ_FMT, 0x0100, 0, 3, 3, 0, 1, args.tag.encode(), b"vpnpt-lab")))
    r = pptp.recv_ctrl(sock)
    if not r or r[0] != pptp.SCCRP:
        die("no Start-Control-Connection-Reply")
    pac_id = call(args.call_id, 1)
    if pac_id is None:
        die("no Outgoing-Call-Reply")
    log("call", call_id=args.call_id, pac_call_id=pac_id)

    def send(seq):
        graw.sendto(pptp.gre(pac_id, seq, b"%s %d" % (args.tag.encode(), seq)), (args.server, 0))

    def recv():
        src, data = pptp.strip_ip(graw.recv(65535))
        g = pptp.parse_gre(data)
        if g is None:
            return
        key, seq, payload = g
        if key == args.call_id and payload == b"echo %s %d" % (args.tag.encode(), seq):
            m.answered(seq)
        else:
            log("foreign", src=src, key=key, payload=payload.decode(errors="replace"))

    rc = m.run(send, recv, graw)
    # The control connection after failover: one more call on it.
    try:
        sock.settimeout(3)
        second = call(args.call_id + 1, 2)
    except OSError:
        second = None
    log("control", ok=second is not None, pac_call_id=second)
    return rc if second is not None else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, action="append", required=True)
    for name in ("client", "pptp"):
        c = sub.add_parser(name)
        c.add_argument("server")
        c.add_argument("--rate", type=float, default=20)
        c.add_argument("--stop", required=True)
        c.add_argument("--t0", required=True)
        if name == "client":
            c.add_argument("--port", type=int, required=True)
            c.add_argument("--sport", type=int, required=True)
            c.add_argument("--session", required=True)
        else:
            c.add_argument("--tag", required=True)
            c.add_argument("--call-id", type=int, default=1)
    args = ap.parse_args()
    fn = {"server": server, "client": client, "pptp": pptp_client}[args.mode]
    try:
        raise SystemExit(fn(args))
    except (OSError, ValueError) as e:
        die(str(e))


if __name__ == "__main__":
    main()
