#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The loader under AddressSanitizer + UndefinedBehaviorSanitizer and under
# valgrind: built into a scratch directory, it goes through a
# full cycle in a network namespace (load; several VIPs, v4 and v6, TCP,
# UDP and ICMP, a Maglev ring of four reals, a real whose MAC comes from
# the neighbour table; attach; statistics for 3 s, also as JSON; a live
# --update; health checks that take reals out of the ring; --keep and
# --stop; detach; the real server's tc program, --real --tc, for 1 s)
# and through bad inputs, and must leave no sanitizer report, no
# valgrind error and no leak. The unit tests and a short run of
# fuzz_datapath, built with ASan and UBSan too, must pass clean.
#
#   tests/test_sanitize.sh [USER_DIR]  (default: this tree; the loader's
#                                       sources from there, this tree's
#                                       kern .o)
#
#   xipt-san-PID: d0 192.0.2.10/24, 2001:db8::10/64 ---- d1 (xipt-san-PID-p)
#                                       192.0.2.11/24, 2001:db8::11/64
# Suppressions: tests/test_sanitize.supp (valgrind), each with its reason.

# shellcheck disable=SC2086
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
USER_DIR=$(realpath "${1:-$top}")
USER_SRCS=$(for f in user opts maps net real trace replace stats; do echo "$USER_DIR/xdp_iptunnel_$f.c"; done)
KERN=$top/xdp_iptunnel_kern.o
REAL_KERN=$top/xdp_iptunnel_real_kern.o
SUPP=$top/tests/test_sanitize.supp
NS=xipt-san-$$
PEER=xipt-san-$$-p
PIN_ROOT=/sys/fs/bpf/xdp_iptunnel
tmp=$(mktemp -d)
chmod 755 "$tmp"

cleanup() {
	local p
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$PEER" 2>/dev/null || true
	rm -rf "${PIN_ROOT:?}/$NS"; [ -n "${XIPT_KEEP:-}" ] || rm -rf "$tmp"
	rmdir "$PIN_ROOT" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- builds ------------------------------------------------------------------
mkdir "$tmp/san" "$tmp/vg"
cflags="-I$top -g -Wall"
check "ASan+UBSan build (clang -fsanitize=address,undefined -fno-omit-frame-pointer)" \
	clang $cflags -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=undefined -I"$USER_DIR" $USER_SRCS \
		-o "$tmp/san/xdp_iptunnel" -lbpf -lelf -lz
check "build for valgrind (cc -O2 -g, as make builds it)" \
	cc $cflags -O2 -I"$USER_DIR" $USER_SRCS -o "$tmp/vg/xdp_iptunnel" -lbpf -lelf -lz
cp "$KERN" "$REAL_KERN" "$tmp/san/"
cp "$KERN" "$REAL_KERN" "$tmp/vg/"

ip netns add "$NS"
ip netns add "$PEER"
ip -n "$NS" link add d0 type veth peer name d1 netns "$PEER"
ip -n "$NS" addr add 192.0.2.10/24 dev d0
ip -n "$NS" addr add 2001:db8::10/64 dev d0 nodad
ip -n "$PEER" addr add 192.0.2.11/24 dev d1
ip -n "$PEER" addr add 2001:db8::11/64 dev d1 nodad
ip -n "$NS" link set d0 up
ip -n "$NS" link set lo up
ip -n "$PEER" link set d1 up

# Sanitizer reports go to files; any such file, or a report on stderr,
# fails the run.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$tmp/report/asan:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87:log_path=$tmp/report/ubsan"
mkdir "$tmp/report"

m=08:00:27:96:39:d5
ring="-m $m -d 192.0.2.21 -d 192.0.2.22,weight=2 -d 192.0.2.23,weight=0 -d 192.0.2.24"
cycle="-i d0 -s 192.0.2.10 -a 192.0.2.33 -p 80-81 -p 443 $ring
	-a 192.0.2.34 -P udp -p 53 -d 192.0.2.11
	-a 192.0.2.35 -P icmp -d 192.0.2.21,mac=$m
	-a 2001:db8::33 -p 8080 -s 2001:db8::10 -d 2001:db8::21,mac=$m -d 2001:db8::22,mac=$m
	-a 2001:db8::34 -P icmpv6"
update="-i d0 -s 192.0.2.10 -a 192.0.2.33 -p 80 $ring -d 192.0.2.25,mac=$m
	-a 192.0.2.36 -P 47 -d 192.0.2.11,mac=$m"

# run_cycle WRAPPER...: the full cycle with the loader run by WRAPPER
# ($exe: the loader); its outputs in $tmp/cycle.*
run_cycle() {
	local log=$tmp/cycle rc=0 pid
	: >"$log.main"
	# load, configure, attach (-m learnt for 192.0.2.11); until SIGINT;
	# -v: libbpf's messages and the Maglev rings' times too
	nsenter --net="/run/netns/$NS" "$@" "$exe" -v $cycle \
		>"$log.main" 2>&1 &
	pid=$!
	for _ in $(seq 300); do
		[ -e "$PIN_ROOT/$NS/d0/vip_tables" ] &&
			ip -n "$NS" link show dev d0 | grep -q " xdp" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# a live change, through the pinned maps, then statistics
	nsenter --net="/run/netns/$NS" "$@" "$exe" -U $update \
		>"$log.update" 2>&1 || rc=$?
	sleep 2.5
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	# JSON statistics for 3 s, health checks taking the ring's reals out
	nsenter --net="/run/netns/$NS" "$@" "$exe" $cycle -j -T 3 \
		--check tcp:80 --check-interval 1 --check-fall 1 \
		>"$log.json" 2>&1 || rc=$?
	# --keep, then --stop
	nsenter --net="/run/netns/$NS" "$@" "$exe" $cycle -K -T 1 \
		>"$log.keep" 2>&1 || rc=$?
	nsenter --net="/run/netns/$NS" "$@" "$exe" -i d0 --stop \
		>"$log.stop" 2>&1 || rc=$?
	# the real server's tc program, its statistics as JSON
	nsenter --net="/run/netns/$NS" "$@" "$exe" --real --tc -i d0 -j -T 1 \
		>"$log.real" 2>&1 || rc=$?
	echo "$rc" >"$log.rc"
}

# run_bad WRAPPER...: bad inputs; each must exit 1
bad_inputs=(
	"-i d0 -a 192.0.2.333 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 90-80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 80 -s 2001:db8::10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11,weight=x"
	"-i nosuch0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -P 300 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m -T -5"
	"-i d0 -a 192.0.2.33 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -P icmp -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 80 -p 81-90 -p 85 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 --check ftp -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 --flow-src 2001:db8::/200 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.99"
	"-i d0 -U -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m"
	"-i d0 --stop"
	"-i d0 --real --tc -S"
	"-z"
)
run_bad() {
	local i=0 rc bad=""
	for args in "${bad_inputs[@]}"; do
		rc=0
		nsenter --net="/run/netns/$NS" "$@" "$exe" $args \
			>"$tmp/bad.$i" 2>&1 || rc=$?
		[ "$rc" = 1 ] || bad="$bad [$args: exit $rc]"
		i=$((i + 1))
	done
	# a missing, a corrupt and a truncated object
	for obj in none garbage truncated; do
		mkdir -p "$tmp/obj-$obj"
		cp "$exe" "$tmp/obj-$obj/xdp_iptunnel"
		case $obj in
		garbage) head -c 4096 /dev/urandom >"$tmp/obj-$obj/xdp_iptunnel_kern.o" ;;
		truncated) head -c 400 "$KERN" >"$tmp/obj-$obj/xdp_iptunnel_kern.o" ;;
		esac
		rc=0
		nsenter --net="/run/netns/$NS" "$@" "$tmp/obj-$obj/xdp_iptunnel" \
			-i d0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m $m \
			>"$tmp/bad.$obj" 2>&1 || rc=$?
		[ "$rc" = 1 ] || bad="$bad [$obj object: exit $rc]"
		rm -rf "$tmp/obj-$obj"
	done
	echo "$bad"
}

# cycle_ok NAME: the cycle went through (rc 0, attached, stats, updated,
# health checks, kept and stopped)
cycle_ok() {
	local l=$tmp/cycle why=""
	[ "$(cat "$l.rc")" = 0 ] || why="$why exit status $(cat "$l.rc");"
	grep -q "attached to d0" "$l.main" || why="$why not attached;"
	grep -q "MAC .* of neighbour 192.0.2.11 on d0" "$l.main" ||
		why="$why no MAC from the neighbour table;"
	grep -q "Maglev rings built" "$l.main" || why="$why no ring;"
	grep -q "^events:" "$l.main" || why="$why no statistics;"
	grep -q "detached from d0" "$l.main" || why="$why not detached;"
	grep -q "updated the director on d0" "$l.update" || why="$why no update;"
	grep -q '^{"time":' "$l.json" || why="$why no JSON statistics;"
	grep -q "real 192.0.2.21 port 80 is down" "$l.json" ||
		why="$why no health-check change;"
	grep -q "left attached and pinned" "$l.keep" || why="$why not kept;"
	grep -q "stopped the director on d0" "$l.stop" || why="$why not stopped;"
	grep -q "attached to d0 .* at tc ingress" "$l.real" &&
		grep -q '^{"real":{"plain":0,' "$l.real" &&
		grep -q "detached from d0" "$l.real" || why="$why no --real --tc;"
	ip -n "$NS" link show dev d0 | grep -q " xdp" && why="$why still attached;"
	[ -z "$(tc -n "$NS" filter show dev d0 ingress)" ] ||
		why="$why tc filter left;"
	[ ! -e "$PIN_ROOT/$NS" ] || why="$why pins left;"
	if [ -z "$why" ]; then
		ok "$1"
	else
		not_ok "$1" "$why (logs: $(head -c 300 "$l.main" | tr '\n' ' '))"
	fi
}

# sanitizer_clean NAME: no report file and no report in any output
sanitizer_clean() {
	local found
	found=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' \
		"$tmp"/cycle.* "$tmp"/bad.* "$tmp"/test.* "$tmp"/report/* 2>/dev/null) || true
	found="$found $(find "$tmp/report" -type f -printf '%f ')"
	if [ -z "${found// /}" ]; then
		ok "$1"
	else
		not_ok "$1" "reports in:$found; $(cat "$tmp"/report/* 2>/dev/null |
			grep -m 3 -E 'ERROR|runtime error|SUMMARY' | tr '\n' ' ')"
	fi
}

# ---- ASan + UBSan -------------------------------------------------------------
exe=$tmp/san/xdp_iptunnel
t0=$(date +%s)
run_cycle env
cycle_ok "ASan+UBSan: the full cycle runs ($(($(date +%s) - t0)) s)"
bad=$(run_bad env)
check "ASan+UBSan: ${#bad_inputs[@]} bad inputs and 3 bad objects exit 1${bad:+:$bad}" \
	test -z "$bad"
# the tests' own C: the unit tests, and the fuzzer on make check's
# frames (20,000 from seed 1: they reach every outcome of its model)
for t in "tests/test_kern" "tests/fuzz/fuzz_datapath -n 20000 -s 1"; do
	name=${t%% *}
	name=${name##*/}
	rc=0
	clang $cflags -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=undefined "$top/${t%% *}.c" \
		-o "$tmp/san/$name" -lbpf -lelf -lz >"$tmp/test.$name" 2>&1 ||
		rc=$?
	[ $rc != 0 ] || "$tmp/san/$name" ${t#"${t%% *}"} "$KERN" \
		>"$tmp/test.$name" 2>&1 || rc=$?
	check "ASan+UBSan: $t, built with them, passes ($(tail -n 1 "$tmp/test.$name"))" \
		test $rc = 0
done
sanitizer_clean "ASan+UBSan: no sanitizer report (errors, leaks, undefined behaviour)"

# ---- valgrind -----------------------------------------------------------------
unset ASAN_OPTIONS UBSAN_OPTIONS
exe=$tmp/vg/xdp_iptunnel
# shellcheck disable=SC2054
vg=(valgrind --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=definite,indirect,possible
	--error-exitcode=99 --track-fds=no --quiet --num-callers=30
	--suppressions="$SUPP" --log-file="$tmp/report/vg.%p")
t0=$(date +%s)
run_cycle "${vg[@]}"
cycle_ok "valgrind: the full cycle runs ($(($(date +%s) - t0)) s)"
bad=$(run_bad "${vg[@]}")
check "valgrind: ${#bad_inputs[@]} bad inputs and 3 bad objects exit 1${bad:+:$bad}" \
	test -z "$bad"
# an error, or a leak record ("N bytes in M blocks are definitely lost")
vg_report='^==[0-9]+== ([A-Z]|[0-9,]+ bytes in [0-9,]+ blocks are)'
errs=$(grep -l -E "$vg_report" "$tmp"/report/vg.* 2>/dev/null) || true
runs=$(find "$tmp/report" -name 'vg.*' | wc -l)
check "valgrind: no error and no leak (--leak-check=full --error-exitcode=99; $runs runs)${errs:+: $(cat $errs | grep -m 5 -E "$vg_report" | tr '\n' ' ')}" \
	test -z "$errs"

summary
