#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: xdp_iptunnel against the upstream samples/bpf/xdp_tx_iptunnel
# (built here from linux-source-6.1, never committed) and an empty program:
#   1. per-packet cost, BPF_PROG_TEST_RUN (bench/pktcost.c)
#   2. live throughput on a veth pair in a network namespace (bench/live.sh)
#   3. control plane: the loader's set-up times and memory
# Writes bench/results.md and bench/results.png; everything built or
# measured on the way goes to BENCH_BUILD (/var/cache/xdp_iptunnel/bench).
#
#   bench/run.sh            the full run, a few minutes
#   bench/run.sh --smoke    under a minute: checks that every stage works
#                           (and that both directors tunnel), exits 0 or 1,
#                           ends with "N passed, N failed"; leaves
#                           bench/results.* alone
#
# What is measured is this tree's xdp_iptunnel_kern.o, built here, and
# on the IPv4 hit, the same from a previous tree: BENCH_PREV (a git
# revision; by default where this branch left main), built here too; and
# the real server's xdp_iptunnel_real_kern.o on its own cases.

set -eu -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench
build=${BENCH_BUILD:-/var/cache/xdp_iptunnel/bench}
smoke=""
[ "${1:-}" = --smoke ] && smoke=1
if [ -n "$smoke" ]; then
	rounds=3 calls=100 warm=2 live_s=0.3 live_reps=1 live_cases=tcp4
	cp_runs=1
else
	# 60 x 2000: 120,000 calls per program and case
	rounds=60 calls=2000 warm=8 live_s=1 live_reps=7
	live_cases="tcp4 udp4 tcp6 maglev4" cp_runs=5
fi
mkdir -p "$build"
# one benchmark at a time: they would share files and disturb each other
exec 9>"$build/.lock"
if ! flock -n 9; then
	echo "bench/run.sh: waiting for another run to finish"
	flock 9
fi
# nothing left from an earlier run may pass for this one's
rm -f "$build"/{pktcost.txt,pktcost.tsv,live-raw.txt,live.txt,trafficgen.txt} \
	"$build"/{control.txt,results.md,readme.txt,plot.png}

"$top/tests/deps.sh" bench
tree=$("$top/kernel/prepare-tree.sh" | tail -n 1)
make -s -C "$top" all

# ---- build: upstream object and loader, the benchmark's own programs -----
# build_upstream SRC OUT: compiled the way samples/bpf compiles it
build_upstream() {
	local a=x86

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
		-c "$1" -o "$build/up.bc"
	opt -O2 -mtriple=bpf-pc-linux "$build/up.bc" | llvm-dis |
		llc -march=bpf -mattr=dwarfris -filetype=obj -o "$2.tmp"
	mv "$2.tmp" "$2"
}
up=$build/xdp_tx_iptunnel_kern.o
src=$tree/samples/bpf/xdp_tx_iptunnel_kern.c
if [ ! -s "$up" ] || [ "$src" -nt "$up" ]; then
	build_upstream "$src" "$up"
fi
# its loader, against the tree's libbpf; it opens <argv[0]>_kern.o
src=$tree/samples/bpf/xdp_tx_iptunnel_user.c
if [ ! -x "$build/xdp_tx_iptunnel" ] || [ "$src" -nt "$build/xdp_tx_iptunnel" ]; then
	gcc -O2 -I"$tree/usr/include" -I"$tree/libbpf/include" \
		-I"$tree/tools/testing/selftests/bpf" -I"$tree/tools/include" \
		-I"$tree/samples/bpf" "$src" -o "$build/xdp_tx_iptunnel" \
		"$tree/libbpf/libbpf.a" -lelf -lz
fi
multiarch=$(gcc -print-multiarch)
# newer: is $1 missing or older than any of the rest?
newer() {
	local t=$1 f
	shift
	[ -e "$t" ] || return 0
	for f; do [ "$f" -nt "$t" ] && return 0; done
	return 1
}
if newer "$build/bench_kern.o" "$out/bench_kern.c"; then
	clang -O2 -g -Wall -target bpf -I"/usr/include/$multiarch" \
		-c "$out/bench_kern.c" -o "$build/bench_kern.o"
fi
if newer "$build/pktcost" "$out/pktcost.c" "$top/xdp_iptunnel_common.h"; then
	gcc -O2 -Wall -Wextra -o "$build/pktcost" "$out/pktcost.c" \
		-lbpf -lelf -lz
fi
if newer "$build/livegen" "$out/livegen.c"; then
	gcc -O2 -Wall -Wextra -o "$build/livegen" "$out/livegen.c" \
		-lbpf -lelf -lz -lpthread
fi

# the previous tree's program, built like ours, compared on the IPv4 hit
prev=${BENCH_PREV:-$(git -C "$top" merge-base HEAD main 2>/dev/null || true)}
prev_args=()
if [ -n "$prev" ]; then
	rm -rf "$build/prev"
	mkdir -p "$build/prev"
	git -C "$top" archive "$prev" xdp_iptunnel_kern.c xdp_iptunnel_common.h |
		tar -x -C "$build/prev"
	clang -O2 -g -Wall -target bpf -I"/usr/include/$multiarch" \
		-c "$build/prev/xdp_iptunnel_kern.c" \
		-o "$build/prev/xdp_iptunnel_kern.o"
	prev_args=(-p "$build/prev/xdp_iptunnel_kern.o")
	echo "previous tree: $(git -C "$top" log -1 --format='%h %s' "$prev")"
fi

# copies of ours and upstream cut short after each step: where a hit's
# time goes
rm -rf "$build/stages"
stages=()
while IFS='=' read -r step src; do
	clang -O2 -g -target bpf -I"/usr/include/$multiarch" -I"$top" \
		-c "$src" -o "${src%.c}.o"
	stages+=(-s "$step=${src%.c}.o")
done < <(/usr/bin/python3 "$out/stages.py" "$top/xdp_iptunnel_kern.c" \
	"$build/stages")
while IFS='=' read -r step src; do
	build_upstream "$src" "${src%.c}.o"
	stages+=(-u "$step=${src%.c}.o")
done < <(/usr/bin/python3 "$out/stages.py" --upstream \
	"$tree/samples/bpf/xdp_tx_iptunnel_kern.c" "$build/stages")
[ ${#stages[@]} = 16 ] || { echo "bench/stages.py failed" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. per packet -------------------------------------------------------
echo "== per-packet cost: $rounds rounds x $calls calls per program and case"
"$build/pktcost" -r "$rounds" -n "$calls" -w "$warm" -o "$build/pktcost.tsv" \
	${prev_args[@]+"${prev_args[@]}"} "${stages[@]}" "$top/xdp_iptunnel_kern.o" "$up" \
	"$build/bench_kern.o" "$top/xdp_iptunnel_real_kern.o" |
	sed 's/ *$//' | tee "$build/pktcost.txt"

# ---- 2. live -------------------------------------------------------------
echo "== live throughput: $live_reps x $live_s s per director, case and core count"
"$out/live.sh" "$build" "$live_s" "$live_reps" \
	"$live_cases" >"$build/live-raw.txt"
/usr/bin/python3 "$out/live_table.py" "$build/live-raw.txt" "$(nproc)" |
	tee "$build/live.txt"

# ---- 3. control plane: the loader's own figures, median of runs ---------
echo "== control plane: median of $cp_runs runs of the loader"
ns=xipt-live-cp-$$
trap 'ip netns del $ns 2>/dev/null || true' EXIT
ip netns add $ns
ip -n $ns link add b0 type veth peer name b1
ip -n $ns link set b0 up
ip -n $ns link set b1 up
base="-s 192.0.2.10 -m 02:00:00:00:00:01"
many_vips=$(seq 10000 | awk '{ printf " -a 2001:db8:1::%x -p 80", $1 }')
many_reals=$(seq 1000 | awk '{ printf " -d 2001:db8:2::%x", $1 }')

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME ARGS...: medians of the loader's "configured ... in X ms"
# and, with -v, its Maglev rings' build and push times, its largest peak
# RSS, and the kernel memory of the director it attached (in a run of its
# own, untimed)
measure() {
	local name=$1 pid kmem=-
	shift
	ip netns exec $ns "$top/xdp_iptunnel" -i b0 -T 2 "$@" >/dev/null &
	pid=$!
	while [ "$kmem" = - ] && kill -0 $pid 2>/dev/null; do
		ip -n $ns link show b0 | grep -q prog/xdp &&
			kmem=$(/usr/bin/python3 "$out/mapmem.py" $ns b0)
		sleep 0.05
	done
	wait $pid
	: >"$build/runs"
	for _ in $(seq "$cp_runs"); do
		/usr/bin/time -f "rss %M" -o "$build/time" \
			ip netns exec $ns "$top/xdp_iptunnel" -v -i b0 -T 1 "$@" \
			2>/dev/null | grep configured >>"$build/runs"
		cat "$build/time" >>"$build/runs"
	done
	printf "%-30s %9.3f %9.3f %9.3f %9d %9s\n" "$name" \
		"$(sed -n 's/.* reals in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/.* built in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/.* pushed in \([0-9.]*\) ms.*/\1/p' "$build/runs" | median)" \
		"$(sed -n 's/^rss //p' "$build/runs" | sort -n | tail -n 1)" "$kmem"
}
# shellcheck disable=SC2086
{
printf "%-30s %9s %9s %9s %9s %9s\n" "set-up" "config ms" "Maglev ms" \
	"push ms" "RSS kB" "kernel kB"
measure "1 VIP, port 80" -a 192.0.2.33 -p 80 $base -d 192.0.2.11
measure "1 VIP, ports 1-65535" -a 192.0.2.33 -p 1-65535 $base -d 192.0.2.11
measure "10,000 VIPs (IPv6)" $base -d 192.0.2.11 $many_vips
measure "1 VIP, 1,000 reals (Maglev)" -a 192.0.2.33 -p 80 -s 2001:db8::10 \
	-m 02:00:00:00:00:01 $many_reals
echo "# config: the whole configuration, as the loader prints it; Maglev: the"
echo "# rings built (goal < 5 ms) and pushed into the kernel (goal < 50 ms);"
echo "# RSS: the loader's peak resident memory (largest of the runs); kernel:"
echo "# the director's program and maps, rings included, as the kernel"
echo "# accounts them (memlock; most maps are preallocated at load)"
} | tee "$build/control.txt"

# ---- report --------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
machine="$cpu, $(nproc) cores, Linux $(uname -r)"
{
	echo "# Benchmarks of xdp_iptunnel"
	echo
	echo "Measured by \`bench/run.sh\` (\`make bench\`) on $machine,"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'); load average $load_before before the run,"
	echo "$load_after after (other work on the machine shows as noise). Every"
	echo "figure below is a median of this run; nothing is typed in."
	echo
	echo "## 1. Per packet (BPF_PROG_TEST_RUN)"
	echo
	echo "One run per call (repeat = 1), the kernel's own duration, $rounds rounds of"
	echo "$calls calls per program and case; each round loads every program afresh,"
	echo "in a new order, and runs them in turn call by call over 8 flows. Every"
	echo "call's verdict and output length are checked. Ours: xdp_iptunnel_kern.o,"
	echo "its maps filled as the loader fills them (MTU 1500); upstream:"
	echo "samples/bpf/xdp_tx_iptunnel_kern.c of linux-source-6.1; floor: an empty"
	echo "program (XDP_PASS). The clock's steps (first line) are as coarse as the"
	echo "differences sought, so a round's figure is the mean of its middle 80% of"
	echo "calls, whose readings straddle the steps; med/p10/p90 are the plain"
	echo "quantiles of the calls. \"warm\" rows run the program 1000 times per call"
	echo "on its unchanged packet (only a miss leaves it unchanged), so they show"
	echo "the cost once caches and TLB are warm. The last table runs upstream"
	echo "with its table enlarged to the size of ours (a third load, alternated"
	echo "with the others), to show what the size of the table costs by itself."
	echo "The profile at the end runs copies of ours cut short after each step,"
	echo "and of upstream cut after its lookup (bench/stages.py), on the IPv4 hit"
	echo "in the same rounds, verdicts unchecked: the difference between two rows"
	echo "is roughly a step's cost. \"the trace\": the IPv4 hit with the trace"
	echo "off, against the same program built from a previous tree, and with"
	echo "the trace on (every packet recorded, the ring drained between calls)."
	echo "\"real\" rows: the real server's program (xdp_iptunnel_real_kern.o, its"
	echo "maps filled as xdp_iptunnel --real fills them) on what a director"
	echo "tunnels to it, 4in4 and 6in6, a client's ACK to the VIP: plain, no"
	echo "hint (decapsulated, XDP_PASS); known, hinted and the connection is"
	echo "here (the stack's socket lookup finds it: decapsulated); forwarded,"
	echo "hinted and no connection here (the lookup finds the listener: sent"
	echo "on to the previous real, XDP_TX, the hint marked used). pktcost runs"
	echo "in a network namespace of its own with a listener on each VIP and a"
	echo "connection per flow; besides verdict and length, the program's"
	echo "counters must show every call on its case's path (the table after"
	echo "the first). Its figures are in the \"ours\" columns."
	[ -z "$prev" ] ||
		echo "Previous tree: $(git -C "$top" log -1 --format='%h, %s' "$prev")."
	echo
	echo '```'
	cat "$build/pktcost.txt"
	echo '```'
	echo
	echo "## 2. Live throughput (veth, native XDP, XDP_TX)"
	echo
	echo "64-byte frames (60 bytes + FCS; IPv6 TCP: 74 + FCS), 8 flows, from"
	echo "bench/livegen.c into a veth; the director on the peer, in native mode,"
	echo "sends them back with XDP_TX to a counting XDP_DROP sink (native XDP_TX"
	echo "on a veth reaches the peer only when the peer runs XDP). Mpps = frames"
	echo "the director transmitted per second (the sink's count, checked against"
	echo "the director's own counter: vip_stats for ours, rxcnt for upstream; the"
	echo "sink also checks they are IP-in-IP). Both loaders run as users run"
	echo "them; $live_reps repetitions of ${live_s} s, ours, upstream and the floor in turn."
	echo
	echo "The generator: BPF_PROG_TEST_RUN in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES)"
	echo "running xdp_gen, which rewrites the whole frame every time, since the"
	echo "pages come back as the director left them (encapsulated). Not"
	echo "xdp-trafficgen, tried first by this run: $(sed 's/^xdp-trafficgen: //' "$build/trafficgen.txt")"
	echo "(its UDP mode would also write only a port into recycled frames,"
	echo "and its TCP mode needs a peer that completes the handshake)."
	echo
	echo "Generator, director and sink share the cores, so these figures are"
	echo "the whole path's; the director's own cost is ns/pkt (the kernel's BPF"
	echo "run-time statistics). A director that only bounces (floor) is not"
	echo "always faster end to end: veth batching changes with the director's pace."
	echo
	echo '```'
	cat "$build/live.txt"
	echo '```'
	echo
	echo "## 3. Control plane (the loader, in a network namespace)"
	echo
	echo '```'
	cat "$build/control.txt"
	echo '```'
} >"$build/results.md"
# the README's copy: the machine and the three tables
{
	echo "Measured by \`make bench\` on $machine,"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $load_before before, $load_after after."
	echo
	echo "Per packet, ns:"
	echo
	echo '```'
	grep -v '^# \(ns per\|of the mean\|ratios:\|resolution:\)' "$build/pktcost.txt"
	echo '```'
	echo
	echo "Live, veth, native XDP_TX, 64-byte frames:"
	echo
	echo '```'
	cat "$build/live.txt"
	echo '```'
	echo
	echo "Control plane:"
	echo
	echo '```'
	cat "$build/control.txt"
	echo '```'
} >"$build/readme.txt"
/usr/bin/python3 "$out/plot.py" "$build/pktcost.tsv" "$build/live.txt" \
	"$build/plot.png" "$machine"
if [ -z "$smoke" ]; then
	cp "$build/results.md" "$out/results.md"
	cp "$build/plot.png" "$out/results.png"
	awk -v block="$build/readme.txt" '
		$0 == "[make bench writes from here to the end mark]" {
			print
			while ((getline line < block) > 0)
				print line
			skip = 1
			next
		}
		$0 == "[end mark]" { skip = 0 }
		!skip' "$top/README" >"$build/README"
	cp "$build/README" "$top/README"
	echo "wrote bench/results.md, bench/results.png and the README's tables"
	exit 0
fi

# --smoke: did every stage produce its figures?
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
# shellcheck disable=SC2016 # awk programs
{
check "per packet: all 22 cases measured" \
	test "$(cut -f1 "$build/pktcost.tsv" | sort -u | wc -l)" = 23
# pktcost stops at a call gone wrong; its table says what the program did
n=$((rounds * calls))
check "per packet: the real server decapsulated, kept and forwarded" \
	diff <(sed -n '/^# the real server.s program:/,/^$/p' "$build/pktcost.txt") \
	<(printf '%s\n' "# the real server's program: verdict, bytes in and out, counter (all rounds)" \
		"case                 verdict    in  out  counter" \
		"real 4in4: plain     XDP_PASS   74   54  plain $n" \
		"real 4in4: known     XDP_PASS   82   54  known $n" \
		"real 4in4: forwarded XDP_TX     82   82  forwarded $n" \
		"real 6in6: plain     XDP_PASS  114   74  plain $n" \
		"real 6in6: known     XDP_PASS  138   74  known $n" \
		"real 6in6: forwarded XDP_TX    138  138  forwarded $n" "")
check "per packet: the real server's 6 rows, against the floor" \
	test "$(awk -F'\t' '$2 == "real server" && $3 > 0 { n++ }
		$2 == "floor" && $1 ~ /^real / && $3 > 0 { f++ }
		END { print n + 0, f + 0 }' "$build/pktcost.tsv")" = "6 6"
check "per packet: a ratio to upstream on the IPv4 hit" \
	grep -Eq '^IPv4 hit \(4in4\) .* [0-9]+\.[0-9]{3} ' "$build/pktcost.txt"
check "per packet: the trace off against a previous tree, and on" \
	sh -c "grep -Eq '^trace on, every packet / off +[0-9.]+ +[0-9]+\.[0-9]{3} ' '$build/pktcost.txt' &&
	       { [ -z '$prev' ] || grep -Eq '^trace off / previous tree +[0-9.]+ +[0-9]+\.[0-9]{3} ' '$build/pktcost.txt'; }"
check "per packet: the IPv4 hit cut after each step, ours 7 and upstream 1" \
	test "$(sed -n '/^after step/,$p' "$build/pktcost.txt" |
		grep -c '^[+a-z].* [0-9.]\+ \+-\?[0-9.]\+ \+[0-9.]\+ ')" = 10
check "live: ours, upstream and the floor forwarded frames" \
	awk '$3 == 1 && $5 > 0 { n[$2] = 1 }
	     END { exit !(n["ours"] && n["upstream"] && n["floor"]) }' \
	"$build/live-raw.txt"
check "live: the sink counted what the directors say they sent" \
	awk '$7 != "-" && ($5 - $7 > 0.05 * $7 || $7 - $5 > 0.05 * $7) { exit 1 }' \
	"$build/live-raw.txt"
check "live: every frame the directors sent was IP-in-IP" \
	awk '$2 != "floor" && $6 != 1 { exit 1 }' "$build/live-raw.txt"
check "control plane: 4 set-ups measured" \
	test "$(grep -c '^[0-9A-Za-z].* [0-9.]\+ \+[0-9.]\+ \+[0-9.]\+ \+[0-9]\+ \+[0-9]\+$' "$build/control.txt")" = 4
check "a plot and a table were written" \
	test -s "$build/plot.png" -a -s "$build/results.md"
}
summary
