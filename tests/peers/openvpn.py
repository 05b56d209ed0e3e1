#!/usr/bin/python3
"""OpenVPN UDP peers: the first packet of a session and its answer.

OpenVPN's wire format (openvpn/src/openvpn/ssl_pkt.h, no tls-auth): one
byte opcode << 3 | key_id, the sender's 8-byte session id, an ACK array
(length byte, then packet ids and the remote session id when not empty) and
a 4-byte message packet id. A client starts with P_CONTROL_HARD_RESET_CLIENT_V2
(opcode 7); a server answers P_CONTROL_HARD_RESET_SERVER_V2 (opcode 8) that
acknowledges packet id 0 and names the client's session id.

  openvpn.py server [--port 1194]
  openvpn.py client SERVER [--port 1194]    exit 0 when the server answered
"""

import argparse
import os
import select
import socket
import struct
import sys

from peerlib import Deadline, addr, die, log, udp_socket

HARD_RESET_CLIENT_V2, HARD_RESET_SERVER_V2 = 7, 8


def server(args):
    s = udp_socket(args.port)
    log("listen", port=args.port)
    while True:
        data, peer = s.recvfrom(65535)
        if len(data) < 14 or data[0] >> 3 != HARD_RESET_CLIENT_V2:
            log("bogus", peer=addr(peer), opcode=data[0] >> 3 if data else None)
            continue
        sid = data[1:9]
        log("hard_reset", peer=addr(peer), session=sid.hex())
        s.sendto(bytes([HARD_RESET_SERVER_V2 << 3]) + os.urandom(8) +
                 b"\x01" + struct.pack("!I", 0) + sid + struct.pack("!I", 0), peer)


def client(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sid = os.urandom(8)
    s.sendto(bytes([HARD_RESET_CLIENT_V2 << 3]) + sid + b"\x00" + struct.pack("!I", 0),
             (args.server, args.port))
    dl = Deadline(args.timeout)
    while not dl.passed():
        r, _, _ = select.select([s], [], [], dl.left())
        if not r:
            break
        data, peer = s.recvfrom(65535)
        # opcode, server session(8), ack count 1, acked id(4), our session(8)
        if len(data) >= 26 and data[0] >> 3 == HARD_RESET_SERVER_V2 and data[9] == 1 and data[14:22] == sid:
            log("result", ok=True, peer=addr(peer))
            return 0
    log("result", ok=False)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=1194)
    c = sub.add_parser("client")
    c.add_argument("server")
    c.add_argument("--port", type=int, default=1194)
    c.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()
    try:
        sys.exit(server(args) if args.mode == "server" else client(args))
    except OSError as e:
        die(str(e))


if __name__ == "__main__":
    main()
