#!/usr/bin/python3
"""tests/vm/ike.py: crafted IKEv2 exchanges (RFC 7296 headers) for the VM tests.

The ESP SAs of the mux tests are keyed by hand (ip xfrm); what vpnpt_esp
needs to see before a child SA's ESP is the IKE that would have negotiated
it. This sends exactly that: real IKEv2 headers (section 3.1) on UDP 500,
with opaque payloads in place of the SA/KE/Nonce and the encrypted (SK)
payload, which is all a middlebox can read of IKE anyway.

  ike.py respond
      in the server's namespace: answer every request on UDP 500 with a
      response of the same exchange (R flag, a responder SPI of its own)
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
"""
import subprocess
import argparse
import ctypes
import json
import os
import secrets
import select
import socket
import struct
import sys
import time

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA = 34, 35, 36
FLAG_I, FLAG_R = 0x08, 0x20
NP_SA, NP_SK = 33, 46
CLONE_NEWNET = 0x40000000


def header(ispi, rspi, np, exch, flags, msgid, body):
    # RFC 7296 3.1: SPIi, SPIr, Next Payload, Version 2.0, Exchange, Flags, Message ID, Length
    return struct.pack("!QQBBBBII", ispi, rspi, np, 0x20, exch, flags, msgid, 28 + len(body)) + body


def payload(body):
    # generic payload header (3.2): next payload none, not critical, length
    return struct.pack("!BBH", 0, 0, 4 + len(body)) + body


def parse(buf):
    if len(buf) < 28:
        return None
    ispi, rspi, np, ver, exch, flags, msgid, length = struct.unpack("!QQBBBBII", buf[:28])
    return dict(ispi=ispi, rspi=rspi, exch=exch, flags=flags, msgid=msgid, ver=ver)


def respond():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 500))
    rspis = {}
    print("ike: responder on udp/500", flush=True)
    while True:
        buf, addr = s.recvfrom(65535)
        h = parse(buf)
        if not h or h["flags"] & FLAG_R or h["ver"] >> 4 != 2:
            continue
        key = (addr, h["ispi"])
        if h["exch"] == IKE_SA_INIT:
            rspi = rspis.setdefault(key, secrets.randbits(64) | 1)
            body, np = payload(secrets.token_bytes(40)), NP_SA
        else:
            rspi = rspis.get(key, h["rspi"])
            body, np = payload(secrets.token_bytes(64)), NP_SK
        s.sendto(header(h["ispi"], rspi, np, h["exch"], FLAG_R, h["msgid"], body), addr)


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


class Initiator:
    def __init__(self, ns, peer, state_dir, steps, then=None):
        self.ns, self.peer, self.path = ns, peer, os.path.join(state_dir, ns + ".json")
        self.then, self.proc = then, None
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
        np = NP_SA if exch == IKE_SA_INIT else NP_SK
        pkt = header(self.st["ispi"], self.st["rspi"], np, exch, FLAG_I, self.st["msgid"], body)
        self.sock.sendto(pkt, (self.peer, 500))
        self.sent_at = time.monotonic()

    def receive(self):
        buf, _ = self.sock.recvfrom(65535)
        h = parse(buf)
        if (not h or not h["flags"] & FLAG_R or h["ispi"] != self.st["ispi"]
                or h["msgid"] != self.st["msgid"] or h["exch"] != self.steps[0]):
            return
        self.st["rspi"] = h["rspi"]
        self.st["msgid"] += 1
        self.steps.pop(0)
        if self.steps:
            self.request()
        else:
            self.done = True
            with open(self.path, "w") as f:
                json.dump(self.st, f)
            if self.then:
                out = open(self.path[:-5] + ".then", "w")
                self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "sh", "-c",
                                              self.then.replace("{ns}", self.ns)],
                                             stdout=out, stderr=subprocess.STDOUT,
                                             env=dict(os.environ, NS=self.ns))


def exchange(a):
    steps = [IKE_SA_INIT, IKE_AUTH] if a.init_auth else [CREATE_CHILD_SA]
    peers = [Initiator(ns, a.peer, a.state_dir, steps, a.then) for ns in a.ns]
    for p in peers:
        p.request()
    deadline = time.monotonic() + a.timeout
    while not all(p.done for p in peers) and time.monotonic() < deadline:
        waiting = {p.sock.fileno(): p for p in peers if not p.done}
        r, _, _ = select.select(list(waiting), [], [], 0.2)
        for fd in r:
            waiting[fd].receive()
        now = time.monotonic()
        for p in waiting.values():
            if not p.done and now - p.sent_at >= 1.0:
                p.request()         # retransmission: same message ID
    late = [p.ns for p in peers if not p.done]
    failed = [p.ns for p in peers if p.proc and p.proc.wait() != 0]
    if late:
        print("ike: no answer within %ss for: %s" % (a.timeout, " ".join(late)), file=sys.stderr)
    if failed:
        print("ike: --then failed in: %s" % " ".join(failed), file=sys.stderr)
    return 1 if late or failed else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("respond")
    ex = sub.add_parser("exchange")
    ex.add_argument("--peer", required=True)
    ex.add_argument("--state-dir", default="/tmp")
    ex.add_argument("--timeout", type=float, default=30)
    ex.add_argument("--then")
    g = ex.add_mutually_exclusive_group(required=True)
    g.add_argument("--init-auth", action="store_true")
    g.add_argument("--create", action="store_true")
    ex.add_argument("ns", nargs="+")
    a = ap.parse_args()
    return respond() if a.cmd == "respond" else exchange(a)


if __name__ == "__main__":
    sys.exit(main())
