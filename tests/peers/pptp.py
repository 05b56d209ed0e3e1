#!/usr/bin/python3
"""PPTP peers crafted from RFC 2637: a PAC (server) and a PNS (client).

Control connection (TCP 1723, RFC 2637 section 2): every message is one TCP
segment that starts with the 12-byte control header
    Length(2) PPTP-Message-Type(2)=1 Magic-Cookie(4)=0x1A2B3C4D
    Control-Message-Type(2) Reserved0(2)
The PNS sends Start-Control-Connection-Request (1), the PAC answers with a
Reply (2); the PNS then sends Outgoing-Call-Request (7) carrying its Call ID
and the PAC answers Outgoing-Call-Reply (8) with its own Call ID and the
PNS's as Peer's Call ID. Linux's PPTP conntrack helper follows exactly this
exchange, and its NAT half rewrites the PNS's Call ID, so two LAN hosts that
both pick Call ID 1 stay apart behind one address.

Data (RFC 2637 section 4.1): enhanced GRE, version 1, protocol 0x880B, whose
Key field holds the *peer's* Call ID: PNS->PAC packets carry the PAC's ID,
PAC->PNS packets the PNS's (as the PAC saw it, i.e. translated by the NAT).

  pptp.py server [--call-base N]
      Accept any number of control connections; answer each GRE packet
      keyed with one of its calls by a GRE packet to that call's peer keyed
      with the peer's Call ID and payload "echo <payload>". Logs JSON lines.
  pptp.py client SERVER [--call-id 1] [--tag T] [--count N] [--hold S]
      Open a control connection and a call, send N GRE packets with payload
      "<T> <i>", and expect N replies keyed with our own Call ID carrying
      exactly our payloads. Exit 0 when all came back and nothing foreign
      did, else 1. --hold keeps the call up S seconds (one GRE echo a second).
"""

import argparse
import os
import select
import socket
import struct
import threading
import time

from peerlib import Deadline, addr, die, log, raw_socket, run, strip_ip

PPTP_PORT = 1723
MAGIC = 0x1A2B3C4D
CONTROL = 1
SCCRQ, SCCRP, STOPCCRQ, STOPCCRP = 1, 2, 3, 4
OCRQ, OCRP = 7, 8
IPPROTO_GRE = 47
GRE_PPTP = 0x880B

# Message bodies after the 12-byte header (struct formats, network order).
# SCCRQ/SCCRP: Protocol-Version, (Reserved1 | Result+Error), Framing Caps,
# Bearer Caps, Maximum Channels, Firmware Revision, Host Name, Vendor String.
SCCRQ_FMT = "!HHIIHH64s64s"
SCCRP_FMT = "!HBBIIHH64s64s"
# OCRQ: Call ID, Call Serial Number, Min BPS, Max BPS, Bearer Type, Framing
# Type, Packet Recv Window Size, Packet Processing Delay, Phone Number
# Length, Reserved1, Phone Number, Subaddress.
OCRQ_FMT = "!HHIIIIHHHH64s64s"
# OCRP: Call ID, Peer's Call ID, Result Code, Error Code, Cause Code,
# Connect Speed, Packet Recv Window Size, Packet Processing Delay,
# Physical Channel ID.
OCRP_FMT = "!HHBBHIHHI"


def ctrl(msg_type, body):
    hdr = struct.pack("!HHIHH", 12 + len(body), CONTROL, MAGIC, msg_type, 0)
    return hdr + body


def recv_ctrl(sock):
    """Read one control message; return (type, body) or None on EOF."""
    hdr = recv_exact(sock, 12)
    if hdr is None:
        return None
    length, ptype, magic, mtype, _ = struct.unpack("!HHIHH", hdr)
    if ptype != CONTROL or magic != MAGIC or length < 12:
        raise ValueError(f"not a PPTP control message (type {ptype}, cookie {magic:#x})")
    body = recv_exact(sock, length - 12)
    if body is None:
        return None
    return mtype, body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def gre(key, seq, payload):
    """Enhanced GRE header (RFC 2637 4.1): K and S bits, version 1."""
    flags = 0x2000 | 0x1000 | 0x0001
    return struct.pack("!HHHHI", flags, GRE_PPTP, len(payload), key, seq) + payload


def parse_gre(data):
    """Return (key, seq, payload) of an enhanced GRE packet, or None."""
    if len(data) < 8:
        return None
    flags, proto, plen, key = struct.unpack("!HHHH", data[:8])
    if flags & 0x7 != 1 or proto != GRE_PPTP or not flags & 0x2000:
        return None          # not version 1 / not PPP / no key: not PPTP GRE
    off, seq = 8, None
    if flags & 0x1000:
        (seq,) = struct.unpack("!I", data[off:off + 4])
        off += 4
    if flags & 0x0080:
        off += 4             # acknowledgment number
    return key, seq, data[off:off + plen]


# ---- PAC ------------------------------------------------------------------

class Pac:
    def __init__(self, call_base):
        self.lock = threading.Lock()
        self.next_call = call_base
        self.calls = {}      # our Call ID -> (peer ip, peer's Call ID)

    def control(self, conn, peer):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                m = recv_ctrl(conn)
                if m is None:
                    break
                mtype, body = m
                if mtype == SCCRQ:
                    ver, _, framing, bearer, _, _, host, _ = struct.unpack(SCCRQ_FMT, body[:156 - 12])
                    log("sccrq", peer=addr(peer), version=ver,
                        host=host.rstrip(b"\0").decode(errors="replace"))
                    conn.sendall(ctrl(SCCRP, struct.pack(
                        SCCRP_FMT, 0x0100, 1, 0, 3, 3, 0, 1, b"lab-pac", b"vpnpt-lab")))
                elif mtype == OCRQ:
                    f = struct.unpack(OCRQ_FMT, body[:168 - 12])
                    pns_id, serial = f[0], f[1]
                    with self.lock:
                        ours = self.next_call
                        self.next_call += 1
                        self.calls[ours] = (peer[0], pns_id)
                    log("ocrq", peer=addr(peer), call_id=pns_id, serial=serial, pac_call_id=ours)
                    conn.sendall(ctrl(OCRP, struct.pack(
                        OCRP_FMT, ours, pns_id, 1, 0, 0, 10000000, 64, 0, 0)))
                elif mtype == STOPCCRQ:
                    log("stopccrq", peer=addr(peer))
                    conn.sendall(ctrl(STOPCCRP, struct.pack("!BBH", 1, 0, 0)))
                else:
                    log("ctrl", peer=addr(peer), type=mtype)
        except (OSError, ValueError) as e:
            log("ctrl-error", peer=addr(peer), error=str(e))
        finally:
            log("close", peer=addr(peer))
            conn.close()

    def gre_loop(self, sock):
        while True:
            pkt = sock.recv(65535)
            src, data = strip_ip(pkt)
            g = parse_gre(data)
            if g is None:
                log("gre-bogus", src=src)
                continue
            key, seq, payload = g
            with self.lock:
                call = self.calls.get(key)
            if call is None:
                log("gre-unknown", src=src, key=key, payload=payload.decode(errors="replace"))
                continue
            peer_ip, peer_id = call
            log("gre", src=src, key=key, seq=seq, payload=payload.decode(errors="replace"))
            reply = b"echo " + payload
            sock.sendto(gre(peer_id, seq or 0, reply), (peer_ip, 0))
            log("gre-reply", dst=peer_ip, key=peer_id, payload=reply.decode(errors="replace"))


def server(args):
    pac = Pac(args.call_base)
    graw = raw_socket(IPPROTO_GRE)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", PPTP_PORT))
    lsock.listen(16)
    threading.Thread(target=pac.gre_loop, args=(graw,), daemon=True).start()
    log("listen", port=PPTP_PORT)
    while True:
        conn, peer = lsock.accept()
        threading.Thread(target=pac.control, args=(conn, peer), daemon=True).start()


# ---- PNS ------------------------------------------------------------------

def client(args):
    dl = Deadline(args.timeout)
    graw = raw_socket(IPPROTO_GRE)
    sock = socket.create_connection((args.server, PPTP_PORT), timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    me = addr(sock.getsockname())

    sock.sendall(ctrl(SCCRQ, struct.pack(
        SCCRQ_FMT, 0x0100, 0, 3, 3, 0, 1, args.tag.encode(), b"vpnpt-lab")))
    m = recv_ctrl(sock)
    if not m or m[0] != SCCRP:
        die(f"no Start-Control-Connection-Reply (got {m and m[0]})")
    result = struct.unpack(SCCRP_FMT, m[1][:144])[1]
    if result != 1:
        die(f"Start-Control-Connection-Reply result code {result}")

    sock.sendall(ctrl(OCRQ, struct.pack(
        OCRQ_FMT, args.call_id, args.serial, 2400, 10000000, 3, 3, 64, 0, 0, 0, b"", b"")))
    m = recv_ctrl(sock)
    if not m or m[0] != OCRP:
        die(f"no Outgoing-Call-Reply (got {m and m[0]})")
    pac_id, peer_id, result = struct.unpack(OCRP_FMT, m[1][:20])[:3]
    log("call", local=me, call_id=args.call_id, pac_call_id=pac_id, peer_call_id=peer_id, result=result)
    if result != 1 or peer_id != args.call_id:
        die(f"Outgoing-Call-Reply: result {result}, peer's call id {peer_id} (ours {args.call_id})")

    sent, got, foreign = {}, set(), []

    def send(i):
        payload = f"{args.tag} {i}".encode()
        sent[i] = b"echo " + payload
        graw.sendto(gre(pac_id, i, payload), (args.server, 0))

    def drain(until):
        while not until.passed():
            r, _, _ = select.select([graw], [], [], until.left())
            if not r:
                break
            src, data = strip_ip(graw.recv(65535))
            g = parse_gre(data)
            if g is None:
                continue
            key, seq, payload = g
            if key == args.call_id and seq in sent and payload == sent[seq]:
                got.add(seq)
            else:
                foreign.append({"src": src, "key": key, "payload": payload.decode(errors="replace")})
                log("gre-foreign", **foreign[-1])
            if len(got) == len(sent) and until is dl:
                break

    for i in range(1, args.count + 1):
        send(i)
    drain(dl)
    drain(Deadline(0.5))     # anything meant for another host shows up too
    log("gre-result", sent=len(sent), replies=len(got), foreign=len(foreign))
    ok = len(got) == args.count and not foreign

    if args.hold:
        end = time.monotonic() + args.hold
        i = args.count
        while time.monotonic() < end:
            i += 1
            send(i)
            drain(Deadline(1.0))
        log("hold-done", sent=len(sent), replies=len(got), foreign=len(foreign))
    sock.close()
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server", help="PAC: accept calls, echo GRE")
    s.add_argument("--call-base", type=int, default=0x4001, help="first Call ID we assign")
    c = sub.add_parser("client", help="PNS: open one call, exchange GRE")
    c.add_argument("server")
    c.add_argument("--call-id", type=int, default=1)
    c.add_argument("--serial", type=int, default=1)
    c.add_argument("--tag", default=os.uname().nodename)
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--timeout", type=float, default=5.0)
    c.add_argument("--hold", type=float, default=0, help="seconds to keep the call up")
    run(ap, server, client, fatal=(OSError, ValueError))


if __name__ == "__main__":
    main()
