#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connections survive changes of the real set, in the lab: N parallel
# slow downloads (1.5 MB at 100 kB/s, about 15 s each) through the VIP,
# and a live --update 4 s in: a 4th real added, a real drained (taken
# out of the configuration while its nginx keeps serving), or a real's
# weight changed. The real
# servers run xdp_iptunnel --real. Each run prints how many connections
# the change moved to another real (tests/flowpick asks the attached
# program for each client port, before and after) and how many broke;
# with the grace period (the default) none may break, with --grace 0
# (the baseline) the moved ones break: the test fails without the feature.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

N=${SURVIVE_DOWNLOADS:-120}
SIZE=1500000
CLIENT=$(host4 client)

trap 'lab_down' EXIT
trap 'exit 1' INT TERM

# reals HOST[:WEIGHT]...: their -d options
reals() {
	local real
	for real in "$@"; do
		printf -- ' -d %s' "$(host4 "${real%%:*}")"
		[ "${real#*:}" = "$real" ] || printf ',weight=%s' "${real#*:}"
	done
}

# picks PORT0: the real (and hint) for each client port, as the director
# on the lab's eth0 decides now
picks() {
	nsenter --net=/run/netns/"$(lab_ns lb)" "$top/tests/flowpick" \
		-c "$CLIENT" eth0 "$VIP4" 80 "$N" "$1" | cut -d' ' -f5-
}

# scenario NAME PORT0 GRACE "BEFORE" "AFTER": prints "moved M broken B"
scenario() {
	local name=$1 port0=$2 grace=$3 before=$4 after=$5 i pids=()
	# shellcheck disable=SC2046,SC2086
	lab_director -S -a "$VIP4" -p 80 -s "$(host4 lb)" --grace "$grace" \
		$(reals $before)
	for i in $(seq 0 $((N - 1))); do
		ip netns exec "$(lab_ns client)" curl -s --max-time 60 \
			--local-port $((port0 + i)) -o /dev/null \
			-w '%{http_code} %{size_download}\n' \
			"http://$VIP4/slow" >"$LAB_RUN/$name.$i" 2>&1 &
		pids+=($!)
	done
	sleep 4
	picks "$port0" >"$LAB_RUN/$name.before"
	# shellcheck disable=SC2046,SC2086
	nsenter --net=/run/netns/"$(lab_ns lb)" "$LAB_LOADER" -U -i eth0 \
		-a "$VIP4" -p 80 -s "$(host4 lb)" --grace "$grace" \
		$(reals $after) >/dev/null
	picks "$port0" >"$LAB_RUN/$name.after"
	wait "${pids[@]}" || true
	lab_stop_director >/dev/null
	moved=$(paste -d' ' "$LAB_RUN/$name.before" "$LAB_RUN/$name.after" |
		awk '$1 != $2 { n++ } END { print n + 0 }')
	broken=$(cat "$LAB_RUN/$name".[0-9]* | grep -cvx "200 $SIZE" || true)
	echo "moved $moved broken $broken"
}

"$top/tests/deps.sh" demo
make -s -C "$top" all tests/flowpick lab/xdp_pass_kern.o
LAB_DECAP=xdp lab_up generic 4
head -c $SIZE /dev/urandom >"$LAB_RUN/big"
# client ports are reused from run to run: no TIME_WAIT
in_ns client sysctl -qw net.ipv4.tcp_max_tw_buckets=0

r=$(scenario add 20000 60 "rs1 rs2 rs3" "rs1 rs2 rs3 rs4" | tail -n 1)
read -r _ moved _ broken <<<"$r"
check "a 4th real added under $N downloads: $moved moved, $broken broken" \
	test "$moved" -ge $((N / 10)) -a "$broken" = 0
check "the new real handed the moved connections to their reals" \
	grep -q "forwarded [1-9]" "$LAB_RUN/real-rs4.log"

r=$(scenario add0 21000 0 "rs1 rs2 rs3" "rs1 rs2 rs3 rs4" | tail -n 1)
read -r _ moved0 _ broken0 <<<"$r"
check "baseline, --grace 0: $moved0 moved, $broken0 broken (the moved ones)" \
	test "$moved0" -ge $((N / 10)) -a "$broken0" -ge $((moved0 / 2))

r=$(scenario drain 22000 60 "rs1 rs2 rs3 rs4" "rs1 rs3 rs4" | tail -n 1)
read -r _ moved _ broken <<<"$r"
check "rs2 drained (its nginx still serving) under $N downloads: $moved moved, $broken broken" \
	test "$moved" -ge $((N / 10)) -a "$broken" = 0

r=$(scenario drain0 23000 0 "rs1 rs2 rs3 rs4" "rs1 rs3 rs4" | tail -n 1)
read -r _ moved0 _ broken0 <<<"$r"
check "baseline, --grace 0: $moved0 moved, $broken0 broken" \
	test "$moved0" -ge $((N / 10)) -a "$broken0" -ge $((moved0 / 2))

r=$(scenario weight 24000 60 "rs1 rs2 rs3 rs4" "rs1:4 rs2 rs3 rs4" | tail -n 1)
read -r _ moved _ broken <<<"$r"
check "rs1's weight 1 -> 4 under $N downloads: $moved moved, $broken broken" \
	test "$moved" -ge $((N / 10)) -a "$broken" = 0

r=$(scenario weight0 25000 0 "rs1 rs2 rs3 rs4" "rs1:4 rs2 rs3 rs4" | tail -n 1)
read -r _ moved0 _ broken0 <<<"$r"
check "baseline, --grace 0: $moved0 moved, $broken0 broken" \
	test "$moved0" -ge $((N / 10)) -a "$broken0" -ge $((moved0 / 2))

summary
