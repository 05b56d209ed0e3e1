#!/usr/bin/python3
"""WireGuard UDP peers: a handshake initiation and its response.

Message formats from the WireGuard paper (section 5.4) and
drivers/net/wireguard/messages.h, little-endian:
  initiation (type 1), 148 bytes: type(1) reserved(3) sender index(4)
      unencrypted ephemeral(32) encrypted static(32+16)
      encrypted timestamp(12+16) mac1(16) mac2(16)
  response (type 2), 92 bytes: type(1) reserved(3) sender index(4)
      receiver index(4) unencrypted ephemeral(32) encrypted nothing(0+16)
      mac1(16) mac2(16)
No Noise here: keys and MACs are random; the receiver index of the response
is the initiation's sender index, which is what the client checks.

  wireguard.py server [--port 51820]
  wireguard.py client SERVER [--port 51820]    exit 0 when the server answered
"""

import argparse
import os
import struct

from peerlib import addr, log, run, udp_request, udp_socket

INITIATION, RESPONSE = 1, 2


def server(args):
    s = udp_socket(args.port)
    log("listen", port=args.port)
    while True:
        data, peer = s.recvfrom(65535)
        if len(data) != 148 or data[0] != INITIATION:
            log("bogus", peer=addr(peer), length=len(data))
            continue
        (sender,) = struct.unpack("<I", data[4:8])
        log("initiation", peer=addr(peer), sender=sender)
        s.sendto(struct.pack("<B3xII", RESPONSE, int.from_bytes(os.urandom(4), "little"), sender) +
                 os.urandom(32 + 16 + 16 + 16), peer)


def client(args):
    sender = int.from_bytes(os.urandom(4), "little")
    msg = struct.pack("<B3xI", INITIATION, sender) + os.urandom(32 + 48 + 28 + 16 + 16)
    assert len(msg) == 148
    return udp_request(args.server, args.port, msg, args.timeout,
                       lambda d: len(d) == 92 and d[0] == RESPONSE and struct.unpack("<I", d[8:12])[0] == sender)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=51820)
    c = sub.add_parser("client")
    c.add_argument("server")
    c.add_argument("--port", type=int, default=51820)
    c.add_argument("--timeout", type=float, default=3.0)
    run(ap, server, client)


if __name__ == "__main__":
    main()
