#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connections survive a change of the real set made on two directors
# behind ECMP (lab/ecmp_lib.sh), as tests/e2e/test_survive.sh measures it
# for one: N parallel slow downloads (1.5 MB at 100 kB/s, about 15 s
# each) from the client through the router, which spreads them over lb1
# and lb2, and 4 s in the same live --update (a 4th real added to 3) sent
# to lb1 and right after to lb2. Prints how many connections the change
# moved (tests/flowpick asks each director's attached program for each
# client port, before and after: both must agree, hints included) and
# how many broke. With the grace period (the default) none may break;
# with --grace 0 (the baseline) most moved ones break and no other: the
# test fails without the feature. A capture of the tunnelled SYNs on the
# bridge says which director carried each download, so a run where one
# director carried none, or none of the moved ones, fails.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/ecmp_lib.sh"
. "$top/tests/tap.sh"

N=${SURVIVE_DOWNLOADS:-120}
SIZE=1500000
CLIENT=$(host4 e-client)
BEFORE="e-rs1 e-rs2 e-rs3"
AFTER="e-rs1 e-rs2 e-rs3 e-rs4"
LBS="e-lb1 e-lb2"

trap 'ecmp_down' EXIT
trap 'exit 1' INT TERM

# picks LB PORT0: "PORT REAL [hint PREVIOUS]" for each client port, as
# LB's attached program decides now (the outer source, LB's own, left out)
picks() {
	nsenter --net=/run/netns/"xipt-$1" "$top/tests/flowpick" -c "$CLIENT" \
		eth0 "$ECMP_VIP4" "$ECMP_PORT" "$N" "$2" | cut -d' ' -f2,5-
}

# update GRACE: the same --update, the 4th real added, to every director
# one right after the other; prints how long each took ("lb1 0.41 s, lb2
# 0.40 s")
update() {
	local t0 lb out=""
	for lb in $LBS; do
		t0=$EPOCHREALTIME
		# shellcheck disable=SC2046
		nsenter --net=/run/netns/"xipt-$lb" "$LAB_LOADER" -U -i eth0 \
			$(ECMP_CONF_REALS=$AFTER ecmp_director_args "$lb" --grace "$1") \
			>>"$ECMP_RUN/update-$lb.log" 2>&1 || return 1
		out="$out${out:+, }${lb#e-} $(ecmp_since "$t0") s"
	done
	echo "$out"
}

# scenario NAME PORT0 GRACE: both directors started with 3 reals, N
# downloads from the client ports PORT0..., the update 4 s in. Leaves in
# $ECMP_RUN: NAME.before.LB / NAME.after.LB (picks), NAME.curl ("PORT
# CODE BYTES" per download), NAME.syn ("4 PORT LB REAL" per tunnelled SYN seen),
# NAME.update (how long each director's update took, or "failed")
scenario() {
	local name=$1 port0=$2 grace=$3 i lb pids=()
	for lb in $LBS; do
		ECMP_CONF_REALS=$BEFORE ecmp_director "$lb" --grace "$grace"
	done
	ecmp_wait_nexthops 4 "lb1 lb2" 15 >/dev/null ||
		echo "the route did not reach both directors" >&2
	# the tunnelled SYNs only (outer IHL 5: none is hinted before the
	# change): which director and real each download took
	capture_start xipt-e-br "$ECMP_RUN" "$name" -s 128 \
		'ip proto 4 and ip[0] & 0xf = 5 and ip[53] & 0x12 = 2'
	for i in $(seq 0 $((N - 1))); do
		in_ns e-client curl -s --max-time 60 --local-port $((port0 + i)) \
			-o /dev/null -w "$((port0 + i)) %{http_code} %{size_download}\n" \
			"$(ecmp_url 4 slow)" >"$ECMP_RUN/$name.$i" 2>&1 &
		pids+=($!)
	done
	sleep 4
	for lb in $LBS; do picks "$lb" "$port0" >"$ECMP_RUN/$name.before.$lb"; done
	update "$grace" >"$ECMP_RUN/$name.update" || echo failed >"$ECMP_RUN/$name.update"
	for lb in $LBS; do picks "$lb" "$port0" >"$ECMP_RUN/$name.after.$lb"; done
	wait "${pids[@]}" || true
	capture_stop "$ECMP_RUN" "$name"
	for lb in $LBS; do ecmp_stop_director "$lb"; done
	# a curl that said nothing counts as broken too
	for i in $(seq 0 $((N - 1))); do
		cat "$ECMP_RUN/$name.$i"
		[ -s "$ECMP_RUN/$name.$i" ] || echo "$((port0 + i)) none 0"
	done >"$ECMP_RUN/$name.curl"
	ecmp_flows "$name" >"$ECMP_RUN/$name.syn"
}

# moved NAME: the client ports whose real changed (as lb1 says)
moved() {
	join "$ECMP_RUN/$1.before.e-lb1" "$ECMP_RUN/$1.after.e-lb1" |
		awk '$2 != $3 { print $1 }'
}
# broken NAME: the client ports whose download did not complete
broken() { awk -v size=$SIZE '$2 != 200 || $3 != size { print $1 }' "$ECMP_RUN/$1.curl"; }
# via NAME LB: the client ports whose SYN LB carried
via() { awk -v lb="${2#e-}" '$3 == lb { print $2 }' "$ECMP_RUN/$1.syn" | sort -u; }
# among PORTS FILE: how many of the ports FILE lists are in PORTS (lines)
among() { grep -cxFf "$2" <<<"$1" || true; }

# syns NAME: both directors carried downloads, and every download's SYN
# was seen, tunnelled to the real flowpick gave for its port before the
# change
syns() {
	if [ -z "$(via "$1" e-lb1)" ] || [ -z "$(via "$1" e-lb2)" ]; then
		echo "not through both directors"
		return 1
	fi
	diff <(awk '{ sub(/^192\.0\.2\.1/, "rs", $2); print $1, $2 }' \
			"$ECMP_RUN/$1.before.e-lb1") \
		<(awk '{ print $2, $4 }' "$ECMP_RUN/$1.syn" | sort -u) | head -n 4
	return "${PIPESTATUS[0]}"
}
# agree NAME: lb1 and lb2 give every client port the same real (and the
# same hint), before and after the update
agree() {
	local when
	for when in before after; do
		[ "$(wc -l <"$ECMP_RUN/$1.$when.e-lb1")" = "$N" ] ||
			{ echo "$when: flowpick did not answer for every port"; return 1; }
		diff "$ECMP_RUN/$1.$when.e-lb1" "$ECMP_RUN/$1.$when.e-lb2" | head -n 4
		[ "${PIPESTATUS[0]}" = 0 ] || return 1
	done
}
# hints NAME GRACE: in a grace period every moved flow carries its real
# before as its hint and no other flow a hint; without one, no flow a hint
hints() {
	join "$ECMP_RUN/$1.before.e-lb1" "$ECMP_RUN/$1.after.e-lb1" |
		awk -v grace="$2" '{ want = grace && $2 != $3 ? "hint " $2 : ""
			got = NF > 3 ? $4 " " $5 : ""
			if (got != want) { print "port " $1 ": " $0; bad = 1 } }
			END { exit bad }' | head -n 3
	return "${PIPESTATUS[1]}"
}
# baseline_ok NAME MOVED BROKEN: enough moved, most of them broken, and
# no other
baseline_ok() {
	[ "$2" -ge $((N / 10)) ] && [ $(($3 * 2)) -gt "$2" ] || return 1
	comm -23 <(sort "$ECMP_RUN/$1.broken") <(sort "$ECMP_RUN/$1.moved") |
		sed 's/^/broken, not moved: /' | head -n 3
	[ -z "$(comm -23 <(sort "$ECMP_RUN/$1.broken") <(sort "$ECMP_RUN/$1.moved"))" ]
}

started=$EPOCHREALTIME
ecmp_deps
make -s -C "$top" all tests/flowpick lab/xdp_pass_kern.o
ecmp_up native 2 4
head -c $SIZE /dev/urandom >"$ECMP_RUN/big"

# SURVIVE_GRACE=0 runs the first scenario without the feature: its
# checks must fail
for run in "grace 20000 ${SURVIVE_GRACE:-60}" "baseline 21000 0"; do
	read -r name port0 grace <<<"$run"
	scenario "$name" "$port0" "$grace"
	moved "$name" >"$ECMP_RUN/$name.moved"
	broken "$name" >"$ECMP_RUN/$name.broken"
	nmoved=$(wc -l <"$ECMP_RUN/$name.moved")
	nbroken=$(wc -l <"$ECMP_RUN/$name.broken")
	via1=$(via "$name" e-lb1) via2=$(via "$name" e-lb2)
	m1=$(among "$via1" "$ECMP_RUN/$name.moved")
	m2=$(among "$via2" "$ECMP_RUN/$name.moved")
	echo "# $name (--grace $grace): moved $nmoved (lb1 $m1, lb2 $m2), broken $nbroken: $(xargs <"$ECMP_RUN/$name.broken")"
	check "$name: the router spread the $N downloads, lb1 carried $(echo "$via1" | grep -c .), lb2 $(echo "$via2" | grep -c .), each SYN to the real flowpick gives" \
		syns "$name"
	check "$name: lb1, then lb2 updated (a 4th real, --grace $grace): $(cat "$ECMP_RUN/$name.update")" \
		test "$(cat "$ECMP_RUN/$name.update")" != failed
	check "$name: lb1 and lb2 pick the same real for every download, before and after, hints included" \
		agree "$name"
	if [ "$name" = grace ]; then
		check "$name: every moved flow hinted with its real before, no other" \
			hints "$name" 1
		check "a 4th real added on both directors under $N downloads: $nmoved moved (lb1 $m1, lb2 $m2), $nbroken broken" \
			test "$nmoved" -ge $((N / 10)) -a "$m1" -gt 0 -a "$m2" -gt 0 \
				-a "$nbroken" = 0
		check "the new real handed moved connections to their reals: $(grep -o 'forwarded [0-9]*' "$ECMP_RUN/real-e-rs4.log" | tail -n 1)" \
			grep -q "forwarded [1-9]" "$ECMP_RUN/real-e-rs4.log"
	else
		check "$name: no flow hinted" hints "$name" 0
		check "baseline, --grace 0: $nmoved moved (lb1 $m1, lb2 $m2), $nbroken broken, every one a moved one" \
			baseline_ok "$name" "$nmoved" "$nbroken"
	fi
done
echo "# run time $(ecmp_since "$started") s"
summary
