#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Copies of the XDP program cut short after each step of its data path.

    bench/stages.py KERN.c OUTDIR

Writes OUTDIR/stage-N.c, one per step, and prints one line per copy,
"NAME=OUTDIR/stage-N.c", for pktcost -s (after compiling each). Copy N
returns right after step N of xdp_iptunnel(), so on an IPv4 hit the
difference between two rows is roughly what a step costs (the compiler
drops whatever a cut leaves unused). The full program is the last step.

A cut goes before a line of xdp_iptunnel(), found by its text: when the
program changes, a missing line stops this script with its name rather
than leaving a profile of something else.
"""
import os
import sys

# step reached, the line before which the cut goes, the cut
STAGES = [
    ("parse address", "ranges = match_address(&pkt);",
     "return XDP_PASS;"),
    ("+ match address", "if (!ranges || parse_datagram(ctx, &pkt))",
     "return ranges ? XDP_PASS : XDP_DROP;"),
    ("+ parse datagram", "vip = match_ports(ranges, &pkt);",
     "return XDP_PASS;"),
    ("+ match ports", "if (vip->flags & (VIP_F_RING | VIP_F_FLOW_SRC))",
     "return XDP_PASS;"),
    ("+ pick real", "cfg = bpf_map_lookup_elem(&config_map, &zero);",
     "return XDP_PASS;"),
    ("+ settings, MTU", "action = encapsulate(",
     "return XDP_PASS;"),
    ("+ encapsulate", "if (action == XDP_TX) {",
     "return action;"),
]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: stages.py KERN.c OUTDIR")
    src, outdir = sys.argv[1], sys.argv[2]
    with open(src) as f:
        lines = f.read().split("\n")
    try:
        body = lines.index("int xdp_iptunnel(struct xdp_md *ctx)")
    except ValueError:
        sys.exit(f"stages.py: no xdp_iptunnel() in {src}")
    os.makedirs(outdir, exist_ok=True)
    for n, (name, anchor, cut) in enumerate(STAGES):
        at = [i for i in range(body, len(lines))
              if lines[i].strip().startswith(anchor)]
        if len(at) != 1:
            sys.exit(f"stages.py: '{anchor}' found {len(at)} times in "
                     f"xdp_iptunnel() of {src}, not once: update STAGES")
        i = at[0]
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        copy = lines[:i] + [indent + cut] + lines[i:]
        path = os.path.join(outdir, f"stage-{n}.c")
        with open(path, "w") as f:
            f.write("\n".join(copy))
        print(f"{name}={path}")


if __name__ == "__main__":
    main()
