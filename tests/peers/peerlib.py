"""Small helpers shared by the protocol peers in tests/peers.

Every peer logs one JSON object per line on stdout ({"ev": ...}); the lab
tests grep those lines, so the key order and spacing of json.dumps matter:
keep the defaults. A server logs {"ev": "listen"} once its sockets are bound.
"""

import json
import select
import socket
import sys
import time


def log(ev, **kw):
    kw = {"ev": ev, **kw}
    print(json.dumps(kw), flush=True)


def die(msg):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def addr(a):
    return f"{a[0]}:{a[1]}"


def udp_socket(port, host="0.0.0.0"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    return s


def raw_socket(proto):
    """An IPv4 raw socket for PROTO: send payloads, receive IP header + payload."""
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)


def strip_ip(pkt):
    """Split a packet read from a raw socket into (source address, payload)."""
    ihl = (pkt[0] & 0x0F) * 4
    return socket.inet_ntoa(pkt[12:16]), pkt[ihl:]


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.end


def run(ap, server, client, fatal=(OSError,)):
    """Parse the command line of a peer with "server" and "client" modes, run
    the chosen one and exit with its status; FATAL exceptions end it with
    their message."""
    args = ap.parse_args()
    try:
        sys.exit(server(args) if args.mode == "server" else client(args))
    except fatal as e:
        die(str(e))


def udp_request(server, port, msg, timeout, answers):
    """Send MSG to SERVER:PORT from a fresh UDP socket and wait up to TIMEOUT
    seconds for a datagram for which ANSWERS(data) is true. Logs the result;
    returns 0 when answered, 1 otherwise (a peer's exit status)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(msg, (server, port))
    dl = Deadline(timeout)
    while not dl.passed():
        r, _, _ = select.select([s], [], [], dl.left())
        if not r:
            break
        data, peer = s.recvfrom(65535)
        if answers(data):
            log("result", ok=True, peer=addr(peer))
            return 0
    log("result", ok=False)
    return 1
