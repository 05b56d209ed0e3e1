"""Small helpers shared by the protocol peers in tests/peers.

Every peer logs one JSON object per line on stdout ({"ev": ...}); the lab
tests grep those lines, so the key order and spacing of json.dumps matter:
keep the defaults. A server logs {"ev": "listen"} once its sockets are bound.
"""

import json
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
