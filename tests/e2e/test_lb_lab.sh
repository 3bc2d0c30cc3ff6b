#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The load balancer in the lab: three nginx real servers behind one VIP,
# next-hop MACs found by the loader, flows spread by weight, a long
# download that keeps flowing while another real leaves and comes back,
# and health checks that take a stopped nginx out and put it back.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

trap 'lab_down' EXIT
trap 'exit 1' INT TERM

# answers FIRST_PORT COUNT: the real that answers each client port
answers() {
	local port
	for port in $(seq "$1" $(($1 + $2 - 1))); do
		in_ns client curl -s --max-time 2 --local-port "$port" \
			"http://$VIP4/" || echo none
	done
}

count() { grep -cx "$1" "$2" || true; }

director_cmd() {
	echo -a "$VIP4" -p 80 -s "$(host4 lb)" "$@"
}

"$top/tests/deps.sh" demo
make -s -C "$top" all lab/xdp_pass_kern.o
lab_up native 3
rs1=$(host4 rs1) rs2=$(host4 rs2) rs3=$(host4 rs3)
# replaying a flow means reusing its client port at once: no TIME_WAIT
in_ns client sysctl -qw net.ipv4.tcp_max_tw_buckets=0

# ---- MACs from the kernel's tables, spread by weight ------------------
# shellcheck disable=SC2046
lab_director $(director_cmd -d "$rs1" -d "$rs2,weight=2" -d "$rs3") \
	--check http --check-interval 1 --check-fall 2 --check-rise 2
for host in rs1 rs2 rs3; do
	check "-m left out: the loader found $host's MAC ($(host_mac "$host"))" \
		grep -q "$(host4 "$host"): MAC $(host_mac "$host") of neighbour" \
		"$LAB_RUN/director.log"
done
answers 20000 200 >"$LAB_RUN/spread"
n1=$(count rs1 "$LAB_RUN/spread")
n2=$(count rs2 "$LAB_RUN/spread")
n3=$(count rs3 "$LAB_RUN/spread")
check "200 connections all answered" test $((n1 + n2 + n3)) = 200
check "weights 1:2:1 over 200 connections: rs1 $n1, rs2 $n2, rs3 $n3 (each within 50 +-20, 100 +-25)" \
	test "$n1" -ge 30 -a "$n1" -le 70 -a "$n2" -ge 75 -a "$n2" -le 125 \
	-a "$n3" -ge 30 -a "$n3" -le 70

# ---- a long download survives another real leaving and returning -----
head -c 400000 /dev/urandom >"$LAB_RUN/big"
want=$(sha256sum <"$LAB_RUN/big")
in_ns client curl -s --local-port 30000 -o "$LAB_RUN/got" \
	"http://$VIP4/slow" &
download=$!
sleep 0.5
serving=""
for host in rs1 rs2 rs3; do
	in_ns "$host" ss -tn state established "( sport = :80 )" |
		grep -q ":30000" && serving=$host
done
check "the download is served by one real ($serving)" test -n "$serving"
other=$( [ "$serving" = rs1 ] && echo rs2 || echo rs1)
reals=""
for host in rs1 rs2 rs3; do
	[ "$host" = "$other" ] || reals="$reals -d $(host4 "$host"),mac=$(host_mac "$host")"
done
# shellcheck disable=SC2046,SC2086
nsenter --net=/run/netns/"$(lab_ns lb)" "$LAB_LOADER" -U -i eth0 $(director_cmd $reals) >/dev/null
answers 21000 30 >"$LAB_RUN/without"
check "while $other is out, it gets no connection" \
	test "$(count "$other" "$LAB_RUN/without")" = 0
# shellcheck disable=SC2046
nsenter --net=/run/netns/"$(lab_ns lb)" "$LAB_LOADER" -U -i eth0 \
	$(director_cmd -d "$rs1" -d "$rs2,weight=2" -d "$rs3") >/dev/null
wait "$download" || true
check "the download from $serving completed intact while $other left and came back" \
	test "$(sha256sum <"$LAB_RUN/got")" = "$want"
answers 20000 200 >"$LAB_RUN/again"
check "with $other back, every one of the 200 connections goes where it went before" \
	cmp "$LAB_RUN/spread" "$LAB_RUN/again"

# ---- health checks: nginx stopped on rs3, then started again ----------
seen=$(wc -l <"$LAB_RUN/director.log")
kill "$(cat "$LAB_RUN/nginx-rs3.pid")"
await "the health check reports rs3 down" "real $rs3 port 80 is down" \
	"$LAB_RUN/director.log" "$seen"
answers 22000 40 >"$LAB_RUN/down"
check "with rs3 down all 40 connections are answered, none by rs3" \
	test "$(count none "$LAB_RUN/down")" = 0 -a "$(count rs3 "$LAB_RUN/down")" = 0
seen=$(wc -l <"$LAB_RUN/director.log")
lab_nginx rs3
await "the health check reports rs3 up again" "real $rs3 port 80 is up" \
	"$LAB_RUN/director.log" "$seen"
answers 20000 200 >"$LAB_RUN/healed"
check "with rs3 back, every connection goes where it went before" \
	cmp "$LAB_RUN/spread" "$LAB_RUN/healed"
lab_stop_director INT
summary
