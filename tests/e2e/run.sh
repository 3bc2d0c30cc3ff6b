#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end tests in the virtual lab (lab/lib.sh): real nginx behind the
# director, for IPv4, IPv6, 4in6 and 6in4, in native and generic XDP.
# Captures on the bridge are decoded by tshark, independently of us.
#
#   tests/e2e/run.sh [native|generic]...

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

trap 'lab_down' EXIT
trap 'exit 1' INT TERM

url() { case $1 in *:*) echo "http://[$1]:$2/" ;; *) echo "http://$1:$2/" ;; esac; }
fetch() { in_ns client curl -s --max-time 2 "$(url "$1" "$2")"; }

# frames PCAP: one line per frame, fields joined by '|'; encapsulated
# frames list outer and inner values comma-separated
frames() {
	tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-T fields -E separator='|' \
		-e eth.src -e eth.dst -e ip.src -e ip.dst -e ip.proto -e ip.ttl \
		-e ip.checksum.status -e ipv6.src -e ipv6.dst -e ipv6.nxt \
		-e ipv6.hlim -e tcp.srcport -e tcp.dstport \
		-e tcp.checksum.status 2>/dev/null
}

# One family combination: VIP family $1, tunnel family $2
test_combo() {
	local mode=$1 vf=$2 tf=$3 vip client lb rs name lb_mac rs_mac pcap
	name="$vf in $tf, $mode"
	if [ "$vf" = 4 ]; then vip=$VIP4 client=$(host4 client)
	else vip=$VIP6 client=$(host6 client); fi
	if [ "$tf" = 4 ]; then lb=$(host4 lb) rs=$(host4 rs1)
	else lb=$(host6 lb) rs=$(host6 rs1); fi
	lb_mac=$(host_mac lb)
	rs_mac=$(host_mac rs1)

	# without the program the director's own stack owns the VIP
	check "$name: before the director attaches, the VIP is refused by the director" \
		test "$(fetch "$vip" 80 || echo refused)" = refused
	lab_director -a "$vip" -p 80-81 -s "$lb" -d "$rs" -m "$rs_mac" \
		$([ "$mode" = generic ] && echo -S)
	lab_capture_start "e2e"
	check "$name: curl through the VIP gets the real server's page" \
		test "$(fetch "$vip" 80)" = rs1
	check "$name: port 81, the range's other end, is tunnelled too" \
		test "$(fetch "$vip" 81)" = rs1
	check "$name: port 82, just above the range, is not tunnelled (refused by the director)" \
		test "$(fetch "$vip" 82 || echo refused)" = refused
	check "$name: port 79, just below it, neither" \
		test "$(fetch "$vip" 79 || echo refused)" = refused
	lab_capture_stop e2e
	lab_stop_director INT
	pcap=$LAB_RUN/e2e.pcap

	frames "$pcap" >"$LAB_RUN/e2e.frames"
	set -- $(analyse "$LAB_RUN/e2e.frames" "$lb_mac" "$rs_mac" \
		"$(host_mac client)" "$lb" "$rs" "$client" "$vip" "$vf" "$tf")
	check "$name: $1 frames director->real, each with a valid outer header (tshark: addresses, protocol $([ "$vf" = 4 ] && echo 4 || echo 41), TTL 64$([ "$tf" = 4 ] && echo ", checksum good")) and the inner TCP checksum good" \
		test "$1" -ge 6 -a "$2" = 0
	check "$name: $3 replies go straight from the real to the client, from the VIP" \
		test "$3" -ge 4
	check "$name: no reply from the VIP leaves through the director" \
		test "$4" = 0
	check "$name: nothing to ports 79 and 82 reaches the real" test "$5" = 0
}

# analyse FRAMES LB_MAC RS_MAC CLIENT_MAC LB RS CLIENT VIP VF TF: prints
# tunnelled-valid tunnelled-invalid direct-replies replies-via-director
# frames-to-ports-79-or-82-at-the-real
analyse() {
	awk -F'|' -v lbm="$2" -v rsm="$3" -v cm="$4" -v lb="$5" -v rs="$6" \
	    -v client="$7" -v vip="$8" -v vf="$9" -v tf="${10}" '
	function first(f) { split(f, a, ","); return a[1] }
	function last(f) { n = split(f, a, ","); return a[n] }
	{
		src = $3 != "" ? last($3) : last($8)
		if ($1 == lbm && $2 == rsm) {
			if (tf == 4) {
				o_src = first($3); o_dst = first($4)
				o_p = first($5); o_ttl = first($6)
				o_ok = first($7) == 1
			} else {
				o_src = first($8); o_dst = first($9)
				o_p = first($10); o_ttl = first($11); o_ok = 1
			}
			i_src = vf == 4 ? last($3) : last($8)
			i_dst = vf == 4 ? last($4) : last($9)
			if (o_src == lb && o_dst == rs && o_ttl == 64 && o_ok &&
			    o_p == (vf == 4 ? 4 : 41) && i_src == client &&
			    i_dst == vip && ($13 == 80 || $13 == 81) && $14 == 1)
				good++
			else
				bad++
		}
		if ($1 == rsm && $2 == cm && src == vip)
			direct++
		if ($1 == lbm && src == vip && ($12 == 80 || $12 == 81))
			via_lb++
		if ($2 == rsm && ($13 == 79 || $13 == 82))
			p82++
	}
	END { print good + 0, bad + 0, direct + 0, via_lb + 0, p82 + 0 }' "$1"
}

# After the loader stops, nothing stays attached and nothing is tunnelled.
test_stop() {
	local mode=$1 how=$2 flags what want
	flags=$([ "$mode" = generic ] && echo -S || true)
	if [ "$how" = T ]; then
		# shellcheck disable=SC2086
		lab_director -a "$VIP4" -p 80 -s "$(host4 lb)" -d "$(host4 rs1)" \
			-m "$(host_mac rs1)" -T 2 $flags
		check "$mode: -T 2: tunnelled while it runs" \
			test "$(fetch "$VIP4" 80)" = rs1
		lab_stop_director 0
		what="-T 2" want="stops by itself within 5 s, exit status 0"
		check "$mode: -T 2: the director $want (status $(director_status))" \
			test "$(director_status)" = 0
	else
		# shellcheck disable=SC2086
		lab_director -a "$VIP4" -p 80 -s "$(host4 lb)" -d "$(host4 rs1)" \
			-m "$(host_mac rs1)" $flags
		check "$mode: before SIG$how the VIP is tunnelled" \
			test "$(fetch "$VIP4" 80)" = rs1
		lab_stop_director "$how"
		what=SIG$how
		want=$([ "$how" = KILL ] && echo 137 || echo 0)
		check "$mode: SIG$how: the director's exit status is $want ($(director_status))" \
			test "$(director_status)" = "$want"
	fi
	check "$mode: after $what no XDP program is attached (ip link, bpftool net)" \
		sh -c '! ip -n xipt-lb link show eth0 | grep -q " xdp" &&
			! nsenter --net=/run/netns/xipt-lb bpftool net show dev eth0 | grep -q xdp_iptunnel'
	check "$mode: after $what the VIP is no longer tunnelled" \
		test "$(fetch "$VIP4" 80 || echo refused)" = refused
}

modes=${*:-native generic}
"$top/tests/deps.sh" demo
make -s -C "$top" all lab/xdp_pass_kern.o
for mode in $modes; do
	lab_up "$mode" 1
	for combo in "4 4" "6 6" "4 6" "6 4"; do
		# shellcheck disable=SC2086
		test_combo "$mode" $combo
	done
	for how in INT T KILL; do
		test_stop "$mode" "$how"
	done
	lab_down
done
summary
