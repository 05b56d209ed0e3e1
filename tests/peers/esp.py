#!/usr/bin/python3
"""Raw ESP (IP protocol 50) peers, crafted from RFC 4303.

An ESP packet starts with the SPI(4) and Sequence Number(4) in the clear;
the rest is ciphertext to everyone but the two ends. NAT sees no ports, so
plain conntrack can map one LAN host per remote peer ("single"). These peers
carry no cryptography: the "ciphertext" is a readable tag, so each side can
tell whose packet came back.

  esp.py server [--spi N]
      Answer every ESP packet with one to its source, SPI N (default: the
      packet's SPI + 1), same sequence number, payload "echo <payload>".
  esp.py client PEER [--spi N] [--tag T] [--count N]
      Send N packets with payload "<T> <i>" and expect the N echoes, and
      nothing else. Exit 0 when they all came back, else 1.
"""

import argparse
import select
import struct

from peerlib import Deadline, log, raw_socket, run, strip_ip

IPPROTO_ESP = 50


def esp(spi, seq, payload):
    return struct.pack("!II", spi, seq) + payload


def server(args):
    s = raw_socket(IPPROTO_ESP)
    log("listen", proto=IPPROTO_ESP)
    while True:
        src, data = strip_ip(s.recv(65535))
        if len(data) < 8:
            log("bogus", src=src)
            continue
        spi, seq = struct.unpack("!II", data[:8])
        payload = data[8:]
        log("esp", src=src, spi=spi, seq=seq, payload=payload.decode(errors="replace"))
        s.sendto(esp(args.spi or spi + 1, seq, b"echo " + payload), (src, 0))


def client(args):
    s = raw_socket(IPPROTO_ESP)
    want = {}
    for i in range(1, args.count + 1):
        payload = f"{args.tag} {i}".encode()
        want[i] = b"echo " + payload
        s.sendto(esp(args.spi, i, payload), (args.peer, 0))
    got, foreign, dl = set(), 0, Deadline(args.timeout)
    while not dl.passed():
        r, _, _ = select.select([s], [], [], dl.left())
        if not r:
            break
        src, data = strip_ip(s.recv(65535))
        seq = struct.unpack("!I", data[4:8])[0] if len(data) >= 8 else None
        if src == args.peer and want.get(seq) == data[8:]:
            got.add(seq)
            if len(got) == args.count:
                dl = Deadline(0.3)       # linger: catch anything meant for others
        else:
            foreign += 1
            log("esp-foreign", src=src, payload=data[8:].decode(errors="replace"))
    ok = len(got) == args.count and not foreign
    log("result", ok=ok, sent=args.count, replies=len(got), foreign=foreign)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server", help="echo ESP")
    s.add_argument("--spi", type=lambda x: int(x, 0), default=0)
    c = sub.add_parser("client", help="send ESP, expect echoes")
    c.add_argument("peer")
    c.add_argument("--spi", type=lambda x: int(x, 0), default=0x1000)
    c.add_argument("--tag", default="esp")
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--timeout", type=float, default=3.0)
    run(ap, server, client)


if __name__ == "__main__":
    main()
