#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TCP transfers and raw frames for test-net.sh (no timing anywhere).

  net-xfer.py recv ADDR PORT OUT READY [N]
      listen on ADDR:PORT, touch READY, accept N connections (default 1)
      and write connection i's bytes to OUT (N = 1) or OUT.i
  net-xfer.py send ADDR PORT IN [MARK_BYTES MARKFILE]
      send the file IN; once MARK_BYTES are sent, touch MARKFILE
  net-xfer.py sniff IFNAME ETHERTYPE READY
      count frames of ETHERTYPE on IFNAME by destination until one
      carries the payload b"end"; print "DST COUNT" lines
  net-xfer.py frames IFNAME ETHERTYPE DST=COUNT... END_DST
      send COUNT frames to each DST, then the end frame to END_DST
"""
import os
import socket
import struct
import sys
import threading


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv(addr, port, out, ready, n=1):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(64)
    open(ready, "w").close()

    def one(c, path):
        with open(path, "wb") as f:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                f.write(b)
        c.close()

    threads = []
    for i in range(int(n)):
        c, _ = s.accept()
        path = out if int(n) == 1 else "%s.%d" % (out, i)
        t = threading.Thread(target=one, args=(c, path))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


def send(addr, port, path, mark=None, markfile=None):
    s = socket.create_connection((addr, int(port)))
    sent = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 18)
            if not b:
                break
            s.sendall(b)
            sent += len(b)
            if mark is not None and sent >= int(mark):
                open(markfile, "w").close()
                mark = None
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()


def sniff(ifname, etype, ready):
    etype = int(etype, 0)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(etype))
    s.bind((ifname, etype))
    open(ready, "w").close()
    counts = {}
    while True:
        b = s.recv(65536)
        if b[14:17] == b"end":
            break
        dst = ":".join("%02x" % x for x in b[:6])
        counts[dst] = counts.get(dst, 0) + 1
    for dst, c in sorted(counts.items()):
        print(dst, c)


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def frames(ifname, etype, *specs):
    etype = int(etype, 0)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src = s.getsockname()[4][:6]
    for spec in specs[:-1]:
        dst, count = spec.split("=")
        for _ in range(int(count)):
            s.send(mac(dst) + src + struct.pack("!H", etype) + b"x" * 60)
    s.send(mac(specs[-1]) + src + struct.pack("!H", etype) + b"end" + b"\0" * 57)


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"recv": recv, "send": send, "sniff": sniff, "frames": frames}[cmd](*sys.argv[2:])
