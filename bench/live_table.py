# SPDX-License-Identifier: GPL-2.0
"""Summarise bench/live.sh output: per case, director and core count the
median Mpps over repetitions and their range, ours over upstream
repetition by repetition, and the director's ns per packet by the kernel's
BPF run-time statistics.

    live_table.py LIVE-RAW.txt CPUS
"""
import statistics
import sys

NAMES = {"tcp4": "TCP IPv4 (4in4)", "udp4": "UDP IPv4 (4in4)",
         "tcp6": "TCP IPv6 (6in6)", "maglev4": "TCP IPv4, 16 reals"}

runs = {}       # (case, director, cores) -> {rep: (mpps, ipip, dir_mpps, ns)}
for line in open(sys.argv[1]):
    case, director, cores, rep, mpps, ipip, dir_mpps, ns = line.split()
    runs.setdefault((case, director, int(cores)), {})[rep] = (
        float(mpps), float(ipip), None if dir_mpps == "-" else float(dir_mpps),
        None if ns == "-" else float(ns))


def ratios(reps, base, i):
    """Median over repetitions of reps' field i over base's."""
    r = [reps[k][i] / base[k][i] for k in reps
         if k in base and reps[k][i] and base[k][i]]
    return "%.3f" % statistics.median(r) if r else "-"


print("%-20s %-9s %5s %7s %13s %9s %7s %9s" %
      ("case", "director", "cores", "Mpps", "(min-max)", "/upstream",
       "ns/pkt", "/upstream"))
maxdiff = 0.0
for (case, director, cores), reps in runs.items():
    mpps = [v[0] for v in reps.values()]
    ns = [v[3] for v in reps.values() if v[3] is not None]
    for m, _, d, _ in reps.values():
        if d is not None and m > 0:
            maxdiff = max(maxdiff, abs(d - m) / m)
    # 16 reals: against upstream's only kind, one real
    base = runs.get(("tcp4" if case == "maglev4" else case, "upstream",
                     cores), {})
    ratio = ns_ratio = "-"
    if director == "ours" and base:
        star = "*" if case == "maglev4" else ""
        ratio = ratios(reps, base, 0) + star
        ns_ratio = ratios(reps, base, 3) + star
    print("%-20s %-9s %5d %7.3f %6.3f-%-6.3f %9s %7s %9s" %
          (NAMES.get(case, case), director, cores, statistics.median(mpps),
           min(mpps), max(mpps), ratio,
           "%.1f" % statistics.median(ns) if ns else "-", ns_ratio))
print("# %s CPUs. 1 core: generator, director and sink share CPU 0; 2 cores:"
      % sys.argv[2])
print("# a veth queue each. Ratios: median of the per-repetition ratios.")
print("# floor: an XDP_TX-only program as the director. ns/pkt: the kernel's")
print("# BPF run-time statistics of the director, its own clock reads included")
print("# (the floor's ns/pkt is about that overhead).")
print("# *: ours with 16 reals against upstream with one real (TCP, IPv4)")
tunnelled = [v[1] for (_, d, _), reps in runs.items() if d != "floor"
             for v in reps.values()]
print("# IP-in-IP share of the frames the sink got from ours and upstream:"
      " at least %.1f%%" % (100 * min(tunnelled)))
print("# the sink's count against the director's own counter: within %.2f%%"
      % (maxdiff * 100))
