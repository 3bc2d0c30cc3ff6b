#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults: the verifier's work stays well under the kernel's limit as the
# program grows, and a director whose interface disappears says so and
# exits cleanly. (SIGKILL, a second loader and stale pins: test_cli.sh.)

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/tap.sh"
NS=xipt-fault
PINS=/sys/fs/bpf/xdp_iptunnel/$NS
# 10% of the kernel's 1,000,000 processed instructions: room to grow
BUDGET=100000

cleanup() {
	ip netns del $NS 2>/dev/null || true
	rm -rf /sys/fs/bpf/xipt-fault "$PINS"
	rmdir /sys/fs/bpf/xdp_iptunnel 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cleanup

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
	ip -n $NS link del f0
	rc=0
	for _ in $(seq 100); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	wait $pid || rc=$?
	check "$mode: the interface deleted under the director: it says so and exits 1" \
		sh -c "test $rc = 1 && grep -qF -e \"-i 'f0': the interface is gone\" '$log'"
	check "$mode: and removes its pins" test ! -e "$PINS/f0"
	rm -f "$log"
	ip -n $NS link add f0 type veth peer name f1
	ip -n $NS link set f0 up
	ip -n $NS link set f1 up
done
summary
