# SPDX-License-Identifier: GPL-2.0
"""Plot bench/pktcost output: ns per packet per case, ours vs upstream vs
the empty program.  plot.py TABLE PNG MACHINE"""
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = []
with open(sys.argv[1]) as table:
    for line in table:
        if line.startswith(("case", "#")) or not line.strip():
            continue
        name, rest = line[:20].strip(), line[20:].split()
        value = lambda s: float(s) if s != "-" else None
        rows.append((name, value(rest[0]), value(rest[4]), value(rest[7])))

names = [r[0] for r in rows]
x = range(len(rows))
width = 0.27
fig, ax = plt.subplots(figsize=(11, 4.5))
ax.bar([i - width for i in x], [r[1] for r in rows], width, label="xdp_iptunnel")
ax.bar(list(x), [r[2] or 0 for r in rows], width, label="upstream xdp_tx_iptunnel")
ax.bar([i + width for i in x], [r[3] for r in rows], width, label="empty program (floor)")
ax.set_xticks(list(x))
ax.set_xticklabels(names, rotation=25, ha="right")
ax.set_ylabel("ns per packet (median)")
ax.set_title("BPF_PROG_TEST_RUN, one run per call: " + sys.argv[3], fontsize=9)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=90)
