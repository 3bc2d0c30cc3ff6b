# SPDX-License-Identifier: GPL-2.0
"""Plot a bench/run.sh run: per-packet ns per case (ours, upstream, the
empty program; on the "real" cases ours is the real server's program) and
live Mpps (ours, upstream).

    plot.py PKTCOST.tsv LIVE.txt PNG MACHINE
"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pkt, live_txt, png, machine = sys.argv[1:5]

ns = {}
cases = []
with open(pkt) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        if row["case"] not in cases:
            cases.append(row["case"])
        ns[(row["case"], row["program"])] = float(row["ns"])

V4HIT = "IPv4 hit (4in4)"
ours = [ns[(c, "ours")] if (c, "ours") in ns else ns[(c, "real server")]
        for c in cases]
upstream = [ns.get((c, "upstream")) for c in cases]
# where upstream cannot, its IPv4 hit for comparison (hatched); not beside
# the mixed underlays, nor beside ICMP errors, which it passes to the stack,
# nor beside the real server's program
OWN = ("4in6", "6in4", "ICMP", "real ")
instead = [None if u is not None or c.startswith(OWN)
           else ns[(V4HIT, "upstream")] for c, u in zip(cases, upstream)]
floor = [ns[(c, "floor")] for c in cases]

live = []
with open(live_txt) as f:
    for line in f:
        if line.startswith(("case", "#")) or not line.strip():
            continue
        rest = line[20:].split()
        live.append((line[:20].strip(), rest[0], int(rest[1]), float(rest[2])))

fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 5.2),
                             gridspec_kw={"width_ratios": [2.2, 1]})
x = range(len(cases))
w = 0.27
ax.bar([i - w for i in x], ours, w, label="xdp_iptunnel", color="C0")
ax.bar(list(x), [u or 0 for u in upstream], w,
       label="upstream xdp_tx_iptunnel", color="C1")
ax.bar(list(x), [v or 0 for v in instead], w, color="C1", alpha=0.35,
       hatch="//", label="upstream's IPv4 hit (it cannot do this case)")
ax.bar([i + w for i in x], floor, w, label="empty program (floor)",
       color="C2")
ax.set_xticks(list(x))
ax.set_xticklabels(cases, rotation=30, ha="right", fontsize=8)
ax.set_ylabel("ns per packet (median over fresh loads)")
ax.set_title("BPF_PROG_TEST_RUN, kernel-measured", fontsize=10)
ax.legend(fontsize=8)

groups = []
for name, prog, cores, mpps in live:
    g = "%s\n%d core%s" % (name, cores, "s" if cores > 1 else "")
    if g not in groups:
        groups.append(g)
progs = []
for _, prog, _, _ in live:
    if prog not in progs:
        progs.append(prog)
w = 0.8 / len(progs)
for k, prog in enumerate(progs):
    xs, ys = [], []
    for name, p, cores, mpps in live:
        if p == prog:
            g = "%s\n%d core%s" % (name, cores, "s" if cores > 1 else "")
            xs.append(groups.index(g) + (k - (len(progs) - 1) / 2) * w)
            ys.append(mpps)
    color = {"ours": "C0", "upstream": "C1", "floor": "C2"}.get(prog,
                                                             "C%d" % (k + 1))
    bx.bar(xs, ys, w, label=prog, color=color)
bx.set_xticks(range(len(groups)))
bx.set_xticklabels(groups, rotation=30, ha="right", fontsize=7)
bx.set_ylabel("Mpps transmitted by the director (median)")
bx.set_title("live: veth, native XDP, XDP_TX", fontsize=10)
bx.legend(fontsize=8)

fig.suptitle(machine, fontsize=9)
fig.tight_layout()
fig.savefig(png, dpi=90)
