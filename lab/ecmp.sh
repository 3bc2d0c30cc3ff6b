#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo-ecmp: directors scaled out the way production runs them. Every
# director announces the VIPs over BGP (BIRD) to a router, which installs
# one ECMP route and spreads the client's flows over the directors; all
# run xdp_iptunnel with the same VIPs and reals, so Maglev sends every flow
# to the same real through any of them. Then lb1 stops: its route goes
# within a second, and its flows reach the same reals through the others.
#
#   lab/ecmp.sh [-S] [--lbs N] [--reals N] [--keep]
#   lab/ecmp.sh down
#
#   -S       generic (skb) XDP instead of native
#   --lbs    N directors (default 2, 2-9)
#   --reals  N real servers (default 3, 1-9)
#   --keep   leave the lab up to explore; `lab/ecmp.sh down` removes it

set -eu
. "$(dirname "$0")/ecmp_lib.sh"

mode=native
keep=
nlbs=2
nreals=3
nflows=12

usage() { sed -n '10,17s/^# \{0,1\}//p' "$0"; exit "$1"; }

while [ $# -gt 0 ]; do
	case $1 in
	-S) mode=generic ;;
	--lbs) nlbs=${2:?--lbs needs a number}; shift ;;
	--reals) nreals=${2:?--reals needs a number}; shift ;;
	--keep) keep=1 ;;
	down) ecmp_down; echo "ECMP lab removed"; exit 0 ;;
	-h|--help) usage 0 ;;
	*) echo "ecmp.sh: unknown option '$1'" >&2; usage 1 >&2 ;;
	esac
	shift
done
case $nlbs in [2-9]) ;; *) echo "ecmp.sh: --lbs 2 to 9" >&2; exit 1 ;; esac
case $nreals in [1-9]) ;; *) echo "ecmp.sh: --reals 1 to 9" >&2; exit 1 ;; esac

[ "$(id -u)" = 0 ] || { echo "ecmp.sh: run as root" >&2; exit 1; }
ecmp_deps
make -s -C "$LAB_TOP" all lab/xdp_pass_kern.o

# teardown on Ctrl-C and on failure, and at the end unless --keep
trap 'ecmp_down' EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
indent() { sed 's/^/  /'; }
all=$(for i in $(seq "$nlbs"); do echo "lb$i"; done | xargs)

say "Building the lab: client, router, $nlbs directors, $nreals real servers ($mode XDP)"
ecmp_up "$mode" "$nlbs" "$nreals"
{
	printf '%-8s %-26s %s\n' e-client "$(host4 e-client) $(host6 e-client)" "curl; default route via the router"
	printf '%-8s %-26s %s\n' e-router "203.0.113.1 2001:db8:c::1" "eth0, the client's side"
	printf '%-8s %-26s %s\n' "" "$(host4 e-router) $(host6 e-router)" "eth1, on the bridge; BIRD AS $ECMP_ROUTER_AS"
	for host in $(ecmp_lbs); do
		printf '%-8s %-26s %s\n' "$host" "$(host4 "$host") $(host6 "$host")" "xdp_iptunnel; BIRD AS $ECMP_LB_AS"
	done
	for host in $(ecmp_reals); do
		printf '%-8s %-26s %s\n' "$host" "$(host4 "$host") $(host6 "$host")" "nginx; the VIPs on lo; xdp_iptunnel --real"
	done
	echo "VIPs     $ECMP_VIP4 $ECMP_VIP6 (routed; announced by the directors)"
} | indent
echo "  router: $(in_ns e-router sysctl net.ipv4.fib_multipath_hash_policy net.ipv6.fib_multipath_hash_policy | xargs)"

say "The directors: one configuration, each with its own tunnel source (-s)"
for lb in $(ecmp_lbs); do
	echo "  $lb: xdp_iptunnel -i eth0 $(ecmp_director_args "$lb")"
	ecmp_director "$lb"
done
echo "  a watcher per director runs \`birdc enable \"vip*\"\` once xdp_iptunnel is attached (it checks every ${ECMP_WATCH_INTERVAL} s)"

say "BGP: the router's sessions, and the route it installed"
ecmp_wait_nexthops 4 "$all" 15 >/dev/null
ecmp_wait_nexthops 6 "$all" 15 >/dev/null
ecmp_birdc e-router show protocols | tail -n +2 | indent
echo
ecmp_birdc e-router show route "$ECMP_VIP4/32" | tail -n +2 | indent
echo
{ ecmp_route 4; ecmp_route 6; } | indent

# flows NAME: nflows connections, the director and real each took
flows() {
	ecmp_capture_start "$1"
	ecmp_curls 4 40000 "$nflows" >"$ECMP_RUN/$1.answers"
	ecmp_capture_stop "$1"
	ecmp_flows "$1" | awk '$1 == 4 { print $2, $3 }' >"$ECMP_RUN/$1.via"
	join "$ECMP_RUN/$1.answers" "$ECMP_RUN/$1.via" >"$ECMP_RUN/$1" || true
}

say "The client: $nflows connections to http://$ECMP_VIP4/, each from its own port"
flows before
awk '{ printf "  port %s: through %s, answered by %s\n", $1, $3, $2 }' "$ECMP_RUN/before"

say "lb1 stops (SIGINT to its loader): the watcher withdraws the VIPs"
t0=$EPOCHREALTIME
kill -INT "$(ecmp_director_pid e-lb1)"
rest=${all#lb1 }
t=$(ecmp_wait_nexthops 4 "$rest" 10)
ecmp_wait_nexthops 6 "$rest" 10 >/dev/null
ecmp_stop_director e-lb1 0
w=$(ecmp_watch_time e-lb1 withdrawn "$t0")
echo "  the XDP program is gone; the watcher ran \`birdc disable \"vip*\"\` after $(awk -v a="$t0" -v b="$w" 'BEGIN { printf "%.2f", b - a }') s;"
echo "  the router's route lost lb1 $t s after the signal:"
{ ecmp_route 4; ecmp_route 6; } | indent

say "The same $nflows connections again"
flows after
join "$ECMP_RUN/before" "$ECMP_RUN/after" | awk '
	{ same = ($2 == $4) ? "the same real" : "ANOTHER REAL"
	  printf "  port %s: through %s, answered by %s  (before: %s, %s)%s\n",
		$1, $5, $4, $3, $2, ($2 == $4 ? "" : "  <-- " same) }'
moved=$(awk '$3 == "lb1"' "$ECMP_RUN/before" | wc -l)
changed=$(join "$ECMP_RUN/before" "$ECMP_RUN/after" | awk '$2 != $4' | wc -l)
echo "  $moved connection(s) moved from lb1 to another director; $changed of $nflows reached another real"
[ "$nlbs" -gt 2 ] && echo "  (over veth the router hashes a connection by its client socket's random L4
  hash, so a new connection from the same port may take another director too;
  see lab/ecmp_lib.sh)"

say "lb1 starts again: announced again, and the route has every director"
t0=$EPOCHREALTIME
ecmp_director e-lb1
ecmp_wait_nexthops 4 "$all" 10 >/dev/null
ecmp_wait_nexthops 6 "$all" 10 >/dev/null
echo "  $(ecmp_since "$t0") s from the start of the loader to the ECMP route:"
ecmp_route 4 | indent

if [ -n "$keep" ]; then
	trap - EXIT
	say "The lab stays up. Enter a host with:"
	for host in e-client e-router $(ecmp_lbs) $(ecmp_reals) e-br; do
		echo "  ip netns exec xipt-$host bash"
	done
	cat <<EOF
  BIRD:               birdc -s $ECMP_RUN/bird-e-router/bird.ctl show route all
                      (and bird-e-lbN/bird.ctl; logs in the same directories)
  the watchers' log:  $ECMP_RUN/watch.log
  stop a director:    kill -INT \$(cat $ECMP_RUN/director-e-lb1.pid)
  curl from a port:   ip netns exec xipt-e-client curl --local-port 40001 http://$ECMP_VIP4/
  remove the lab:     $0 down
EOF
fi
