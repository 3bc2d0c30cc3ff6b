# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The ECMP lab of xdp_iptunnel (issue 5): directors scaled out the way
# production runs them. Every director announces the VIPs over BGP to a
# router, the router installs them as one multipath route and spreads
# flows over the directors by a hash of addresses and ports, and every
# director runs xdp_iptunnel with the same VIPs and reals, so Maglev sends
# a flow to the same real whichever director the router hands it to.
# Sourced by lab/ecmp.sh and tests/e2e/test_ecmp.sh; builds on lab/lib.sh.
#
#   xipt-e-client  eth0 203.0.113.2   2001:db8:c::2   curl, default via the router
#   xipt-e-router  eth0 203.0.113.1   2001:db8:c::1   BIRD: learns the VIPs from
#                  eth1 192.0.2.1     2001:db8::1     the directors, ECMP routes
#   xipt-e-lbN     eth0 192.0.2.2N    2001:db8::2N    xdp_iptunnel; BIRD announces
#                                                     the VIPs while it is attached
#   xipt-e-rsN     eth0 192.0.2.1N    2001:db8::1N    nginx answering "e-rsN", the
#                                                     VIPs on lo, --real,
#                                                     default via the router
#   xipt-e-br      br0 with ports to-router, to-lbN, to-rsN
#   VIPs           198.51.100.33      2001:db8:33::33 routed: in no subnet
#
#      client ---- router ====== br0 (192.0.2.0/24, 2001:db8::/64) ======
#                                 |      |      |      |      |
#                                lb1    lb2    rs1    rs2    rs3
#
# Why BIRD 2 (Debian's bird2) for BGP: the whole configuration is a few
# lines (lab/bird/), one daemon runs per namespace with its own config,
# control socket and pid file, unprivileged (it drops root for the user
# bird, keeping only the network capabilities), `birdc enable|disable`
# switches one protocol at run time (the watcher's lever), and the same
# daemon has both BGP and a kernel protocol whose "merge paths" installs
# equal BGP routes as one ECMP route. (FRR needs zebra, bgpd and vtysh per
# namespace; GoBGP and ExaBGP do not program the kernel's routes.)
#
# The glue: a watcher per director (ecmp_watch, a shell loop) looks every
# 0.5 s whether xdp_iptunnel is attached to the director's eth0 with its
# maps pinned, and switches the BIRD protocols that hold the VIPs on and
# off with birdc (lab/bird/director.conf). A loader stopped by a signal,
# killed, or removed with --stop thus withdraws the VIPs within about
# 0.5 s plus one BGP UPDATE, the session staying up; a director that dies
# as a whole is dropped by the router's hold timer, 3 s (the timers, and
# why, in lab/bird/timers.conf).
#
# Only namespaces named xipt-e-* are made and removed, nothing in the
# initial namespace; the plain lab (lab/lib.sh, xipt-*) can run alongside.

ECMP_RUN=${ECMP_RUN:-/run/xipt-e-lab}
LAB_RUN=$ECMP_RUN	# lab_nginx's files, apart from the plain lab's
# shellcheck source=lab/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# where lab_decap pins this lab's decap programs
LAB_BPFFS=/sys/fs/bpf/xipt-e-lab

ECMP_BIRD_CONF=$LAB_TOP/lab/bird
ECMP_PINS=/sys/fs/bpf/xdp_iptunnel	# the loader's pins: <netns>/<if>
ECMP_VIP4=198.51.100.33
ECMP_VIP6=2001:db8:33::33
ECMP_PORT=80
ECMP_ROUTER_AS=65000
ECMP_LB_AS=65010	# one AS for all directors, as for an anycast service
ECMP_WATCH_INTERVAL=0.5	# how often the watcher looks at the XDP program
ECMP_BIRD_USER=${ECMP_BIRD_USER:-bird}

# lab/lib.sh's host4 and host6 know the plain lab's hosts; these add this
# lab's (lab_decap asks them for the addresses a real server decapsulates)
eval "lab_$(declare -f host4)"
eval "lab_$(declare -f host6)"
host4() {
	case $1 in
	e-client) echo 203.0.113.2 ;;
	e-router) echo 192.0.2.1 ;;
	e-lb*) echo "192.0.2.2${1#e-lb}" ;;
	e-rs*) lab_host4 "${1#e-}" ;;
	*) lab_host4 "$1" ;;
	esac
}
host6() {
	case $1 in
	e-client) echo 2001:db8:c::2 ;;
	e-router) echo 2001:db8::1 ;;
	e-lb*) echo "2001:db8::2${1#e-lb}" ;;
	e-rs*) lab_host6 "${1#e-}" ;;
	*) lab_host6 "$1" ;;
	esac
}

ecmp_lbs() { local i; for i in $(seq "$(cut -d' ' -f2 "$ECMP_RUN/topology")"); do echo "e-lb$i"; done; }
ecmp_reals() { local i; for i in $(seq "$(cut -d' ' -f3 "$ECMP_RUN/topology")"); do echo "e-rs$i"; done; }
ecmp_mode() { cut -d' ' -f1 "$ECMP_RUN/topology"; }
ecmp_vip() { if [ "${1:-4}" = 6 ]; then echo "$ECMP_VIP6"; else echo "$ECMP_VIP4"; fi; }
ecmp_url() { if [ "${1:-4}" = 6 ]; then echo "http://[$ECMP_VIP6]:$ECMP_PORT/${2:-}"; else echo "http://$ECMP_VIP4:$ECMP_PORT/${2:-}"; fi; }

# ecmp_deps: the lab's packages, BIRD among them
ecmp_deps() { "$LAB_TOP/tests/deps.sh" demo; }

# ecmp_up MODE NLBS NREALS: MODE native or generic XDP on the directors
# and real servers
ecmp_up() {
	local mode=$1 host xdp
	ecmp_down
	mkdir -p "$ECMP_RUN"
	chmod 755 "$ECMP_RUN"
	echo "$mode $2 $3" >"$ECMP_RUN/topology"
	xdp=$([ "$mode" = native ] && echo xdpdrv || echo xdpgeneric)

	ip netns add xipt-e-br
	ip -n xipt-e-br link add br0 type bridge
	ip -n xipt-e-br link set br0 up
	for host in e-client e-router $(ecmp_lbs) $(ecmp_reals); do
		ip netns add "xipt-$host"
		in_ns "$host" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0
		ip -n "xipt-$host" link set lo up
	done

	# the client in a subnet of its own, behind the router
	ip -n xipt-e-router link add eth0 type veth peer name eth0 \
		netns xipt-e-client
	ip -n xipt-e-client addr add 203.0.113.2/24 dev eth0
	ip -n xipt-e-client addr add 2001:db8:c::2/64 dev eth0 nodad
	ip -n xipt-e-router addr add 203.0.113.1/24 dev eth0
	ip -n xipt-e-router addr add 2001:db8:c::1/64 dev eth0 nodad
	ip -n xipt-e-client link set eth0 up
	ip -n xipt-e-router link set eth0 up
	ip -n xipt-e-client route add default via 203.0.113.1
	ip -n xipt-e-client -6 route add default via 2001:db8:c::1
	# replaying a flow reuses its client port at once: no TIME_WAIT
	in_ns e-client sysctl -qw net.ipv4.tcp_max_tw_buckets=0

	# the router, the directors and the real servers on the bridge
	for host in e-router $(ecmp_lbs) $(ecmp_reals); do
		local dev=eth0
		[ "$host" = e-router ] && dev=eth1
		ip -n xipt-e-br link add "to-${host#e-}" type veth peer name "$dev" \
			netns "xipt-$host"
		ip -n xipt-e-br link set "to-${host#e-}" master br0 up
		ip -n "xipt-$host" addr add "$(host4 "$host")/24" dev "$dev"
		ip -n "xipt-$host" addr add "$(host6 "$host")/64" dev "$dev" nodad
		ip -n "xipt-$host" link set "$dev" up
	done

	# the router: forwards, and hashes flows over ECMP next hops by
	# addresses, protocol and ports (policy 1), not by addresses only (0).
	# Policy 1 takes a packet's L4 hash when it already has one: from a
	# NIC that is its RSS hash of addresses and ports, but over veth it is
	# the client socket's random hash (sk_txhash), so here a connection
	# keeps its director while it lives, yet a new connection from the
	# same port may take another. Maglev makes either harmless. (Policy 3
	# with fib_multipath_hash_fields=0x37 would hash the ports themselves.)
	in_ns e-router sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv6.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0

	if [ "$mode" = native ]; then
		# TCP checksums filled in before a frame reaches native XDP: by
		# the client, and by the router, which forwards its frames
		in_ns e-client ethtool -K eth0 tx off >/dev/null
		in_ns e-router ethtool -K eth1 tx off >/dev/null
		# XDP_TX on a veth reaches the peer only if the peer has an
		# XDP program of its own
		for host in $(ecmp_lbs); do
			ip -n xipt-e-br link set dev "to-${host#e-}" xdpdrv \
				obj "$LAB_DECAP_OBJ" sec xdp program xdp_pass
		done
	fi

	for host in $(ecmp_reals); do
		# LVS-TUN: the VIPs are local; they are not in the LAN's
		# subnets, so nothing there asks for them with ARP or ND.
		# The answers go from the VIP straight to the router.
		ip -n "xipt-$host" addr add "$ECMP_VIP4/32" dev lo
		ip -n "xipt-$host" addr add "$ECMP_VIP6/128" dev lo nodad
		ip -n "xipt-$host" route add default via 192.0.2.1
		ip -n "xipt-$host" -6 route add default via 2001:db8::1
		in_ns "$host" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.eth0.rp_filter=0
		[ "$mode" = native ] &&
			ip -n xipt-e-br link set dev "to-${host#e-}" xdpdrv \
				obj "$LAB_DECAP_OBJ" sec xdp program xdp_pass
		lab_decap "$host" "$xdp"
		lab_nginx "$host"
	done

	ecmp_bird e-router
	for host in $(ecmp_lbs); do
		ecmp_bird "$host"
		ecmp_watch_start "$host"
	done
}

# ecmp_bird HOST: BIRD in HOST's namespace with its own config, control
# socket, pid file and log in $ECMP_RUN/bird-HOST
ecmp_bird() {
	local host=$1 dir=$ECMP_RUN/bird-$1 conf lb neighbors="" user=() i
	mkdir -p "$dir"
	if [ "$host" = e-router ]; then
		conf=$(<"$ECMP_BIRD_CONF/router.conf")
		for lb in $(ecmp_lbs); do
			neighbors+="protocol bgp ${lb#e-} from director { neighbor $(host4 "$lb") as $ECMP_LB_AS; }"$'\n'
		done
	else
		conf=$(<"$ECMP_BIRD_CONF/director.conf")
	fi
	conf=${conf//@NEIGHBORS@/$neighbors}
	conf=${conf//@ADDR4@/$(host4 "$host")}
	conf=${conf//@ADDR6@/$(host6 "$host")}
	conf=${conf//@ROUTER4@/$(host4 e-router)}
	conf=${conf//@VIP4@/$ECMP_VIP4}
	conf=${conf//@VIP6@/$ECMP_VIP6}
	conf=${conf//@ROUTER_AS@/$ECMP_ROUTER_AS}
	conf=${conf//@LB_AS@/$ECMP_LB_AS}
	conf=${conf//@DIR@/$dir}
	echo "$conf" >"$dir/bird.conf"
	# BIRD reads its includes after dropping to its own user, who may not
	# enter the checkout (a clone in root's home): give it a copy
	cp "$ECMP_BIRD_CONF/timers.conf" "$dir/"
	if id "$ECMP_BIRD_USER" >/dev/null 2>&1; then
		chown -R "$ECMP_BIRD_USER:" "$dir"
		user=(-u "$ECMP_BIRD_USER" -g "$(id -gn "$ECMP_BIRD_USER")")
	fi
	in_ns "$host" bird -c "$dir/bird.conf" -s "$dir/bird.ctl" \
		-P "$dir/bird.pid" "${user[@]}"
	for i in $(seq 100); do
		ecmp_birdc "$host" show status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "ecmp: BIRD on $host does not answer" >&2
	return 1
}

# ecmp_birdc HOST COMMAND...: a birdc command to HOST's BIRD
ecmp_birdc() { local host=$1; shift; birdc -s "$ECMP_RUN/bird-$host/bird.ctl" "$@"; }

# ecmp_healthy LB: is xdp_iptunnel attached to LB's eth0, with its maps
# pinned? (An XDP program of another name, or none, is not healthy.)
ecmp_healthy() {
	[[ $(ip -n "xipt-$1" -d link show dev eth0 2>/dev/null) == *" prog/xdp id "+([0-9])" name xdp_iptunnel "* ]] &&
		[ -e "$ECMP_PINS/xipt-$1/eth0/vip_tables" ]
}

# ecmp_watch LB: the glue. Every ECMP_WATCH_INTERVAL s, announce the VIPs
# (birdc enable "vip*") while LB is healthy, withdraw them (birdc disable)
# when it is not. Transitions go to $ECMP_RUN/watch.log with the time.
ecmp_watch() {
	local lb=$1 state=withdrawn want cmd
	set +e
	while :; do
		if ecmp_healthy "$lb"; then want=announced; else want=withdrawn; fi
		if [ "$want" != "$state" ]; then
			cmd=$([ "$want" = announced ] && echo enable || echo disable)
			if ecmp_birdc "$lb" "$cmd" '"vip*"' >/dev/null; then
				state=$want
				echo "$EPOCHREALTIME $lb $state" >>"$ECMP_RUN/watch.log"
			fi
		fi
		sleep "$ECMP_WATCH_INTERVAL"
	done
}

ecmp_watch_start() {
	ecmp_watch "$1" >>"$ECMP_RUN/watch-$1.err" 2>&1 &
	echo $! >"$ECMP_RUN/watch-$1.pid"
}

# ecmp_watch_time LB STATE AFTER: when the watcher last logged STATE for LB
# after the time AFTER (epoch seconds), empty if not
ecmp_watch_time() {
	awk -v lb="$1" -v st="$2" -v t="$3" \
		'$2 == lb && $3 == st && $1 >= t { w = $1 } END { if (w) print w }' \
		"$ECMP_RUN/watch.log" 2>/dev/null
}

# ecmp_director_args LB [FLAGS...]: the director's command line; the same
# VIPs and reals on every director, only the tunnel source (-s) is its own.
# The reals: ECMP_CONF_REALS if set (a test changing the real set), else
# every real of the lab.
ecmp_director_args() {
	local lb=$1 host reals
	shift
	reals=${ECMP_CONF_REALS:-$(ecmp_reals)}
	echo -n "-a $ECMP_VIP4 -p $ECMP_PORT -s $(host4 "$lb")"
	for host in $reals; do echo -n " -d $(host4 "$host")"; done
	echo -n " -a $ECMP_VIP6 -p $ECMP_PORT -s $(host6 "$lb")"
	for host in $reals; do echo -n " -d $(host6 "$host")"; done
	[ "$(ecmp_mode)" = generic ] && echo -n " -S"
	[ $# = 0 ] || echo -n " $*"
	echo
}

# ecmp_director LB [FLAGS...]: start xdp_iptunnel on LB's eth0 in the
# background (nsenter keeps the host's bpffs: the pins are visible)
ecmp_director() {
	local lb=$1 log=$ECMP_RUN/director-$1.log pid i
	shift
	: >"$log"
	# line-buffered: "attached" reaches the log as soon as it is printed
	# shellcheck disable=SC2046
	nsenter --net=/run/netns/"xipt-$lb" stdbuf -oL "$LAB_LOADER" -i eth0 \
		$(ecmp_director_args "$lb" "$@") >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$ECMP_RUN/director-$lb.pid"
	for i in $(seq 100); do
		grep -q attached "$log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	return 1
}

ecmp_director_pid() { cat "$ECMP_RUN/director-$1.pid" 2>/dev/null; }

# ecmp_stop_director LB [SIGNAL]: stop_process on LB's loader (INT; 0
# to send nothing)
ecmp_stop_director() {
	stop_process "$ECMP_RUN/director-$1.pid" "${2:-INT}" >/dev/null
}

# ecmp_route [4|6]: the router's route to the VIP
ecmp_route() { ip -n xipt-e-router "-${1:-4}" route show "$(ecmp_vip "${1:-4}")"; }

# ecmp_gateways [4|6]: the next hops of the router's VIP route, in the
# kernel's order, on one line (no fork but ip: ecmp_wait_nexthops polls it)
ecmp_gateways() {
	local w prev="" out=""
	# shellcheck disable=SC2046
	for w in $(ecmp_route "${1:-4}"); do
		[ "$prev" = via ] && out="$out${out:+ }$w"
		prev=$w
	done
	echo "$out"
}

# ecmp_nexthops [4|6]: the directors the router's VIP route leads to,
# sorted, on one line ("" without a route)
ecmp_nexthops() {
	local gw lb
	for gw in $(ecmp_gateways "${1:-4}"); do
		for lb in $(ecmp_lbs); do
			[ "$gw" = "$(host4 "$lb")" ] || [ "$gw" = "$(host6 "$lb")" ] &&
				{ echo "${lb#e-}"; continue 2; }
		done
		echo "$gw"
	done | sort | xargs
}

# ecmp_since START: seconds from START ($EPOCHREALTIME then) until now
ecmp_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }'; }

# ecmp_wait_nexthops FAMILY "lb1 lb2" TIMEOUT: until the route leads to
# exactly those directors (in the order of their numbers, as the kernel
# lists them); prints the seconds it took
ecmp_wait_nexthops() {
	local start=$EPOCHREALTIME deadline want="" lb
	for lb in $2; do
		want="$want${want:+ }$(if [ "$1" = 6 ]; then host6 "e-$lb"; else host4 "e-$lb"; fi)"
	done
	deadline=$(( ${start/./} + $3 * 1000000 ))
	while [ "${EPOCHREALTIME/./}" -lt "$deadline" ]; do
		if [ "$(ecmp_gateways "$1")" = "$want" ]; then
			ecmp_since "$start"
			return 0
		fi
		sleep 0.01
	done
	return 1
}

# ecmp_curl SPORT [4|6] [PATH]: the answer to a request from the client's
# port SPORT, or "none"
ecmp_curl() {
	in_ns e-client curl -s --max-time 2 --local-port "$1" "-${2:-4}" \
		"$(ecmp_url "${2:-4}" "${3:-}")" || echo none
}

# ecmp_curls FAMILY FIRST COUNT: COUNT connections from the client ports
# FIRST, FIRST+1, ..., one after the other (one curl, a --next for each);
# "PORT ANSWER" per line, ANSWER "none" when it failed
ecmp_curls() {
	local port args=()
	for port in $(seq "$2" $(($2 + $3 - 1))); do
		args+=(--next -s "-$1" --max-time 2 --local-port "$port"
		       -H "Connection: close" -w '=%{http_code}\n' "$(ecmp_url "$1")")
	done
	nsenter --net=/run/netns/xipt-e-client curl "${args[@]:1}" |
		awk -v port="$2" '/^=[0-9][0-9][0-9]$/ {
			print port++, ($0 == "=200" && body != "" ? body : "none")
			body = ""; next } { body = $0 }'
}

# ecmp_capture_start NAME / ecmp_capture_stop NAME: tcpdump on the
# bridge of the tunnelled packets only (IPv4 in IPv4, IPv6 in IPv6)
ecmp_capture_start() {
	capture_start xipt-e-br "$ECMP_RUN" "$1" -s 160 'ip proto 4 or ip6 proto 41'
}
ecmp_capture_stop() { capture_stop "$ECMP_RUN" "$1"; }

# ecmp_flows NAME: the flows in capture NAME, one line per flow and path
# taken: "FAMILY CLIENT_PORT DIRECTOR REAL", e.g. "4 41000 lb1 rs3", read
# from the outer header (director > real) of every tunnelled packet
ecmp_flows() {
	local map="" host
	for host in $(ecmp_lbs) $(ecmp_reals); do
		map="$map $(host4 "$host")=${host#e-} $(host6 "$host")=${host#e-}"
	done
	tcpdump -nn -r "$ECMP_RUN/$1.pcap" 2>/dev/null | awk -v map="$map" '
		BEGIN { n = split(map, m, " ")
			for (i = 1; i <= n; i++) { split(m[i], kv, "="); name[kv[1]] = kv[2] } }
		($2 == "IP" || $2 == "IP6") && ($6 == "IP" || $6 == "IP6") {
			dst = $5; sub(/:$/, "", dst)
			port = $7; sub(/.*\./, "", port)
			print ($6 == "IP" ? 4 : 6), port, name[$3], name[dst] }' | sort -u
}

ecmp_down() {
	local f pids="" pid ns i left
	# every process of the lab by its pid file: signal all, then wait
	for f in "$ECMP_RUN"/watch-*.pid "$ECMP_RUN"/director-*.pid \
		"$ECMP_RUN"/real-*.pid \
		"$ECMP_RUN"/capture-*.pid "$ECMP_RUN"/bird-*/bird.pid \
		"$ECMP_RUN"/nginx-*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null && pids="$pids $pid"
	done
	# not-alive, not "gone": BIRD daemonizes, so init reaps it, maybe later
	for i in $(seq 150); do
		left=""
		for pid in $pids; do
			alive "$pid" && left="$left $pid"
		done
		pids=$left
		[ -z "$pids" ] && break
		sleep 0.02
	done
	for ns in $(ip netns list | awk '/^xipt-e-/ { print $1 }'); do
		ip netns del "$ns"
	done
	# pins of a director killed before it could remove them
	rm -rf "$ECMP_PINS"/xipt-e-* "$LAB_BPFFS"
	rm -rf "$ECMP_RUN"
}
