#!/usr/bin/python3
"""tests/vm/genl.py: the vpnpt_esp generic netlink family, spoken by hand.

For the tests that check who may talk to the module (t-attack-userns): the
requests an unprivileged program could send, without libnl or the
controller. Attribute and command numbers are read from the module's uapi
header (kmod/uapi/vpnpt_esp.h, --uapi or $VPNPT_WORK/kmod/uapi/vpnpt_esp.h).

  genl.py resolve            CTRL_CMD_GETFAMILY "vpnpt_esp": prints the id
  genl.py get-params         prints "enabled=N wan_ifindex=N ..."
  genl.py set-params K=V...  e.g. wan_ifname=eth0 enabled=1 (u8/u16/u32/string as the
                             module expects)
  genl.py flush
  genl.py add K=V...         ADD_MAPPING, e.g. kind=esp host=192.168.1.2 peer=203.0.113.2
                             zone=32770 spi_out=0x1001 spi_in=0x5001 [state=2]; kind=ike
                             with ike_ispi=, ike_rspi=, ike_version= (kind: esp, ike or
                             a number; host/peer: dotted quads)
  genl.py del K=V...         DEL_MAPPING, the same keys (zone not needed)
  genl.py counters           GET_COUNTERS: one "name=value" line each
  genl.py dump               GET_MAPPINGS: one line per mapping, then "mappings N"
  genl.py dump-check         GET_MAPPINGS, each read (one netlink skb) timed (the
                             kernel fills the next message in it): every mapping must
                             come once, without NLM_F_DUMP_INTR; prints the count,
                             esp_out_new_spi, and the time of a read at the start and
                             at the end of the dump (medians of the first and last
                             fifth of the reads)

Exit status: 0 ok; 1 the kernel refused (prints "error EPERM ...", and the
extack message after " -- " if the kernel gave one); 2 the family does not
exist (prints "no family").
"""
import errno
import os
import re
import socket
import struct
import sys

NETLINK_GENERIC = 16
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NLM_F_ACK_TLVS, NLMSGERR_ATTR_MSG = 0x200, 1
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
FAMILY = "vpnpt_esp"

# Attribute sizes of the parameters (kmod/netlink.c's policy).
U8 = {"KEEP_IKE_PORT", "ENABLED", "KIND", "STATE", "REASON", "IKE_VERSION"}
U16 = {"ZONE_BASE", "ZONE_COUNT", "ZONE"}
U64 = {"AGE_MS", "IDLE_MS", "PKTS_OUT", "PKTS_IN", "BYTES_OUT", "BYTES_IN", "IKE_ISPI", "IKE_RSPI"}
ADDR = {"HOST", "PEER"}


def counter_names():
    path = os.environ.get("VPNPT_UAPI") or os.path.join(os.environ.get("VPNPT_WORK", "."),
                                                        "kmod/uapi/vpnpt_esp.h")
    with open(path) as f:
        body = f.read().split("#define VPNPT_ESP_COUNTERS(X)", 1)[1]
        return re.findall(r'X\((\w+), "(\w+)"\)', body.split("\n\n", 1)[0])


def enum_of(text, name, prefix):
    body = re.search(r"enum %s \{(.*?)\};" % name, text, re.S).group(1)
    names = re.findall(r"^\s*(%s\w+)\s*[,=]" % prefix, body, re.M)
    return {n[len(prefix):]: i for i, n in enumerate(names)}


def load_uapi():
    path = os.environ.get("VPNPT_UAPI") or os.path.join(os.environ.get("VPNPT_WORK", "."),
                                                        "kmod/uapi/vpnpt_esp.h")
    with open(path) as f:
        text = f.read()
    return enum_of(text, "vpnpt_esp_cmd", "VPNPT_ESP_CMD_"), enum_of(text, "vpnpt_esp_attr", "VPNPT_ESP_A_")


def attr(t, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)


def attrs(buf):
    out, off = {}, 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("=HH", buf, off)
        if n < 4:
            break
        out[t & 0x3FFF] = buf[off + 4:off + n]
        off += (n + 3) & ~3
    return out


class Genl:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.s.bind((0, 0))
        # error messages come with the kernel's extack text, without the request
        self.s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.seq = 1
        self.extack = ""

    def request(self, family, cmd, payload=b"", flags=NLM_F_ACK):
        """Sends one request; returns (errno, [attribute dicts of the replies])."""
        self.seq += 1
        body = struct.pack("=BBH", cmd, 1, 0) + payload
        self.s.send(struct.pack("=IHHII", 16 + len(body), family, NLM_F_REQUEST | flags, self.seq, 0) + body)
        replies = []
        while True:
            buf = self.s.recv(1 << 20)
            off = 0
            while off + 16 <= len(buf):
                n, typ, fl, seq, _ = struct.unpack_from("=IHHII", buf, off)
                msg = buf[off + 16:off + n]
                off += (n + 3) & ~3
                if typ == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", msg)[0]
                    self.extack = ""
                    if fl & NLM_F_ACK_TLVS:     # after nlmsgerr: error + the request's header
                        m = attrs(msg[20:]).get(NLMSGERR_ATTR_MSG, b"")
                        self.extack = m.rstrip(b"\0").decode(errors="replace")
                    return err, replies
                if typ == NLMSG_DONE:
                    return 0, replies
                replies.append(attrs(msg[4:]))

    def family(self):
        err, r = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attr(CTRL_ATTR_FAMILY_NAME, FAMILY.encode() + b"\0"))
        if err or not r:
            return None, err
        return struct.unpack("=H", r[0][CTRL_ATTR_FAMILY_ID])[0], 0


def value(name, raw):
    if name in ADDR:
        return socket.inet_ntoa(raw)
    if name.endswith("IFNAME"):
        return raw.rstrip(b"\0").decode(errors="replace") or '""'
    fmt = "=B" if name in U8 else "=H" if name in U16 else "=Q" if name in U64 else "=I"
    return struct.unpack(fmt, raw[:struct.calcsize(fmt)])[0]


def encode(name, v):
    if name.endswith("IFNAME"):
        return v.encode() + b"\0"
    fmt = "=B" if name in U8 else "=H" if name in U16 else "=Q" if name in U64 else "=I"
    return struct.pack(fmt, int(v, 0))


def refused(what, err, extack=""):
    print("error %s %s: %s%s" % (errno.errorcode.get(err, err), what, os.strerror(err),
                                 " -- " + extack if extack else ""), flush=True)
    return 1


KINDS = {"esp": 1, "ike": 2}


def mapping(names, kvs):
    """ADD/DEL_MAPPING attributes from K=V words (any attribute: the kernel judges)."""
    payload = b""
    for kv in kvs:
        k, v = kv.split("=", 1)
        k = k.upper()
        if k in ADDR:
            data = socket.inet_aton(v)
        elif k == "KIND" and v in KINDS:
            data = struct.pack("=B", KINDS[v])
        else:
            data = encode(k, v)
        payload += attr(names[k], data)
    return payload


NLM_F_DUMP_INTR = 0x10


def dump_check(g, fam, cmds, names):
    import time
    g.seq += 1
    body = struct.pack("=BBH", cmds["GET_MAPPINGS"], 1, 0)
    g.s.send(struct.pack("=IHHII", 16 + len(body), fam, NLM_F_REQUEST | NLM_F_DUMP, g.seq, 0) + body)
    reads, seen, dup, intr, n = [], set(), 0, 0, 0
    t_start = time.perf_counter_ns()
    done = False
    while not done:
        t0 = time.perf_counter_ns()
        buf = g.s.recv(1 << 16)     # the kernel fills up to 32 KiB a message
        reads.append(time.perf_counter_ns() - t0)
        off = 0
        while off + 16 <= len(buf):
            ln, typ, flags, _, _ = struct.unpack_from("=IHHII", buf, off)
            msg = buf[off + 16:off + ln]
            off += (ln + 3) & ~3
            if flags & NLM_F_DUMP_INTR:
                intr += 1
            if typ == NLMSG_ERROR:
                return refused("dump", -struct.unpack_from("=i", msg)[0])
            if typ == NLMSG_DONE:
                done = True
                break
            a = attrs(msg[4:])
            key = tuple(a.get(names[k], b"") for k in ("KIND", "HOST", "PEER", "SPI_OUT", "SPI_IN", "IKE_ISPI"))
            n += 1
            if key in seen:
                dup += 1
            seen.add(key)
    total = time.perf_counter_ns() - t_start
    err, r = g.request(fam, cmds["GET_COUNTERS"])
    cn = [c for _, c in counter_names()]
    cnt = {}
    if not err and r:
        for t, v in attrs(r[0][names["COUNTERS"]]).items():
            if 0 < t <= len(cn):
                cnt[cn[t - 1]] = struct.unpack("=Q", v[:8])[0]
    body = reads[:-1] if len(reads) > 10 else reads     # the last read: a short message and DONE
    k = max(1, len(body) // 5)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    first, last = med(body[:k]), med(body[-k:])
    print("mappings %d unique %d duplicates %d intr %d esp_out_new_spi %d reads %d total_ms %.1f "
          "first_read_us %.0f last_read_us %.0f ratio %.2f" %
          (n, len(seen), dup, intr, cnt.get("esp_out_new_spi", 0), len(reads), total / 1e6,
           first / 1e3, last / 1e3, last / first), flush=True)
    return 0 if not dup and not intr else 1


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = sys.argv[1]
    g = Genl()
    fam, err = g.family()
    if fam is None:
        print("no family (%s)" % errno.errorcode.get(err, err), flush=True)
        return 2
    if cmd == "resolve":
        print("family %s id %d" % (FAMILY, fam), flush=True)
        return 0
    cmds, names = load_uapi()
    by_num = {v: k for k, v in names.items()}
    if cmd == "get-params":
        err, r = g.request(fam, cmds["GET_PARAMS"])
        if err:
            return refused("get-params", err)
        a = r[0] if r else {}
        print(" ".join("%s=%s" % (by_num[t].lower(), value(by_num[t], v)) for t, v in sorted(a.items())
                       if t in by_num), flush=True)
        return 0
    if cmd == "set-params":
        payload = b""
        for kv in sys.argv[2:]:
            k, v = kv.split("=", 1)
            payload += attr(names[k.upper()], encode(k.upper(), v))
        err, _ = g.request(fam, cmds["SET_PARAMS"], payload)
        if err:
            return refused("set-params", err)
        print("set-params ok", flush=True)
        return 0
    if cmd == "flush":
        err, _ = g.request(fam, cmds["FLUSH"])
        if err:
            return refused("flush", err)
        print("flush ok", flush=True)
        return 0
    if cmd in ("add", "del"):
        err, _ = g.request(fam, cmds["ADD_MAPPING" if cmd == "add" else "DEL_MAPPING"],
                           mapping(names, sys.argv[2:]))
        if err:
            return refused(cmd, err, g.extack)
        print("%s ok" % cmd, flush=True)
        return 0
    if cmd == "dump":
        err, r = g.request(fam, cmds["GET_MAPPINGS"], flags=NLM_F_DUMP)
        if err:
            return refused("dump", err)
        for a in r:
            print(" ".join("%s=%s" % (by_num[t].lower(), value(by_num[t], v)) for t, v in sorted(a.items())
                           if t in by_num and by_num[t] in ("KIND", "HOST", "PEER", "SPI_OUT", "SPI_IN", "STATE")))
        print("mappings %d" % len(r), flush=True)
        return 0
    if cmd == "counters":
        err, r = g.request(fam, cmds["GET_COUNTERS"])
        if err:
            return refused("counters", err)
        cn = [c for _, c in counter_names()]
        for t, v in sorted(attrs(r[0][names["COUNTERS"]]).items()):
            if 0 < t <= len(cn):
                print("%s=%d" % (cn[t - 1], struct.unpack("=Q", v[:8])[0]))
        return 0
    if cmd == "dump-check":
        return dump_check(g, fam, cmds, names)
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
