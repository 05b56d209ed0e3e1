#!/usr/bin/python3
"""IKEv2 peers on UDP 500 and NAT-T on UDP 4500, crafted from RFC 7296/3948.

IKE header (RFC 7296 section 3.1), 28 bytes: Initiator's SPI(8),
Responder's SPI(8), Next Payload, Version 0x20, Exchange Type, Flags (I 0x08,
R 0x20), Message ID(4), Length(4). The initiator opens with IKE_SA_INIT (34)
carrying SA, KE and Nonce payloads plus the NAT_DETECTION_SOURCE_IP and
_DESTINATION_IP notifies (section 2.23): SHA-1 of SPIs, address and port as
the sender knows them, so the responder can tell a NAT rewrote them. Once a
NAT is seen, both move to UDP 4500 (RFC 3948 section 2.2): IKE messages
there start with the 4-byte zero non-ESP marker; a single 0xFF byte is a
NAT-keepalive. These peers do no cryptography: KE data, nonces and the SK
payload are random bytes, which is all a NAT ever looks at.

  ike.py server [--port 500] [--natt-port 4500]
      Answer IKE_SA_INIT on 500 and any marked IKE request on 4500 with a
      response of the same exchange and SPIs. Logs JSON lines.
  ike.py client SERVER [--sport 500] [--natt-sport 4500] [--hold S]
      IKE_SA_INIT on 500, then IKE_AUTH on 4500 with the marker. Exit 0 when
      both were answered, else 1. --hold keeps the NAT-T mapping alive S
      seconds (a keepalive and an INFORMATIONAL exchange a second).
"""

import argparse
import hashlib
import os
import select
import socket
import struct
import time

from ikewire import (F_INITIATOR, F_RESPONSE, IKE_AUTH, IKE_SA_INIT, INFORMATIONAL,
                     NAT_DETECTION_DESTINATION_IP, NAT_DETECTION_SOURCE_IP,
                     NON_ESP_MARKER, P_KE, P_NONCE, P_NOTIFY, P_SA, P_SK, message,
                     parse, spi_bytes)
from peerlib import Deadline, addr, log, run, udp_socket


def transform(ttype, tid, attrs=b"", last=False):
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def sa_body():
    """One IKE proposal: AES-CBC-256, HMAC-SHA2-256 PRF and integrity, MODP 2048."""
    ts = (transform(1, 12, struct.pack("!HH", 0x800E, 256)) + transform(2, 5) +
          transform(3, 12) + transform(4, 14, last=True))
    return struct.pack("!BBHBBBB", 0, 0, 8 + len(ts), 1, 1, 0, 4) + ts


def nat_hash(spi_i, spi_r, ip, port):
    return hashlib.sha1(spi_bytes(spi_i) + spi_bytes(spi_r) + socket.inet_aton(ip) +
                        struct.pack("!H", port)).digest()


def notify(ntype, data):
    return struct.pack("!BBH", 0, 0, ntype) + data


def sa_init(spi_i, spi_r, flags, src, dst):
    return message(spi_i, spi_r, IKE_SA_INIT, flags, 0, [
        (P_SA, sa_body()),
        (P_KE, struct.pack("!HH", 14, 0) + os.urandom(256)),
        (P_NONCE, os.urandom(32)),
        (P_NOTIFY, notify(NAT_DETECTION_SOURCE_IP, nat_hash(spi_i, spi_r, *src))),
        (P_NOTIFY, notify(NAT_DETECTION_DESTINATION_IP, nat_hash(spi_i, spi_r, *dst))),
    ])


def encrypted(spi_i, spi_r, exch, flags, msgid):
    return message(spi_i, spi_r, exch, flags, msgid, [(P_SK, os.urandom(64))])


# ---- responder ------------------------------------------------------------

def server(args):
    ike, natt = udp_socket(args.port), udp_socket(args.natt_port)
    me = {}                  # spi_i -> spi_r
    log("listen", port=args.port, natt_port=args.natt_port)
    while True:
        r, _, _ = select.select([ike, natt], [], [])
        for s in r:
            data, peer = s.recvfrom(65535)
            port = s.getsockname()[1]
            if s is natt:
                if data == b"\xff":
                    log("keepalive", peer=addr(peer))
                    continue
                if data[:4] != NON_ESP_MARKER:
                    log("esp-in-udp", peer=addr(peer), spi=data[:4].hex())
                    continue
                data = data[4:]
            try:
                h, notes = parse(data)
            except ValueError as e:
                log("bogus", peer=addr(peer), port=port, error=str(e))
                continue
            spi_i, spi_r, exch, msgid = h.ispi, h.rspi, h.exch, h.msgid
            if not h.flags & F_INITIATOR or h.flags & F_RESPONSE:
                log("not-a-request", peer=addr(peer), port=port)
                continue
            if exch == IKE_SA_INIT and s is ike:
                spi_r = me.setdefault(spi_i, int.from_bytes(os.urandom(8), "big") | 1)
                src = notes.get(NAT_DETECTION_SOURCE_IP)
                nat = src is not None and src != nat_hash(spi_i, 0, *peer)
                log("ike_sa_init", peer=addr(peer), port=port, spi_i=f"{spi_i:016x}", nat_detected=nat)
                local = (s.getsockname()[0] if s.getsockname()[0] != "0.0.0.0" else args.address, port)
                s.sendto(sa_init(spi_i, spi_r, F_RESPONSE, local, peer), peer)
            elif spi_i in me and spi_r == me[spi_i]:
                log("natt_ike" if s is natt else "ike", peer=addr(peer), port=port,
                    spi_i=f"{spi_i:016x}", exchange=exch, msgid=msgid)
                reply = encrypted(spi_i, spi_r, exch, F_RESPONSE, msgid)
                s.sendto(NON_ESP_MARKER + reply if s is natt else reply, peer)
            else:
                log("unknown-sa", peer=addr(peer), port=port, spi_i=f"{spi_i:016x}", exchange=exch)


# ---- initiator ------------------------------------------------------------

def client(args):
    dl = Deadline(args.timeout)
    ike, natt = udp_socket(args.sport), udp_socket(args.natt_sport)
    srv = args.server
    spi_i = int.from_bytes(os.urandom(8), "big") | 1
    ike.connect((srv, args.port))
    ike.send(sa_init(spi_i, 0, F_INITIATOR, ike.getsockname(), (srv, args.port)))

    def answer(s, exch, msgid, marker):
        while not dl.passed():
            r, _, _ = select.select([s], [], [], dl.left())
            if not r:
                return None
            data, peer = s.recvfrom(65535)
            if marker:
                if data[:4] != NON_ESP_MARKER:
                    continue
                data = data[4:]
            try:
                m, _ = parse(data)
            except ValueError:
                continue
            if m.ispi == spi_i and m.exch == exch and m.flags & F_RESPONSE and m.msgid == msgid:
                return m
            log("unexpected", peer=addr(peer), exchange=m.exch)
        return None

    m = answer(ike, IKE_SA_INIT, 0, False)
    if m is None:
        log("result", ok=False, stage="ike_sa_init")
        return 1
    spi_r = m.rspi
    log("ike_sa_init", spi_i=f"{spi_i:016x}", spi_r=f"{spi_r:016x}")
    natt.connect((srv, args.natt_port))
    natt.send(NON_ESP_MARKER + encrypted(spi_i, spi_r, IKE_AUTH, F_INITIATOR, 1))
    ok = answer(natt, IKE_AUTH, 1, True) is not None
    log("result", ok=ok, stage="natt" if not ok else "up", spi_i=f"{spi_i:016x}")
    if ok and args.hold:
        end, msgid = time.monotonic() + args.hold, 2
        while time.monotonic() < end:
            natt.send(b"\xff")
            natt.send(NON_ESP_MARKER + encrypted(spi_i, spi_r, INFORMATIONAL, F_INITIATOR, msgid))
            msgid += 1
            time.sleep(1)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server", help="IKE responder")
    s.add_argument("--port", type=int, default=500)
    s.add_argument("--natt-port", type=int, default=4500)
    s.add_argument("--address", default="0.0.0.0", help="our address, for NAT detection")
    c = sub.add_parser("client", help="IKE initiator")
    c.add_argument("server")
    c.add_argument("--port", type=int, default=500)
    c.add_argument("--natt-port", type=int, default=4500)
    c.add_argument("--sport", type=int, default=500)
    c.add_argument("--natt-sport", type=int, default=4500)
    c.add_argument("--timeout", type=float, default=3.0)
    c.add_argument("--hold", type=float, default=0)
    run(ap, server, client)


if __name__ == "__main__":
    main()
