# SPDX-License-Identifier: GPL-2.0
"""Kernel memory of the XDP program on an interface: the program and its
maps as the kernel accounts them (memlock), the inner maps of maps-in-maps
(the Maglev rings) included. Prints kB.

    mapmem.py NETNS IFNAME
"""
import json
import subprocess
import sys


def bpftool(*args, netns=None):
    cmd = ["bpftool", "-j"] + list(args)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                     text=True).stdout)


netns, ifname = sys.argv[1:3]
prog_id = bpftool("net", "show", "dev", ifname, netns=netns)[0]["xdp"][0]["id"]
prog = bpftool("prog", "show", "id", str(prog_id))
total = prog["bytes_memlock"]
maps = list(prog["map_ids"])
while maps:
    m = bpftool("map", "show", "id", str(maps.pop()))
    total += m["bytes_memlock"]
    if m["type"].endswith("_of_maps"):
        # a map of maps holds inner map ids, as raw bytes here
        for entry in bpftool("map", "dump", "id", str(m["id"])):
            maps.append(int.from_bytes(bytes(int(b, 16)
                                             for b in entry["value"]),
                                       "little"))
print(total // 1024)
