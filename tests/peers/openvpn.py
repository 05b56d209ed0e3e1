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
import struct

from peerlib import addr, log, run, udp_request, udp_socket

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
    sid = os.urandom(8)
    msg = bytes([HARD_RESET_CLIENT_V2 << 3]) + sid + b"\x00" + struct.pack("!I", 0)
    # The answer: opcode, server session(8), ack count 1, acked id(4), our session(8).
    return udp_request(args.server, args.port, msg, args.timeout,
                       lambda d: len(d) >= 26 and d[0] >> 3 == HARD_RESET_SERVER_V2 and d[9] == 1 and d[14:22] == sid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=1194)
    c = sub.add_parser("client")
    c.add_argument("server")
    c.add_argument("--port", type=int, default=1194)
    c.add_argument("--timeout", type=float, default=3.0)
    run(ap, server, client)


if __name__ == "__main__":
    main()
