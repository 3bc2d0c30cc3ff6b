#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: the seed's experiment on one machine. A client curls a VIP,
# the director's XDP program tunnels the request to a real server, nginx
# there answers straight back to the client; a capture on the bridge
# shows both ways, then the director's statistics and its trace of the
# client's packets (xdp_iptunnel --trace).
#
#   lab/lab.sh [-6 | --4in6 | --6in4] [-S] [--reals N] [--keep]
#   lab/lab.sh down
#   lab/lab.sh --ecmp [lab/ecmp.sh's options]
#
#   -6       IPv6 VIP in IPv6 tunnels (default: IPv4 in IPv4)
#   --4in6   IPv4 VIP in IPv6 tunnels;  --6in4: IPv6 VIP in IPv4 tunnels
#   -S       generic (skb) XDP instead of native
#   --reals  N real servers, Maglev-balanced (default 1)
#   --keep   leave the lab up to explore; `lab/lab.sh down` removes it
#   --ecmp   directors behind a BGP router instead (lab/ecmp.sh)

set -eu
. "$(dirname "$0")/lib.sh"

vip=$VIP4
tunnel=4
mode=native
keep=
nreals=1

usage() { sed -n '9,19s/^# \{0,1\}//p' "$0"; exit "$1"; }

while [ $# -gt 0 ]; do
	case $1 in
	-6) vip=$VIP6 tunnel=6 ;;
	--4in6) vip=$VIP4 tunnel=6 ;;
	--6in4) vip=$VIP6 tunnel=4 ;;
	-S) mode=generic ;;
	--reals) nreals=${2:?--reals needs a number}; shift ;;
	--keep) keep=1 ;;
	down) lab_owned || { lab_down; exit 1; }
	      lab_down; echo "lab removed"; exit 0 ;;
	--ecmp) shift; exec "$(dirname "$0")/ecmp.sh" "$@" ;;
	-h|--help) usage 0 ;;
	*) echo "lab.sh: unknown option '$1'" >&2; usage 1 >&2 ;;
	esac
	shift
done

[ "$(id -u)" = 0 ] || { echo "lab.sh: run as root" >&2; exit 1; }
"$LAB_TOP/tests/deps.sh" demo
make -s -C "$LAB_TOP" all lab/xdp_pass_kern.o

# teardown on Ctrl-C and on failure, and at the end unless --keep
trap 'stop_process "$LAB_RUN/trace.pid" TERM >/dev/null; lab_down' EXIT
trap 'exit 130' INT TERM

addr() { if [ "$tunnel" = 4 ]; then host4 "$1"; else host6 "$1"; fi; }
url() { case $vip in *:*) echo "http://[$vip]:$1/" ;; *) echo "http://$vip:$1/" ;; esac; }
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "Building the lab: client, director, $nreals real server(s) on a bridge ($mode XDP)"
lab_up "$mode" "$nreals"
echo "decapsulation on the real servers: $(cat "$LAB_RUN/decap")"
names=""
for host in client lb $(lab_reals); do
	printf '  %-7s %-12s %-14s %s\n' "$host" "$(host4 "$host")" \
		"$(host6 "$host")" "$(host_mac "$host")"
	names="$names s/$(host_mac "$host")/$host/g;"
done
echo "  VIP     $VIP4   $VIP6 (on the director's eth0, and on the real servers' lo)"

reals=""
for host in $(lab_reals); do
	reals="$reals -d $(addr "$host") -m $(host_mac "$host")"
done
flags=$([ "$mode" = generic ] && echo -S || true)
say "The director: xdp_iptunnel -i eth0 -a $vip -p 80-81 -s $(addr lb)$reals $flags"
# shellcheck disable=SC2086
lab_director -a "$vip" -p 80-81 -s "$(addr lb)" $reals $flags
head -n 2 "$LAB_RUN/director.log" | sed 's/^/  /'

# the tracer, as a user would start it on the director; TERM stops it
# (a script's background job ignores SIGINT)
nsenter --net=/run/netns/xipt-lb "$LAB_LOADER" -i eth0 --trace vip "$vip" \
	>"$LAB_RUN/trace.log" 2>&1 &
echo $! >"$LAB_RUN/trace.pid"
for _ in $(seq 50); do
	grep -q tracing "$LAB_RUN/trace.log" && break
	sleep 0.1
done

say "The client: curl $(url 80)"
lab_capture_start demo
for i in $(seq $((nreals > 1 ? 3 * nreals : 1))); do
	printf '  answer: '
	in_ns client curl -s --max-time 3 --local-port $((40000 + i)) "$(url 80)" ||
		echo "(no answer)"
done
lab_capture_stop demo

say "On the wire (tcpdump on the bridge; MAC addresses named by host)"
in_ns br tcpdump -nn -e -r "$LAB_RUN/demo.pcap" 2>/dev/null |
	grep -v -e ARP -e ICMP6 |
	sed -e "$names" -e 's/^[0-9:.]* //' -e 's/, ethertype [^,]*, length [0-9]*//' \
	    -e 's/\(Flags \[[^]]*\]\).*/\1/' | head -n 12 | sed 's/^/  /'
cat <<EOF

  client > lb ... $vip.80        the request goes to the VIP, whose MAC is
                                    the director's
  lb > rs1 ... $(addr lb) > $(addr rs1): <inner>
                                    the same packet, tunnelled: an outer
                                    header from the director to the real
                                    server, the client's packet inside
  rs1 > client ... $vip.80 > ...  the answer comes straight from the real
                                    server, from the VIP: never through the
                                    director
EOF

stop_process "$LAB_RUN/trace.pid" TERM >/dev/null
lab_stop_director INT
say "The director's statistics at exit"
grep -E '^(vip|real|proto|events)' "$LAB_RUN/director.log" | tail -n $((nreals + 3)) |
	sed 's/^/  /'

say "The director's decisions (the first 3): xdp_iptunnel -i eth0 --trace vip $vip"
grep -v '^xdp_iptunnel: ' "$LAB_RUN/trace.log" | head -n 3 |
	sed -e 's/^/  /' -e 's/; /;\n      /g'
grep '^xdp_iptunnel: trace stopped' "$LAB_RUN/trace.log" | sed 's/^/  /'
cat <<EOT

  time, interface, protocol, client > VIP, frame length: what came in;
  then the verdict (sent: XDP_TX) and why (tunnelled to a real);
  vip $vip tcp 80-81 id 0   the range that matched, its statistics slot
  real N [slot S]           the real picked (its id in the reals map) and,
                            with several reals, the slot of the VIP's
                            Maglev table that the flow's hash chose
  outer ipvX A > B          the outer header written: director > real
  Passed and dropped packets say why too (not a VIP, port outside the
  ranges, fragment, no usable real, too big, ...): README, "Reading
  the trace".
EOT

if [ -n "$keep" ]; then
	trap - EXIT
	say "The lab stays up. Enter a host with:"
	for host in client lb $(lab_reals) br; do
		echo "  ip netns exec xipt-$host bash"
	done
	echo "  restart the director: nsenter --net=/run/netns/xipt-lb $LAB_LOADER -i eth0 -a $vip -p 80-81 -s $(addr lb)$reals $flags"
	echo "  remove the lab:       $0 down"
fi
