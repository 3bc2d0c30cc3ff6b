#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Live throughput of xdp_iptunnel and of the upstream xdp_tx_iptunnel, in
# one run, on a veth pair inside a network namespace made for it:
#
#   livegen (BPF_PROG_TEST_RUN, live frames) -> g0 ==veth== d0: director,
#   native XDP, XDP_TX -> back to g0: xdp_sink counts and drops
#
# Each director is started by its own loader as a user would run it, then
# measured with the generator on 1 core and on 2 cores (the veth has two
# queues; each core carries its share through generator, director and
# sink); ours and upstream alternate, REPS times. Only documentation
# addresses are used.
#
#   bench/live.sh BUILD SECONDS REPS [CASES]
#
# prints lines: case director cores rep Mpps ipip director-Mpps director-ns
# (Mpps by the sink; ipip: the share of those that were IP-in-IP;
# director-Mpps by its own counter; director-ns: its run time per packet
# by the kernel's BPF statistics; - when unknown)
#
# BUILD holds livegen, bench_kern.o, xdp_tx_iptunnel and its _kern.o. CASES
# (default all) is a list of: tcp4 udp4 tcp6 maglev4. The floor is
# bench_kern.c's xdp_bounce as the director: XDP_TX at once.

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 seconds=$2 reps=$3
cases=${4:-tcp4 udp4 tcp6 maglev4}
ns=xipt-live-$$
director=""

cleanup() {
	if [ -n "$director" ]; then
		kill "$director" 2>/dev/null || true
		wait "$director" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ns"
ip -n "$ns" link add g0 numtxqueues 2 numrxqueues 2 type veth \
	peer name d0 numtxqueues 2 numrxqueues 2
ip -n "$ns" link set g0 up
ip -n "$ns" link set d0 up
dmac=$(ip netns exec "$ns" cat /sys/class/net/d0/address)
real_mac=02:00:00:00:00:11

# xdp-trafficgen would be the generator of choice: say whether it works
# here (results.md quotes this)
if ip netns exec "$ns" timeout 10 xdp-trafficgen udp -n 1 -m "$dmac" \
	-a 192.0.2.1 -A 203.0.113.1 -p 80 g0 >"$build/trafficgen.log" 2>&1; then
	echo "xdp-trafficgen: sent a frame" >"$build/trafficgen.txt"
else
	echo "xdp-trafficgen: fails: $(grep -m1 -i 'fail\|error' "$build/trafficgen.log" |
		sed 's/^ *//')" >"$build/trafficgen.txt"
fi

# case -> VIP options, generated frame, counter keys (ours, upstream)
vip_args() {
	case $1 in
	tcp4) echo "-a 192.0.2.1 -p 80 -s 192.0.2.10 -d 192.0.2.11" ;;
	udp4) echo "-a 192.0.2.1 -p 80 -P 17 -s 192.0.2.10 -d 192.0.2.11" ;;
	tcp6) echo "-a 2001:db8::1 -p 80 -s 2001:db8::10 -d 2001:db8::11" ;;
	maglev4)
		echo "-a 192.0.2.1 -p 80 -s 192.0.2.10"
		seq 16 | awk '{ printf " -d 198.51.100.%d", $1 }' ;;
	esac
}
frame() {
	case $1 in
	tcp4 | maglev4) echo "tcp 203.0.113.1 192.0.2.1 80" ;;
	udp4) echo "udp 203.0.113.1 192.0.2.1 80" ;;
	tcp6) echo "tcp 2001:db8:c::1 2001:db8::1 80" ;;
	esac
}
protocol() { case $1 in udp4) echo 17 ;; *) echo 6 ;; esac; }

# start PROG CASE: the director on d0, attached when this returns
start() {
	local prog=$1 c=$2 loader
	# each loads the object beside it: ours this tree's
	case $prog in
	ours) loader=$top/xdp_iptunnel ;;
	upstream) loader=$build/xdp_tx_iptunnel ;;
	esac
	# shellcheck disable=SC2046
	ip netns exec "$ns" "$loader" -i d0 -N -m "$real_mac" -T 600 \
		$(vip_args "$c") >"$build/live-$prog.log" 2>&1 &
	director=$!
	for _ in $(seq 100); do
		ip -n "$ns" link show d0 | grep -q 'prog/xdp' && return 0
		kill -0 "$director" 2>/dev/null || break
		sleep 0.1
	done
	echo "live.sh: $prog did not attach:" >&2
	cat "$build/live-$prog.log" >&2
	exit 1
}

stop() {
	kill "$director"
	wait "$director" || true
	director=""
}

for rep in $(seq "$reps"); do
	for c in $cases; do
		for prog in ours upstream floor; do
			case $prog-$c in
			upstream-maglev4 | floor-maglev4) continue ;;
			esac
			if [ "$prog" = floor ]; then
				counter=(-B d0)	# livegen attaches xdp_bounce
			elif [ "$prog" = upstream ]; then
				start "$prog" "$c"
				counter=(-D "d0:rxcnt:$(protocol "$c")")
			else
				start "$prog" "$c"
				counter=(-D d0:vip_stats:0)
			fi
			for cores in 1 2; do
				# shellcheck disable=SC2046
				out=$(ip netns exec "$ns" "$build/livegen" -i g0 \
					-m "$dmac" -k "$build/bench_kern.o" \
					-t "$seconds" -w 0.3 -n "$cores" -f 8 \
					"${counter[@]}" $(frame "$c"))
				# shellcheck disable=SC2001
				echo "$c $prog $cores $rep $(echo "$out" |
					sed 's/sink_mpps=\([^ ]*\) ipip=\([^ ]*\) director_mpps=\([^ ]*\) director_ns=\([^ ]*\).*/\1 \2 \3 \4/')"
			done
			if [ -n "$director" ]; then
				stop
			fi
		done
	done
done
