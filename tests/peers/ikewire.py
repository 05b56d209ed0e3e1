"""ikewire.py: the IKEv2 wire format (RFC 7296) that every crafted IKE peer shares.

The lab peers (tests/peers/ike.py) and the VM tests (tests/vm/ike.py,
tests/vm/attack.py) build and read IKE messages with these functions alone.

IKE header (section 3.1), 28 bytes: Initiator's SPI(8), Responder's SPI(8),
Next Payload, Version 0x20, Exchange Type, Flags (I 0x08, R 0x20), Message
ID(4), Length(4). SPIs are 64-bit integers here; spi_bytes() gives the 8
bytes where a hash needs them (NAT detection, section 2.23). Payloads are
chained through the Next Payload field of the header before each one (3.2).
On UDP 4500 an IKE message follows a 4-byte zero non-ESP marker (RFC 3948).
"""

import struct
from collections import namedtuple

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
F_INITIATOR, F_RESPONSE = 0x08, 0x20
P_SA, P_KE, P_NONCE, P_NOTIFY, P_SK = 33, 34, 40, 41, 46
NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP = 16388, 16389
NON_ESP_MARKER = b"\0\0\0\0"
HEADER_LEN = 28

Header = namedtuple("Header", "ispi rspi next version exch flags msgid length")


def spi_bytes(spi):
    return spi.to_bytes(8, "big")


def header(ispi, rspi, first, exch, flags, msgid, body):
    """The IKE header (version 2.0) before body, whose first payload is first."""
    return struct.pack("!QQBBBBII", ispi, rspi, first, 0x20, exch, flags, msgid,
                       HEADER_LEN + len(body)) + body


def payloads(items):
    """Chain [(type, body)] into generic payloads; return (first type, bytes)."""
    out = b""
    for i, (_, body) in enumerate(items):
        nxt = items[i + 1][0] if i + 1 < len(items) else 0
        out += struct.pack("!BBH", nxt, 0, 4 + len(body)) + body
    return (items[0][0] if items else 0), out


def payload(body):
    """One generic payload, the last of its message."""
    return payloads([(0, body)])[1]


def message(ispi, rspi, exch, flags, msgid, items):
    """A whole message: the header and the chained payloads [(type, body)]."""
    first, body = payloads(items)
    return header(ispi, rspi, first, exch, flags, msgid, body)


def parse_header(data):
    """The Header of data, or None when data is too short to hold one."""
    if len(data) < HEADER_LEN:
        return None
    return Header(*struct.unpack("!QQBBBBII", data[:HEADER_LEN]))


def parse(data):
    """Return (Header, {notify type: data}); ValueError when it is not IKEv2."""
    h = parse_header(data)
    if h is None:
        raise ValueError("short IKE message")
    if h.version >> 4 != 2 or h.length > len(data):
        raise ValueError(f"not IKEv2 (version {h.version:#x}, length {h.length})")
    notes, nxt, off = {}, h.next, HEADER_LEN
    while nxt and off + 4 <= h.length:
        n2, _, plen = struct.unpack("!BBH", data[off:off + 4])
        if plen < 4:
            raise ValueError("bad payload length")
        if nxt == P_NOTIFY:
            notes[struct.unpack("!H", data[off + 6:off + 8])[0]] = data[off + 8:off + plen]
        nxt, off = n2, off + plen
    return h, notes
