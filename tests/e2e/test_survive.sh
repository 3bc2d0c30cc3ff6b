#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connections survive changes of the real set, in the lab: N parallel
# slow downloads (1.5 MB at 100 kB/s, about 15 s each) through the VIP
# and a live change 4 s in: a 4th real added, a real drained (taken out
# of the configuration while its nginx keeps serving), a real's weight
# changed (--update each), a real that failed its health check coming
# back (its /health page restored), a real added and then the router's
# path toward the client narrowed to 1400 bytes (the errors about moved
# connections must reach their previous reals: shown to stall with a
# copy of the program that does not hint errors); the first again in
# IPv6 (6in6). The real servers run xdp_iptunnel --real. Each run prints how many
# connections the change moved to another real (tests/flowpick asks the
# attached program for each client port, before and after) and how many
# broke; with the grace period (the default) none may break, with
# --grace 0 (the baseline) the moved ones break: the test fails without
# the feature.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

N=${SURVIVE_DOWNLOADS:-120}
SIZE=1500000
# the client behind a router, whose path toward it the last change narrows
export LAB_ROUTER_MTU=1500
off=$(mktemp -d /tmp/xipt-survive-off.XXXXXX)
fam=4	# the family of the VIP, the client and the reals: 4 or 6

# addr HOST: its address in the family of the scenarios
addr() { "host$fam" "$1"; }
vip() { if [ $fam = 6 ]; then echo "$VIP6"; else echo "$VIP4"; fi; }
url() { if [ $fam = 6 ]; then echo "http://[$VIP6]/slow"; else echo "http://$VIP4/slow"; fi; }

trap 'lab_down; rm -rf "$off"' EXIT
trap 'exit 1' INT TERM

# reals HOST[:WEIGHT]...: their -d options
reals() {
	local real
	for real in "$@"; do
		printf -- ' -d %s' "$(addr "${real%%:*}")"
		[ "${real#*:}" = "$real" ] || printf ',weight=%s' "${real#*:}"
	done
}

# SPREAD: when set, download i comes from address SPREAD + i (IPv4), not
# all from the client's one: a path MTU is learnt per destination address
SPREAD=
spread_addr() { echo "${SPREAD%.*}.$((${SPREAD##*.} + $1))"; }

# picks PORT0: the real (and hint) for each client port, as the director
# on the lab's eth0 decides now
picks() {
	if [ -n "$SPREAD" ]; then
		set -- -C "$SPREAD" "$1"
	else
		set -- -c "$(addr client)" "$1"
	fi
	nsenter --net=/run/netns/"$(lab_ns lb)" "$top/tests/flowpick" \
		"$1" "$2" eth0 "$(vip)" 80 "$N" "$3" | cut -d' ' -f5-
}

# update REAL...: the live change, an --update of the director with the
# --grace of the scenario running it
update() {
	# shellcheck disable=SC2046
	nsenter --net=/run/netns/"$(lab_ns lb)" "$LAB_LOADER" -U -i eth0 \
		-a "$(vip)" -p 80 -s "$(addr lb)" --grace "$grace" \
		$(reals "$@") >/dev/null
}

# health HOST ok|fail: HOST's health file there or not (its nginx keeps
# serving everything else); then wait for the director to say so
health() {
	local host=$1 state=up i
	if [ "$2" = ok ]; then
		echo ok >"$LAB_RUN/health-$host"
	else
		rm -f "$LAB_RUN/health-$host"
		state=down
	fi
	for i in $(seq 100); do
		grep -q "real $(addr "$host") port 80 is $state" \
			"$LAB_RUN/director.log" && return 0
		sleep 0.1
	done
	echo "test_survive: $host never went $state" >&2
	return 1
}

# router_mtu BYTES: the router's path toward the clients, both families
router_mtu() {
	ip -n "$(lab_ns router)" route change "$(host4 client)/32" \
		dev to-client mtu lock "$1"
	ip -n "$(lab_ns router)" route change "$(host6 client)/128" \
		dev to-client mtu lock "$1"
	ip -n "$(lab_ns router)" route replace 198.51.100.128/25 \
		dev to-client mtu lock "$1"
}

# spread_clients: the client's addresses SPREAD, SPREAD + 1, ... (N)
spread_clients() {
	local i
	for i in $(seq 0 $((N - 1))); do
		ip -n "$(lab_ns client)" addr add "$(spread_addr "$i")/32" \
			dev eth0
	done
}

# narrowed REAL...: update to REAL..., then the path toward the client
# narrows to 1400 bytes: the router's "fragmentation needed" about each
# full-size answer goes to the VIP, and those about a moved connection
# must reach its previous real, which sends the answers
narrowed() {
	update "$@"
	sleep 1
	router_mtu 1400
}

# scenario NAME PORT0 GRACE "REALS" "SETUP" CHANGE...: a director with
# REALS (HOST[:WEIGHT]) and --grace GRACE, health-checked every second;
# SETUP runs before the downloads, CHANGE 4 s into them. Prints
# "moved M broken B"; the broken downloads go to $LAB_RUN/NAME.broken.
scenario() {
	local name=$1 port0=$2 grace=$3 before=$4 setup=$5 i pids=()
	shift 5
	# shellcheck disable=SC2046,SC2086
	lab_director -S -a "$(vip)" -p 80 -s "$(addr lb)" --grace "$grace" \
		--check http:80/health --check-interval 1 --check-fall 2 \
		--check-rise 2 $(reals $before)
	$setup
	for i in $(seq 0 $((N - 1))); do
		# shellcheck disable=SC2046
		ip netns exec "$(lab_ns client)" curl -s --max-time 60 \
			$([ -z "$SPREAD" ] ||
			  echo --interface "$(spread_addr "$i")") \
			--local-port $((port0 + i)) -o /dev/null \
			-w '%{http_code} %{size_download}\n' \
			"$(url)" >"$LAB_RUN/$name.$i" 2>&1 &
		pids+=($!)
	done
	sleep 4
	picks "$port0" >"$LAB_RUN/$name.before"
	"$@"
	picks "$port0" >"$LAB_RUN/$name.after"
	wait "${pids[@]}" || true
	lab_stop_director >/dev/null
	moved=$(paste -d' ' <(cut -d' ' -f1 "$LAB_RUN/$name.before") \
		<(cut -d' ' -f1 "$LAB_RUN/$name.after") |
		awk '$1 != $2 { n++ } END { print n + 0 }')
	broken=0
	: >"$LAB_RUN/$name.broken"
	for i in $(seq 0 $((N - 1))); do
		grep -qx "200 $SIZE" "$LAB_RUN/$name.$i" && continue
		broken=$((broken + 1))
		# which real it had before and after, what curl saw
		echo "port $((port0 + i)):" \
			"$(sed -n "$((i + 1))p" "$LAB_RUN/$name.before") ->" \
			"$(sed -n "$((i + 1))p" "$LAB_RUN/$name.after"):" \
			"$(tr '\n' ' ' <"$LAB_RUN/$name.$i")" \
			>>"$LAB_RUN/$name.broken"
	done
	echo "moved $moved broken $broken"
}

"$top/tests/deps.sh" demo
make -s -C "$top" all tests/flowpick lab/xdp_pass_kern.o
LAB_DECAP=xdp lab_up generic 4
head -c $SIZE /dev/urandom >"$LAB_RUN/big"
# client ports are reused from run to run: no TIME_WAIT
in_ns client sysctl -qw net.ipv4.tcp_max_tw_buckets=0

# none_broken NAME MOVED BROKEN: enough moved and none broken, else say
# which broke
none_broken() {
	[ "$2" -ge $((N / 10)) ] && [ "$3" = 0 ] && return 0
	cat "$LAB_RUN/$1.broken"
	return 1
}

# survives NAME PORT0 WHAT "REALS" "SETUP" CHANGE...: the scenario with the
# grace period, where none may break, then with --grace 0 (client ports
# PORT0 + 1000 ...), where most of the moved ones break
survives() {
	local name=$1 port0=$2 what=$3 r moved broken
	shift 3
	r=$(scenario "$name" "$port0" 60 "$@" | tail -n 1)
	read -r _ moved _ broken <<<"$r"
	check "$what under $N downloads: $moved moved, $broken broken" \
		none_broken "$name" "$moved" "$broken"
	r=$(scenario "${name}0" $((port0 + 1000)) 0 "$@" | tail -n 1)
	read -r _ moved _ broken <<<"$r"
	check "baseline, --grace 0: $moved moved, $broken broken" \
		test "$moved" -ge $((N / 10)) -a "$broken" -ge $((moved / 2))
}

survives add 20000 "a 4th real added" "rs1 rs2 rs3" true \
	update rs1 rs2 rs3 rs4
check "the new real handed the moved connections to their reals" \
	grep -q "forwarded [1-9]" "$LAB_RUN/real-rs4.log"
survives drain 22000 "rs2 drained (its nginx still serving)" \
	"rs1 rs2 rs3 rs4" true update rs1 rs3 rs4
survives weight 24000 "rs1's weight 1 -> 4" "rs1 rs2 rs3 rs4" true \
	update rs1:4 rs2 rs3 rs4
survives health 26000 "rs2 back after a failed health check" \
	"rs1 rs2 rs3 rs4" "health rs2 fail" health rs2 ok

# 60 downloads, each from an address of its own as from clients of their
# own: else a previous real learns the path MTU from its other
# connections. Then 60 more, from 60 other addresses: the path MTU the
# reals learnt stays with the addresses it was learnt for.
N=60
SPREAD=198.51.100.128
spread_clients
router_mtu 1500
r=$(scenario narrow 28000 60 "rs1 rs2 rs3" true narrowed rs1 rs2 rs3 rs4 |
	tail -n 1)
read -r _ moved _ broken <<<"$r"
check "a 4th real added, then the path MTU 1400, $N downloads: $moved moved, $broken broken" \
	none_broken narrow "$moved" "$broken"
router_mtu 1500
# the director without the hint on ICMP errors
lab_cut_loader "$off" \
	's/^\tprev = previous_real(&flow, d->vip, d->hash, d->real);$/\tprev = NULL;/'
SPREAD=198.51.100.188
spread_clients
r=$(LAB_LOADER=$off/xdp_iptunnel scenario narrow-nohint 29000 60 \
	"rs1 rs2 rs3" true narrowed rs1 rs2 rs3 rs4 | tail -n 1)
read -r _ moved _ broken <<<"$r"
check "the same, the errors not hinted: $moved moved, $broken broken (stalled)" \
	test "$moved" -ge $((N / 10)) -a "$broken" -ge $((moved / 2))
router_mtu 1500
SPREAD=
N=${SURVIVE_DOWNLOADS:-120}

fam=6
survives add6 30000 "IPv6 (6in6): a 4th real added" "rs1 rs2 rs3" true \
	update rs1 rs2 rs3 rs4

summary
