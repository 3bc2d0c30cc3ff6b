#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A running director's VIP table, read without the project's C code.

    tests/vip_table.py PIN_DIR
    tests/vip_table.py --same-slot N


Prints one line per port range, "VIP PROTOCOL PORTS VIP_ID RING", RING
followed by " grace" while the VIP is in a grace period, and
fails when a key is not where the program looks for it: within
VIP_PROBES_MAX slots of its hash, with no empty slot on the way. The
table is the map vip_tables[0] of the pinned vip_tables, mapped with
mmap(); the layout and the hash are written out here from
xdp_iptunnel_common.h's description, so that a change there that the
loader and the program make together still has to agree with this.

--same-slot prints N addresses of 2001:db8::/32 whose TCP keys all hash
to one slot: more than VIP_PROBES_MAX of them cannot all be found.
"""
import ctypes
import ipaddress
import mmap
import os
import struct
import sys

TABLE_SIZE = 65536
PROBES_MAX = 16
SLOT = 152          # key: addr[4], family, protocol, pad; value: 132
RANGES = 8
SYS_BPF = 321       # x86_64
BPF_MAP_LOOKUP_ELEM, BPF_OBJ_GET, BPF_MAP_GET_FD_BY_ID = 1, 7, 14

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(SYS_BPF, cmd, buf, 128)
    if fd < 0:
        sys.exit("vip_table.py: bpf(%d): %s" %
                 (cmd, os.strerror(ctypes.get_errno())))
    return fd


def current_table(pin_dir):
    path = ctypes.create_string_buffer((pin_dir + "/vip_tables").encode())
    outer = bpf(BPF_OBJ_GET, struct.pack("=QII", ctypes.addressof(path),
                                         0, 0))
    key, value = ctypes.c_uint32(0), ctypes.c_uint32(0)
    bpf(BPF_MAP_LOOKUP_ELEM,
        struct.pack("=IIQQQ", outer, 0, ctypes.addressof(key),
                    ctypes.addressof(value), 0))
    os.close(outer)
    fd = bpf(BPF_MAP_GET_FD_BY_ID, struct.pack("=III", value.value, 0, 0))
    table = mmap.mmap(fd, TABLE_SIZE * SLOT, mmap.MAP_SHARED,
                      mmap.PROT_READ)
    os.close(fd)
    return table


M64 = (1 << 64) - 1


def home_slot(words, family, protocol):
    """Fibonacci hashing of the key folded into 64 bits, top 16 bits"""
    x = family << 8 | protocol
    if family == 10:
        x ^= (words[1] << 32 | words[0]) ^ \
            ((words[3] << 32 | words[2]) * 0xc2b2ae3d27d4eb4f & M64)
    else:
        x |= words[0] << 16
    return (x * 0x9e3779b97f4a7c15 & M64) >> 48


def same_slot(n):
    base = ipaddress.ip_address("2001:db8:5107::").packed
    want, found, low = None, [], 0
    while len(found) < n:
        low += 1
        packed = base[:12] + struct.pack(">I", low)
        slot = home_slot(struct.unpack("=4I", packed), 10, 6)
        want = slot if want is None else want
        if slot == want:
            found.append(str(ipaddress.ip_address(packed)))
    print(" ".join(found))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--same-slot":
        return same_slot(int(sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit("usage: vip_table.py PIN_DIR | --same-slot N")
    table = current_table(sys.argv[1])
    lines, bad = [], []
    for slot in range(TABLE_SIZE):
        raw = table[slot * SLOT:(slot + 1) * SLOT]
        family, protocol = raw[16], raw[17]
        if not family:
            continue
        # addresses are in network order, hashed as the CPU loads them
        words = struct.unpack("=4I", raw[:16])
        addr = ipaddress.ip_address(raw[:4] if family == 2 else raw[:16])
        home = home_slot(words, family, protocol)
        gap = [s % TABLE_SIZE for s in range(home, home + PROBES_MAX)]
        if slot not in gap or any(
                not table[s * SLOT + 16] for s in gap[:gap.index(slot)]):
            bad.append("%s %d in slot %d, looked for from %d" %
                       (addr, protocol, slot, home))
        nr = struct.unpack_from("=I", raw, 20)[0]
        for r in range(min(nr, RANGES)):
            pmin, pmax, vip_id, _, flags = struct.unpack_from(
                "=HHIII", raw, 24 + 16 * r)
            lines.append("%s %d %d-%d %d %s%s" % (
                addr, protocol, pmin, pmax, vip_id,
                "ring" if flags & 1 else "-",
                " grace" if flags & 4 else ""))
    print("\n".join(sorted(lines)))
    if bad:
        sys.exit("vip_table.py: misplaced: " + "; ".join(bad))


if __name__ == "__main__":
    main()
