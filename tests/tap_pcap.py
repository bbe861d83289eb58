#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# Frame bytes of pcap files, for the tap test: "frames FILE [SKIP]" prints one hex line per
# frame (its first SKIP bytes left out: an outer VXLAN encapsulation); "len FILE" prints the
# captured and original length of each frame. tcpdump -w writes classic pcap.
import struct
import sys


def frames(path):
    data = open(path, 'rb').read()
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        end = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        end = '>'
    else:
        sys.exit('%s: not a pcap file' % path)
    off = 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(end + 'IIII', data[off:off + 16])
        off += 16
        yield data[off:off + incl], orig
        off += incl


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == 'frames':
        skip = int(sys.argv[3]) if len(sys.argv) > 3 else 0
        for f, _ in frames(path):
            print(f[skip:].hex())
    elif cmd == 'len':
        for f, orig in frames(path):
            print(len(f), orig)
    else:
        sys.exit('usage: tap_pcap.py frames|len FILE [SKIP]')


main()
