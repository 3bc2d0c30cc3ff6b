#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Copies of an XDP program cut short after each step of its data path.

    bench/stages.py KERN.c OUTDIR
    bench/stages.py --upstream XDP_TX_IPTUNNEL_KERN.c OUTDIR

Writes OUTDIR/stage-N.c (upstream: OUTDIR/upstream-N.c), one per step,
and prints one line per copy, "NAME=PATH", for pktcost -s (ours) or -u
(upstream), after compiling each. Copy N returns right after step N, so
on an IPv4 hit the difference between two rows is roughly what a step
costs (the compiler drops whatever a cut leaves unused). The whole
program is the last step. Upstream is cut after its lookup only: that
puts its lookup beside ours, and the rest of its hit beside the rest of
ours.

A cut goes before a line of the function, found by its text: when a
program changes, a missing line stops this script with its name rather
than leaving a profile of something else.
"""
import os
import sys

# the function, then per step: its name, the line before which the cut
# goes (its start, as written), the cut
OURS = ("static __always_inline int decide(struct xdp_md *ctx, "
        "struct decision *d)", "stage", [
    ("parse address", "ranges = match_address(pkt);",
     "return XDP_PASS;"),
    ("+ match address", "if (parse_datagram(ctx, pkt)) {",
     "return XDP_PASS;"),
    ("+ parse datagram", "d->vip = match_ports(ranges, pkt);",
     "return XDP_PASS;"),
    # the ports stay in use: with dport alone, clang recomputes the L4
    # pointer past its check, and the verifier refuses the copy
    ("+ match ports", "cfg = pick(d, pkt);",
     "return pkt->sport + pkt->dport ? XDP_PASS : XDP_DROP;"),
    ("+ pick real, settings", "if (cfg->mtu && pkt->l3_len + tunnel_room(",
     "return XDP_PASS;"),
    ("+ MTU, hint", "action = encapsulate(",
     "return XDP_PASS;"),
    ("+ encapsulate", "if (action == XDP_TX) {",
     "return action;"),
])
UPSTREAM = ("static __always_inline int handle_ipv4(struct xdp_md *xdp)",
            "upstream", [
    ("upstream: + lookup", "if (!tnl || tnl->family != AF_INET)",
     "return tnl ? XDP_PASS : XDP_DROP;"),
])


def main():
    args = sys.argv[1:]
    program = OURS
    if args[:1] == ["--upstream"]:
        program = UPSTREAM
        args = args[1:]
    if len(args) != 2:
        sys.exit("usage: stages.py [--upstream] KERN.c OUTDIR")
    src, outdir = args
    function, prefix, stages = program
    with open(src) as f:
        lines = f.read().split("\n")
    try:
        body = lines.index(function)
    except ValueError:
        sys.exit(f"stages.py: no '{function}' in {src}")
    os.makedirs(outdir, exist_ok=True)
    for n, (name, anchor, cut) in enumerate(stages):
        at = [i for i in range(body, len(lines))
              if lines[i].strip().startswith(anchor)]
        if len(at) != 1:
            sys.exit(f"stages.py: '{anchor}' found {len(at)} times after "
                     f"'{function}' in {src}, not once: update the steps")
        i = at[0]
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        copy = lines[:i] + [indent + cut] + lines[i:]
        path = os.path.join(outdir, f"{prefix}-{n}.c")
        with open(path, "w") as f:
            f.write("\n".join(copy))
        print(f"{name}={path}")


if __name__ == "__main__":
    main()
