#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Directors scaled out behind a router (lab/ecmp_lib.sh): two directors
# announce the VIPs over BGP (BIRD), the router installs one ECMP route,
# and because both directors run the same VIPs and reals, Maglev sends
# every flow to the same real whichever director carries it. Checks the
# route, the per-flow equivalence (synthetic flows, and connections with
# both, only lb1 and only lb2 up), the withdrawal when a loader stops
# (timed), a director replaced with --replace keeping its routes, a
# download that survives the failover, the hold timer when a director
# vanishes silently, and a clean teardown.
#
# Which director carried a flow and which real it reached is read from a
# capture on the bridge: the outer header of every tunnelled packet says
# director > real.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/ecmp_lib.sh"
. "$top/tests/tap.sh"

trap 'ecmp_down' EXIT
trap 'exit 1' INT TERM

NFLOWS=30		# connections per phase and address family
NSYNTH=5000		# synthetic flows per director and address family
HOLD=$(awk '/^hold time/ { print $3 + 0 }' "$ECMP_BIRD_CONF/timers.conf")
# A stopped director's routes go within the watcher's interval (0.5 s), the
# loader's detaching and one BGP UPDATE: 0.3-0.8 s on an idle machine, the
# BGP session staying up. Both bounds leave 1 s over the hold time for a
# CI machine under load (route changes and XDP detaching wait for the
# rtnl lock, which other namespaces' churn holds).
WITHDRAW_MAX=$((HOLD + 1))
# The hold timer expires 2-3 s after the last keepalive.
HOLD_MAX=$((HOLD + 1))
FIRST=41000		# the client ports of the connections

# phase NAME: NFLOWS IPv4 and NFLOWS IPv6 connections from the client
# ports FIRST..., captured; "FAMILY PORT ANSWER DIRECTOR REAL" per line in
# $ECMP_RUN/NAME (DIRECTOR and REAL from the capture; "-" if not seen,
# several joined by "+")
phase() {
	local f
	ecmp_capture_start "$1"
	for f in 4 6; do
		ecmp_curls "$f" "$FIRST" "$NFLOWS" | sed "s/^/$f /"
	done >"$ECMP_RUN/$1.answers"
	ecmp_capture_stop "$1"
	ecmp_flows "$1" >"$ECMP_RUN/$1.flows"
	awk 'NR == FNR { k = $1 " " $2
			 lb[k] = lb[k] ? lb[k] "+" $3 : $3
			 rs[k] = rs[k] ? rs[k] "+" $4 : $4; next }
	     { k = $1 " " $2; print k, $3, (k in lb ? lb[k] : "-"), (k in rs ? rs[k] : "-") }' \
		"$ECMP_RUN/$1.flows" "$ECMP_RUN/$1.answers" >"$ECMP_RUN/$1"
}

# consistent NAME: every connection answered, each by the real its packets
# were tunnelled to, through one director
consistent() {
	awk '$3 == "none" { print "unanswered:", $0; bad = 1; next }
	     $3 != "e-" $5 || $4 ~ /[+-]/ { print "inconsistent:", $0; bad = 1 }
	     END { exit bad }' "$ECMP_RUN/$1" | head -n 3
	return "${PIPESTATUS[0]}"
}
# carried NAME FAMILY LB: how many connections LB carried
carried() { awk -v f="$2" -v lb="$3" '$1 == f && $4 == lb' "$ECMP_RUN/$1" | wc -l; }
# same_reals NAME1 NAME2: the same real for every flow in both phases
same_reals() {
	diff <(awk '{ print $1, $2, $5 }' "$ECMP_RUN/$1") \
		<(awk '{ print $1, $2, $5 }' "$ECMP_RUN/$2") | head -n 4
	return "${PIPESTATUS[0]}"
}
# phase_ok NAME ONLY: consistent, the same reals as with both up, and all
# carried by ONLY
phase_ok() {
	consistent "$1" && same_reals both "$1" || return 1
	awk -v lb="$2" '$4 != lb { print "not through " lb ":", $0; bad = 1 }
		END { exit bad }' "$ECMP_RUN/$1" | head -n 3
	return "${PIPESTATUS[0]}"
}
# timed_ok: the last stop_timed kept the session up, within WITHDRAW_MAX
timed_ok() { [ -n "$up" ] && le "${t% *}" "$WITHDRAW_MAX"; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
other() { if [ "$1" = lb1 ]; then echo lb2; else echo lb1; fi; }

# flowpick_same FAMILY: lb1 and lb2 give each of the same NSYNTH synthetic
# flows the same real, each with its own outer source (BPF_PROG_TEST_RUN
# of the program attached to each director)
flowpick_same() {
	local vip lb own
	vip=$(ecmp_vip "$1")
	for lb in lb1 lb2; do
		nsenter --net=/run/netns/xipt-e-$lb "$top/tests/flowpick" eth0 \
			"$vip" "$ECMP_PORT" "$NSYNTH" 1 >"$ECMP_RUN/flowpick-$1-$lb"
		own=$(if [ "$1" = 6 ]; then host6 "e-$lb"; else host4 "e-$lb"; fi)
		[ "$(awk '$3 == "TX" { print $4 }' "$ECMP_RUN/flowpick-$1-$lb" |
			sort | uniq -c | xargs)" = "$NSYNTH $own" ] ||
			{ echo "$lb: not every flow tunnelled from $own"; return 1; }
	done
	diff <(awk '{ print $1, $2, $5 }' "$ECMP_RUN/flowpick-$1-lb1") \
		<(awk '{ print $1, $2, $5 }' "$ECMP_RUN/flowpick-$1-lb2") | head -n 4
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	awk '{ print $5 }' "$ECMP_RUN/flowpick-$1-lb1" | sort | uniq -c | xargs
}

# icmp_same FAMILY: a router's ICMP error about each of the synthetic
# flows of flowpick_same, run through lb2, goes to the real lb1 picks for
# the flow itself (after flowpick_same)
icmp_same() {
	local vip
	vip=$(ecmp_vip "$1")
	nsenter --net=/run/netns/xipt-e-lb2 "$top/tests/flowpick" -e eth0 \
		"$vip" "$ECMP_PORT" "$NSYNTH" 1 >"$ECMP_RUN/icmp-$1-lb2"
	[ "$(awk '$3 == "TX"' "$ECMP_RUN/icmp-$1-lb2" | wc -l)" = "$NSYNTH" ] ||
		{ echo "lb2: not every error tunnelled"; return 1; }
	diff <(awk '{ print $1, $2, $5 }' "$ECMP_RUN/flowpick-$1-lb1") \
		<(awk '{ print $1, $2, $5 }' "$ECMP_RUN/icmp-$1-lb2") | head -n 4
	return "${PIPESTATUS[0]}"
}

# session LB: when the router's BGP session with LB came up, if it is up
session() {
	ecmp_birdc e-router show protocols "$1" | awk -v lb="$1" '$1 == lb && $6 == "Established" { print $5 }'
}

# stop_timed LB SIGNAL: signal LB's loader; the seconds until the router's
# IPv4 and IPv6 routes no longer lead to LB, and when the watcher withdrew;
# fails unless LB's session stayed up (the withdrawal was an UPDATE)
stop_timed() {
	local t0 rest t w since
	rest=$(ecmp_nexthops 4 | tr ' ' '\n' | grep -vx "$1" | xargs)
	since=$(session "$1")
	t0=$EPOCHREALTIME
	kill -"$2" "$(ecmp_director_pid "e-$1")"
	ecmp_wait_nexthops 4 "$rest" 10 >/dev/null &&
		ecmp_wait_nexthops 6 "$rest" 10 >/dev/null || return 1
	t=$(ecmp_since "$t0")
	ecmp_stop_director "e-$1" 0
	w=$(ecmp_watch_time "e-$1" withdrawn "$t0")
	echo "$t $(awk -v a="$t0" -v b="${w:-$t0}" 'BEGIN { printf "%.2f", b - a }')"
	# (BIRD shows the time the session came up to +-1 ms)
	[ -n "$since" ] && awk -v a="$since" -v b="$(session "$1")" 'BEGIN {
		split(a, x, ":"); split(b, y, ":")
		d = (x[1] - y[1]) * 3600 + (x[2] - y[2]) * 60 + x[3] - y[3]
		exit !(b != "" && d < 0.1 && d > -0.1) }'
}

# start_timed LB: start LB's director; the seconds until both routes lead
# to lb1 and lb2
start_timed() {
	local t0=$EPOCHREALTIME
	ecmp_director "e-$1" || return 1
	ecmp_wait_nexthops 4 "lb1 lb2" 10 >/dev/null &&
		ecmp_wait_nexthops 6 "lb1 lb2" 10 >/dev/null || return 1
	ecmp_since "$t0"
}

started=$EPOCHREALTIME
ecmp_deps
make -s -C "$top" all tests/flowpick lab/xdp_pass_kern.o
ecmp_up native 2 3

# ---- two directors, one configuration, one ECMP route -------------------
if ecmp_director e-lb1 && ecmp_director e-lb2; then
	ok "lb1 and lb2 attached (native XDP), the same VIPs and reals, each its own -s: $(ecmp_director_args e-lb1 | sed 's/ -s [^ ]* / -s <own> /g')"
else
	not_ok "lb1 and lb2 attached" "$(tail -n 3 "$ECMP_RUN"/director-*.log)"
fi
t0=$EPOCHREALTIME
ecmp_wait_nexthops 4 "lb1 lb2" 10 >/dev/null || true
ecmp_wait_nexthops 6 "lb1 lb2" 10 >/dev/null || true
t=$(ecmp_since "$t0")
route4="$ECMP_VIP4 proto bird metric 32 nexthop via $(host4 e-lb1) dev eth1 weight 1 nexthop via $(host4 e-lb2) dev eth1 weight 1"
route6="$ECMP_VIP6 proto bird metric 32 pref medium nexthop via $(host6 e-lb1) dev eth1 weight 1 nexthop via $(host6 e-lb2) dev eth1 weight 1"
check "router: '$route4' (complete $t s after the second director attached)" \
	test "$(ecmp_route 4 | xargs)" = "$route4"
check "router: '$route6'" test "$(ecmp_route 6 | xargs)" = "$route6"
check "router: ECMP by an L4 hash (fib_multipath_hash_policy 1 for IPv4 and IPv6)" \
	test "$(in_ns e-router sysctl -n net.ipv4.fib_multipath_hash_policy \
		net.ipv6.fib_multipath_hash_policy | xargs)" = "1 1"

# ---- the same real for every flow, whichever director --------------------
check "$NSYNTH synthetic IPv4 flows: lb1 and lb2 pick the same real for each" flowpick_same 4
check "$NSYNTH synthetic IPv6 flows: lb1 and lb2 pick the same real for each" flowpick_same 6
check "$NSYNTH ICMP errors about the IPv4 flows, through lb2: each to the real lb1 picks for the flow" icmp_same 4
check "$NSYNTH ICMPv6 errors about the IPv6 flows, through lb2: each to the real lb1 picks for the flow" icmp_same 6
phase both
spread() { consistent both && [ "$(carried both "$1" lb1)" -gt 0 ] && [ "$(carried both "$1" lb2)" -gt 0 ]; }
for f in 4 6; do
	check "both up: $NFLOWS IPv$f connections answered by the real they were tunnelled to; the router spread them: lb1 $(carried both $f lb1), lb2 $(carried both $f lb2)" \
		spread $f
done

# ---- a director replaced: its program stays attached, its routes stay ----
xdp_prog() {
	ip -n "xipt-$1" -d link show eth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'
}
old=$(ecmp_director_pid e-lb1)
prog=$(xdp_prog e-lb1)
t0=$EPOCHREALTIME
# the route's next hops, sampled while lb1 is replaced and two watcher
# rounds after
for _ in $(seq 60); do ecmp_nexthops 4; sleep 0.05; done >"$ECMP_RUN/replace.routes" &
sampler=$!
sleep 0.3
ecmp_director e-lb1 --replace || true
for _ in $(seq 50); do alive "$old" || break; sleep 0.1; done
rc=0
{ wait "$old"; } 2>/dev/null || rc=$?
wait "$sampler" || true
check "lb1 replaced with --replace: program $prog -> $(xdp_prog e-lb1), its old loader left with status $rc" \
	sh -c "test $rc = 0 && test -n '$(xdp_prog e-lb1)' && test '$(xdp_prog e-lb1)' != '$prog'"
routes=$(sort "$ECMP_RUN/replace.routes" | uniq -c | xargs)
withdrawn=$(ecmp_watch_time e-lb1 withdrawn "$t0")
check "the route kept both next hops throughout ($routes), the watcher never withdrew lb1" \
	test "$routes" = "60 lb1 lb2" -a -z "$withdrawn"

# ---- a loader stops during a download: withdrawn, flows keep their real --
head -c 400000 /dev/urandom >"$ECMP_RUN/big"
want=$(sha256sum <"$ECMP_RUN/big" | cut -d' ' -f1)
ecmp_capture_start download
in_ns e-client curl -s --max-time 30 --local-port 30000 -o "$ECMP_RUN/got" \
	"$(ecmp_url 4 slow)" &
download=$!
sleep 1
path=$(ecmp_flows download | awk '$2 == 30000 { print $3, $4 }')
via=${path% *} serving=${path#* }
check "a slow download (400 kB at 100 kB/s) runs through ${via:-?} to ${serving:-?}" \
	test "$(echo "$path" | wc -l)" = 1 -a -n "$path"
case $via in lb1|lb2) ;; *) via=lb1 ;; esac
rest=$(other "$via")

t=$(stop_timed "$via" INT) && up=yes || up=""
t=${t:-never -}
check "SIGINT to $via's loader: the routes lead to $rest alone after ${t% *} s (watcher withdrew at ${t#* } s; at most $WITHDRAW_MAX s), its BGP session stayed up" \
	timed_ok
phase "only$rest"
check "only $rest up: every IPv4 and IPv6 flow through $rest, each to the real it had with both up ($(carried both 4 "$via") + $(carried both 6 "$via") moved from $via)" \
	phase_ok "only$rest" "$rest"
wait "$download" || true
ecmp_capture_stop download
path=$(ecmp_flows download | awk '$2 == 30000 { print $3, $4 }' | sort | xargs)
download_ok() {
	[ "$(sha256sum <"$ECMP_RUN/got" | cut -d' ' -f1)" = "$want" ] ||
		{ echo "the file differs"; return 1; }
	[ "$path" = "lb1 $serving lb2 $serving" ] || { echo "its path: $path"; return 1; }
}
check "the download survived the failover: $(stat -c %s "$ECMP_RUN/got" 2>/dev/null || echo 0) bytes, sha256 intact; its packets went through $via, then $rest, always to $serving" \
	download_ok

t=$(start_timed "$via") || t=""
check "$via started again: announced, the route has both next hops after ${t:-never} s" test -n "$t"
t=$(stop_timed "$rest" INT) && up=yes || up=""
t=${t:-never -}
check "SIGINT to $rest's loader: the routes lead to $via alone after ${t% *} s (watcher withdrew at ${t#* } s), session up" \
	timed_ok
phase "only$via"
check "only $via up: every IPv4 and IPv6 flow through $via, each to the real it had with both up" \
	phase_ok "only$via" "$via"
t=$(start_timed "$rest") || t=""
check "$rest started again: the route has both next hops after ${t:-never} s" test -n "$t"

# ---- a director that vanishes without a word: the hold timer -------------
t0=$EPOCHREALTIME
ip -n xipt-e-br link set to-lb1 down
ecmp_wait_nexthops 4 lb2 $((HOLD + 5)) >/dev/null && t=$(ecmp_since "$t0") || t=never
check "lb1's link cut: the router's hold timer ($HOLD s) drops lb1 after $t s (at most $HOLD_MAX s)" \
	le "$t" "$HOLD_MAX"
ecmp_wait_nexthops 6 lb2 5 >/dev/null || true
phase cut
check "lb1 cut off: every flow through lb2, each to the real it had with both up" \
	phase_ok cut lb2
t0=$EPOCHREALTIME
ip -n xipt-e-br link set to-lb1 up
ecmp_wait_nexthops 4 "lb1 lb2" 15 >/dev/null && t=$(ecmp_since "$t0") || t=""
check "lb1's link back: its session comes up again, both next hops after ${t:-never} s" test -n "$t"

# ---- the program goes without the loader's clean exit --------------------
t=$(stop_timed lb2 KILL) && up=yes || up=""
t=${t:-never -}
check "SIGKILL to lb2's loader (the program goes with its bpf_link): withdrawn after ${t% *} s (watcher at ${t#* } s), session up" \
	timed_ok
phase killed
check "lb2 gone: every flow through lb1, each to the real it had with both up" \
	phase_ok killed lb1

# ---- teardown --------------------------------------------------------------
pids=$(cat "$ECMP_RUN"/*.pid "$ECMP_RUN"/*/*.pid 2>/dev/null | xargs)
ecmp_down
clean() {
	local pid
	! ip netns list | grep '^xipt-e-' || return 1
	! ls -d "$ECMP_PINS"/xipt-e-* "$LAB_BPFFS" 2>/dev/null || return 1
	for pid in $pids; do
		alive "$pid" && { ps -o pid=,args= -p "$pid"; return 1; }
	done
	return 0
}
check "teardown leaves no xipt-e-* namespace, no pin, and none of its $(echo "$pids" | wc -w) processes" clean
echo "# run time $(ecmp_since "$started") s"
summary
