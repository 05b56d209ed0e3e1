#!/usr/bin/python3
"""L2TP control-connection peers over UDP 1701, crafted from RFC 2661.

Control message header (RFC 2661 section 3.1), 12 bytes:
    T=1 L=1 S=1 Ver=2 (0xC802), Length, Tunnel ID, Session ID, Ns, Nr
followed by AVPs (section 4.1): M|H|rsvd|Length(10 bits), Vendor ID,
Attribute Type, value; the first is always Message Type.

Tunnel establishment (section 5.1): the LAC or LNS that opens the tunnel
sends SCCRQ (1) with Tunnel ID 0 in the header and its own Assigned Tunnel
ID AVP; the peer answers SCCRP (2) addressed to that ID and carrying its
own; the opener confirms with SCCCN (3) and the peer acknowledges with a
ZLB (a header with no AVPs). Section 8.1: the answering side may reply from
a UDP port other than 1701, and the opener must then use that port: this is
the reply a plain NAT drops, and what --reply-port exercises.

  l2tp.py server [--reply-port N]
      Listen on UDP 1701; answer each SCCRQ (from port N when given) and ack
      each SCCCN and HELLO with a ZLB. Logs JSON lines.
  l2tp.py client SERVER [--sport 1701] [--tid N] [--hold S]
      Send SCCRQ, accept SCCRP from any server port, send SCCCN there and
      wait for the ZLB. Exit 0 when the tunnel came up, else 1. --hold keeps
      it up S seconds with one HELLO a second.
"""

import argparse
import random
import select
import struct
import time

from peerlib import Deadline, addr, log, run, udp_socket

L2TP_PORT = 1701
HDR = 0xC802                 # T, L, S bits; version 2
SCCRQ, SCCRP, SCCCN, STOPCCN, HELLO = 1, 2, 3, 4, 6
AVP_MSG_TYPE, AVP_PROTO_VER, AVP_FRAMING, AVP_HOST, AVP_TUNNEL_ID, AVP_RWS = 0, 2, 3, 7, 9, 10


def avp(attr, value, mandatory=True):
    flags_len = (0x8000 if mandatory else 0) | (6 + len(value))
    return struct.pack("!HHH", flags_len, 0, attr) + value


def message(tid, ns, nr, mtype=None, avps=b""):
    """A control message to tunnel TID; a ZLB when MTYPE is None."""
    body = b"" if mtype is None else avp(AVP_MSG_TYPE, struct.pack("!H", mtype)) + avps
    return struct.pack("!HHHHHH", HDR, 12 + len(body), tid, 0, ns, nr) + body


def sccr_avps(host, my_tid):
    return (avp(AVP_PROTO_VER, bytes([1, 0])) + avp(AVP_FRAMING, struct.pack("!I", 3)) +
            avp(AVP_HOST, host.encode()) + avp(AVP_TUNNEL_ID, struct.pack("!H", my_tid)) +
            avp(AVP_RWS, struct.pack("!H", 4)))


def parse(data):
    """Return (tid, ns, nr, message type or None for a ZLB, {attr: value})."""
    if len(data) < 12:
        raise ValueError("short L2TP packet")
    flags, length, tid, _sid, ns, nr = struct.unpack("!HHHHHH", data[:12])
    if flags & 0x8000 == 0 or flags & 0xF != 2:
        raise ValueError(f"not an L2TPv2 control message (flags {flags:#x})")
    avps, off = {}, 12
    while off + 6 <= min(length, len(data)):
        fl, _vendor, attr = struct.unpack("!HHH", data[off:off + 6])
        alen = fl & 0x3FF
        if alen < 6:
            raise ValueError("bad AVP length")
        avps[attr] = data[off + 6:off + alen]
        off += alen
    mtype = struct.unpack("!H", avps[AVP_MSG_TYPE])[0] if AVP_MSG_TYPE in avps else None
    return tid, ns, nr, mtype, avps


# ---- server (the side that answers) ---------------------------------------

def server(args):
    main = udp_socket(L2TP_PORT)
    reply = main if args.reply_port in (None, L2TP_PORT) else udp_socket(args.reply_port)
    socks = [main] if reply is main else [main, reply]
    tunnels = {}             # our tunnel id -> (peer tid, peer address)
    next_tid = 0x200
    log("listen", port=L2TP_PORT, reply_port=reply.getsockname()[1])
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            data, peer = s.recvfrom(65535)
            try:
                tid, ns, nr, mtype, avps = parse(data)
            except ValueError as e:
                log("bogus", peer=addr(peer), port=s.getsockname()[1], error=str(e))
                continue
            here = s.getsockname()[1]
            if mtype == SCCRQ:
                peer_tid = struct.unpack("!H", avps[AVP_TUNNEL_ID])[0]
                host = avps.get(AVP_HOST, b"").decode(errors="replace")
                next_tid += 1
                tunnels[next_tid] = (peer_tid, peer)
                log("sccrq", peer=addr(peer), port=here, tunnel_id=peer_tid, host=host)
                reply.sendto(message(peer_tid, 0, ns + 1, SCCRP, sccr_avps("lab-lns", next_tid)), peer)
                log("sccrp", peer=addr(peer), from_port=reply.getsockname()[1], tunnel_id=next_tid)
            elif tid in tunnels and mtype is not None:
                peer_tid, first = tunnels[tid]
                log({SCCCN: "scccn", HELLO: "hello", STOPCCN: "stopccn"}.get(mtype, "ctrl"),
                    peer=addr(peer), port=here, tunnel_id=tid, type=mtype,
                    same_peer=(peer == first))
                s.sendto(message(peer_tid, 1, ns + 1), peer)      # ZLB ack
            elif mtype is not None:
                log("unknown-tunnel", peer=addr(peer), port=here, tunnel_id=tid, type=mtype)


# ---- client (the side that opens the tunnel) ------------------------------

def client(args):
    dl = Deadline(args.timeout)
    s = udp_socket(args.sport)
    srv = (args.server, L2TP_PORT)
    s.sendto(message(0, 0, 0, SCCRQ, sccr_avps(args.tag, args.tid)), srv)

    def wait_for(want):
        while not dl.passed():
            r, _, _ = select.select([s], [], [], dl.left())
            if not r:
                break
            data, peer = s.recvfrom(65535)
            try:
                tid, ns, nr, mtype, avps = parse(data)
            except ValueError:
                continue
            if peer[0] == args.server and tid == args.tid and mtype == want:
                return peer, avps
            log("unexpected", peer=addr(peer), tunnel_id=tid, type=mtype)
        return None, None

    peer, avps = wait_for(SCCRP)
    if peer is None:
        log("result", ok=False, stage="sccrp")
        return 1
    srv_tid = struct.unpack("!H", avps[AVP_TUNNEL_ID])[0]
    log("sccrp", peer=addr(peer), server_port=peer[1], tunnel_id=srv_tid)
    s.sendto(message(srv_tid, 1, 1, SCCCN), peer)       # RFC 2661 8.1: to the port it came from
    zpeer, _ = wait_for(None)
    ok = zpeer is not None
    log("result", ok=ok, stage="zlb" if not ok else "up", server_port=peer[1])
    if ok and args.hold:
        end, ns = time.monotonic() + args.hold, 2
        while time.monotonic() < end:
            s.sendto(message(srv_tid, ns, 1, HELLO), peer)
            ns += 1
            time.sleep(1)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server", help="answer tunnels (LNS)")
    s.add_argument("--reply-port", type=int, help="answer from this UDP port (RFC 2661 8.1)")
    c = sub.add_parser("client", help="open one tunnel (LAC)")
    c.add_argument("server")
    c.add_argument("--sport", type=int, default=L2TP_PORT)
    c.add_argument("--tid", type=int, default=random.randint(1, 0xFFFF))
    c.add_argument("--tag", default="lab-lac")
    c.add_argument("--timeout", type=float, default=3.0)
    c.add_argument("--hold", type=float, default=0)
    run(ap, server, client)


if __name__ == "__main__":
    main()
