#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Path MTU discovery over direct server return, in the lab with a router
# between the client and the rest (lab/lib.sh, LAB_ROUTER_MTU): its route
# toward the client is 1400 bytes, locked, while client and servers keep
# 1500, so TCP's MSS does not avoid the smaller link. The real's first
# full-size answer makes the router send "fragmentation needed" / "packet
# too big" to the answer's source, the VIP, which routes to the director.
# A 2 MB download through the VIP completes only if the director passes
# the error on to the real that sent the answer. Then the same with the
# program's ICMP branch cut out (a copy built here): the download must
# stall. Also: ping to the VIP, answered by the director's stack.
#
#   tests/e2e/test_pmtu.sh [native|generic]...

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

export LAB_ROUTER_MTU=1400
off=$(mktemp -d /tmp/xipt-pmtu-off.XXXXXX)
trap 'lab_down; rm -rf "$off"' EXIT
trap 'exit 1' INT TERM

url() { case $1 in *:*) echo "http://[$1]/big" ;; *) echo "http://$1/big" ;; esac; }

# route_mtu HOST FAMILY DST: the MTU the route cache holds toward DST, or
# "none"
route_mtu() {
	in_ns "$1" ip "-$2" route get "$3" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "mtu")
				m = $(i + 1) == "lock" ? $(i + 2) : $(i + 1) }
		     END { print m == "" ? "none" : m }'
}

# icmp_errors: the VIP's ICMP errors in the director's last statistics
icmp_errors() {
	grep "^vip " "$LAB_RUN/director.log" | tail -n 1 |
		sed -n 's/.*, \([0-9]*\) icmp errors$/\1/p'
}

# One combination: VIP family $2 tunnelled in family $3, with the loader
# $4 (the product, or the copy without the ICMP branch)
test_download() {
	local mode=$1 vf=$2 tf=$3 loader=$4 vip client lb rs name flags rc=0
	if [ "$vf" = 4 ]; then vip=$VIP4 client=$(host4 client)
	else vip=$VIP6 client=$(host6 client); fi
	if [ "$tf" = 4 ]; then lb=$(host4 lb) rs=$(host4 rs1)
	else lb=$(host6 lb) rs=$(host6 rs1); fi
	name="$vf in $tf, $mode"
	[ "$loader" = "$LAB_LOADER" ] || name="$name, ICMP branch cut out"

	# a clean route cache on the real: no MTU learnt before
	in_ns rs1 ip "-$vf" route flush cache
	flags=$([ "$mode" = generic ] && echo -S || true)
	# shellcheck disable=SC2086
	LAB_LOADER=$loader lab_director -a "$vip" -p 80 -s "$lb" -d "$rs" \
		-m "$(host_mac rs1)" $flags
	rm -f "$off/got"
	in_ns client curl -s -g --max-time "$5" -o "$off/got" "$(url "$vip")" ||
		rc=$?
	sleep 1.1	# one more line of statistics
	lab_stop_director INT
	if [ "$loader" = "$LAB_LOADER" ]; then
		check "$name: 2 MB through the VIP over the 1400-byte path, intact (curl status $rc)" \
			test "$rc" = 0 -a "$(sha256sum "$off/got" | cut -d' ' -f1)" = "$want"
		check "$name: the real's route toward the client has MTU 1400 (ip route get: $(route_mtu rs1 "$vf" "$client"))" \
			test "$(route_mtu rs1 "$vf" "$client")" = 1400
		check "$name: the director's statistics count the VIP's ICMP errors ($(icmp_errors))" \
			test "$(icmp_errors)" -ge 1
	else
		check "$name: the download stalls (curl status $rc, 28: timed out)" \
			test "$rc" = 28
		check "$name: the real's route toward the client learnt no MTU ($(route_mtu rs1 "$vf" "$client"))" \
			test "$(route_mtu rs1 "$vf" "$client")" = none
	fi
}

# ping_vip VIP COUNTER: "answered/replies": echo replies the client got
# of 2, and how many the director's stack sent (nstat COUNTER)
ping_vip() {
	local before after got
	before=$(in_ns lb nstat -asz "$2" | awk -v c="$2" '$1 == c { print $2 }')
	got=$(in_ns client ping -q -c 2 -i 0.2 -W 1 "$1" |
		sed -n 's/.* \([0-9]*\) received.*/\1/p')
	after=$(in_ns lb nstat -asz "$2" | awk -v c="$2" '$1 == c { print $2 }')
	echo "$got/$((after - before))"
}

test_ping() {
	local mode=$1 flags got
	flags=$([ "$mode" = generic ] && echo -S || true)
	# shellcheck disable=SC2086
	lab_director -a "$VIP4" -p 80 -s "$(host4 lb)" -d "$(host4 rs1)" \
		-m "$(host_mac rs1)" -a "$VIP6" -p 80 -s "$(host6 lb)" \
		-d "$(host6 rs1)" -m "$(host_mac rs1)" $flags
	got=$(ping_vip "$VIP4" IcmpOutEchoReps)
	check "$mode: ping $VIP4 from the client: 2 of 2 answered, by the director's stack ($got)" \
		test "$got" = 2/2
	got=$(ping_vip "$VIP6" Icmp6OutEchoReplies)
	check "$mode: ping $VIP6 from the client: 2 of 2 answered, by the director's stack ($got)" \
		test "$got" = 2/2
	lab_stop_director INT
}

modes=${*:-native generic}
"$top/tests/deps.sh" demo
make -s -C "$top" all lab/xdp_pass_kern.o
# the program without its ICMP branch
lab_cut_loader "$off" 's/^\tif (is_icmp(pkt)) {$/\tif (0) {/'
for mode in $modes; do
	lab_up "$mode" 1
	head -c 2000000 /dev/urandom >"$LAB_RUN/big"
	want=$(sha256sum "$LAB_RUN/big" | cut -d' ' -f1)
	test_ping "$mode"
	for combo in "4 4" "6 6" "4 6" "6 4"; do
		# shellcheck disable=SC2086
		test_download "$mode" $combo "$LAB_LOADER" 20
	done
	# without the feature each combination must stall (native only:
	# each stall costs curl's time limit)
	if [ "$mode" = native ]; then
		for combo in "4 4" "6 6" "4 6" "6 4"; do
			# shellcheck disable=SC2086
			test_download "$mode" $combo "$off/xdp_iptunnel" 6
		done
	fi
	lab_down
done
summary
