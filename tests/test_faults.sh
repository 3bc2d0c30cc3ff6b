#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults: the verifier's work stays well under the kernel's limit as the
# program grows; a director whose interface disappears says so and exits
# cleanly; of two loaders started at once on one interface, one runs.
# (SIGKILL, a second loader later and stale pins: test_cli.sh.)

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/tap.sh"
NS=xipt-fault
PINS=/sys/fs/bpf/xdp_iptunnel/$NS
# 15% of the kernel's 1,000,000 processed instructions: room to grow
BUDGET=150000
tmp=

cleanup() {
	local p
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del $NS 2>/dev/null || true
	rm -rf /sys/fs/bpf/xipt-fault "$PINS" ${tmp:+"$tmp"}
	rmdir /sys/fs/bpf/xdp_iptunnel 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cleanup
tmp=$(mktemp -d)

insns=$(bpftool -d prog loadall "$top/xdp_iptunnel_kern.o" /sys/fs/bpf/xipt-fault \
	type xdp 2>&1 | sed -n 's/^processed \([0-9]*\) insns.*/\1/p' | head -n 1)
rm -rf /sys/fs/bpf/xipt-fault
check "the verifier processes ${insns:-?} instructions, under the budget of $BUDGET" \
	test "${insns:-999999999}" -lt $BUDGET

ip netns add $NS
ip -n $NS link add f0 type veth peer name f1
ip -n $NS link set f0 up
ip -n $NS link set f1 up
for mode in -S -N; do
	log=$(mktemp)
	nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" -i f0 -a 192.0.2.33 \
		-p 80 -s 192.0.2.10 -d 192.0.2.11 -m 02:00:00:00:00:01 $mode \
		>"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q attached "$log" && break
		sleep 0.05
	done
	check "attached in $(grep -o '[a-z]* mode' "$log" || echo 'no') ($mode)" \
		grep -q "attached to f0" "$log"
	t0=$(date +%s%N)
	ip -n $NS link del f0
	rc=0
	for _ in $(seq 100); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	wait $pid || rc=$?
	t=$((($(date +%s%N) - t0) / 1000000))
	# it looks every 2 s
	check "$mode: the interface deleted under the director: it says so and exits 1 after $t ms" \
		sh -c "test $rc = 1 && test $t -lt 4500 &&
			grep -qF -e \"-i 'f0': the interface is gone\" '$log'"
	check "$mode: and removes its pins" test ! -e "$PINS/f0"
	rm -f "$log"
	ip -n $NS link add f0 type veth peer name f1
	ip -n $NS link set f0 up
	ip -n $NS link set f1 up
done

# Two loaders started at the same instant, several times: exactly one
# runs, and the maps pinned are the ones its program uses; the other is
# refused. (One after the other: test_cli.sh.)
loader() {
	exec nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" -i f0 \
		-a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 \
		-m 02:00:00:00:00:01 -T 3 >"$1" 2>&1
}
bad=""
for round in 1 2 3 4 5 6; do
	loader "$tmp/a" &
	pid_a=$!
	loader "$tmp/b" &
	pid_b=$!
	# the loser gives up at once; then the winner has pinned its maps
	for _ in $(seq 50); do
		if ! kill -0 "$pid_a" 2>/dev/null ||
		   ! kill -0 "$pid_b" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	sleep 0.5
	map=$(bpftool -j map show pinned "$PINS/f0/vip_tables" 2>/dev/null |
		sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
	prog=$(ip -n $NS -d link show f0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
	maps=$([ -z "$prog" ] || bpftool -j prog show id "$prog" |
		sed -n 's/.*"map_ids":\[\([0-9,]*\)\].*/\1/p')
	rc_a=0
	rc_b=0
	wait "$pid_a" || rc_a=$?
	wait "$pid_b" || rc_b=$?
	if [ -z "$map" ] || ! echo ",$maps," | grep -q ",$map,"; then
		bad="$bad round $round: vip_tables ${map:-not pinned}, program ${prog:-none} with maps ${maps:-none};"
	elif [ "$rc_a$rc_b" != 01 ] && [ "$rc_a$rc_b" != 10 ]; then
		bad="$bad round $round: exit statuses $rc_a and $rc_b;"
	elif ! grep -q "already" "$tmp/$([ $rc_a = 1 ] && echo a || echo b)"; then
		bad="$bad round $round: the loser did not say why;"
	fi
done
check "two loaders at once, 6 times: one runs with its own pins, the other is refused${bad:+:$bad}" \
	test -z "$bad"
check "and nothing is left after them" \
	sh -c "! ip -n $NS link show f0 | grep -q ' xdp' && test ! -e $PINS/f0"
summary
