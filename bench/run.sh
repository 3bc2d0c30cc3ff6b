#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: per-packet cost of xdp_iptunnel against the upstream
# samples/bpf/xdp_tx_iptunnel (built here from linux-source-6.1, never
# committed) and an empty program, then control-plane set-up times.
# Writes bench/results.md and bench/results.png.
#
#   bench/run.sh [--smoke]     --smoke: a few seconds, checks it works

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench
build=${BENCH_BUILD:-/var/cache/xdp_iptunnel/bench}
rounds=30 calls=2000 cp_runs=5
[ "${1:-}" = --smoke ] && rounds=2 calls=100 cp_runs=1 smoke=1
mkdir -p "$build"

"$top/tests/deps.sh" bench
tree=$("$top/kernel/prepare-tree.sh" | tail -n 1)
make -s -C "$top" all lab/xdp_decap_kern.o

# the upstream program, compiled with the flags samples/bpf uses
up=$build/xdp_tx_iptunnel_kern.o
if [ ! -s "$up" ] || [ "$tree/samples/bpf/xdp_tx_iptunnel_kern.c" -nt "$up" ]; then
	a=x86
	clang -nostdinc -isystem "$(clang -print-file-name=include)" \
		-I"$tree/arch/$a/include" -I"$tree/arch/$a/include/generated" \
		-I"$tree/include" -I"$tree/arch/$a/include/uapi" \
		-I"$tree/arch/$a/include/generated/uapi" -I"$tree/include/uapi" \
		-I"$tree/include/generated/uapi" \
		-include "$tree/include/linux/kconfig.h" \
		-I"$tree/samples/bpf" -I"$tree/libbpf/include" \
		-D__KERNEL__ -D__BPF_TRACING__ -D__TARGET_ARCH_$a \
		-fno-stack-protector -Wno-unused-value -Wno-pointer-sign \
		-Wno-compare-distinct-pointer-types \
		-Wno-gnu-variable-sized-type-not-at-end \
		-Wno-address-of-packed-member -Wno-tautological-compare \
		-Wno-unknown-warning-option -fno-asynchronous-unwind-tables \
		-g -O2 -emit-llvm -Xclang -disable-llvm-passes \
		-c "$tree/samples/bpf/xdp_tx_iptunnel_kern.c" -o "$build/up.bc"
	opt -O2 -mtriple=bpf-pc-linux "$build/up.bc" | llvm-dis |
		llc -march=bpf -mattr=dwarfris -filetype=obj -o "$up"
fi
gcc -O2 -Wall -Wextra -o "$build/pktcost" "$top/bench/pktcost.c" -lbpf -lelf -lz

echo "per-packet cost: $rounds rounds x $calls calls per program and case"
"$build/pktcost" -r "$rounds" -n "$calls" "$top/xdp_iptunnel_kern.o" "$up" \
	"$top/lab/xdp_decap_kern.o" | tee "$build/pktcost.txt"

# ---- control plane: the loader's own figures, median of runs ----------
ns=xipt-bench
trap 'ip netns del $ns 2>/dev/null || true' EXIT
ip netns del $ns 2>/dev/null || true
ip netns add $ns
ip -n $ns link add b0 type veth peer name b1
ip -n $ns link set b0 up
ip -n $ns link set b1 up
loader() { nsenter --net=/run/netns/$ns "$top/xdp_iptunnel" -i b0 -T 1 "$@"; }
base="-s 192.0.2.10 -m 02:00:00:00:00:01"
many_vips=$(seq 10000 | awk '{ printf " -a 2001:db8:1::%x -p 80", $1 }')
many_reals=$(seq 1000 | awk '{ printf " -d 2001:db8:2::%x", $1 }')

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME ARGS...: medians of the loader's "configured ... in X ms"
# and Maglev build and push times, and its largest peak RSS
measure() {
	local name=$1 i
	shift
	: >"$build/runs"
	for i in $(seq "$cp_runs"); do
		/usr/bin/time -f "rss %M" -o "$build/time" \
			nsenter --net=/run/netns/$ns "$top/xdp_iptunnel" -i b0 -T 1 "$@" |
			grep configured >>"$build/runs"
		cat "$build/time" >>"$build/runs"
	done
	printf "%-28s configure %8.3f ms, Maglev build %7.3f ms, push %7.3f ms, loader RSS %d kB\n" \
		"$name" \
		"$(sed -n 's/.* reals in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/.* built in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/.* pushed in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/^rss //p' "$build/runs" | sort -n | tail -n 1)"
}
# shellcheck disable=SC2086
{
measure "1 VIP, port 80" -a 192.0.2.33 -p 80 $base -d 192.0.2.11
measure "1 VIP, ports 1-65535" -a 192.0.2.33 -p 1-65535 $base -d 192.0.2.11
measure "10,000 VIPs" $base -d 192.0.2.11 $many_vips
measure "1 VIP, 1,000 reals (Maglev)" -a 192.0.2.33 -p 80 -s 2001:db8::10 \
	-m 02:00:00:00:00:01 $many_reals
} | tee "$build/control.txt"

# ---- report --------------------------------------------------------------
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, Linux $(uname -r)"
{
	echo "Measured by \`make bench\` on $machine, $(date -u +%Y-%m-%d)."
	echo
	echo "Per packet, ns (BPF_PROG_TEST_RUN, one run per call, kernel-measured;"
	echo "median over $rounds fresh loads of the per-load medians of $calls calls):"
	echo
	echo '```'
	cat "$build/pktcost.txt"
	echo '```'
	echo
	echo "Control plane (median of $cp_runs runs of the loader):"
	echo
	echo '```'
	cat "$build/control.txt"
	echo '```'
} >"$build/results.md"
/usr/bin/python3 "$top/bench/plot.py" "$build/pktcost.txt" "$build/plot.png" "$machine"
if [ -z "${smoke:-}" ]; then
	cp "$build/results.md" "$out/results.md"
	cp "$build/plot.png" "$out/results.png"
	echo "wrote bench/results.md and bench/results.png"
	exit 0
fi

# --smoke: did every stage produce its figures?
. "$top/tests/tap.sh"
check "per-packet table has all 10 cases" \
	test "$(grep -c '^[A-Za-z0-9].* [0-9.]* ' "$build/pktcost.txt")" -ge 10
check "the upstream program was measured (a ratio on the IPv4 hit)" \
	grep -q '^IPv4 hit (4in4) .* [01]\.[0-9][0-9][0-9] ' "$build/pktcost.txt"
check "control plane: 4 set-ups measured" \
	test "$(grep -c 'configure .* ms' "$build/control.txt")" = 4
check "a plot was written" test -s "$build/plot.png"
summary
