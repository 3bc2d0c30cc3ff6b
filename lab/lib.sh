# SPDX-License-Identifier: GPL-2.0
#
# The virtual lab of xdp_iptunnel, sourced by lab/lab.sh and the
# end-to-end tests: a client, a director and real servers in network
# namespaces on one bridge, documentation addresses only.
#
#   xipt-client  eth0 192.0.2.2     2001:db8::2
#   xipt-lb      eth0 192.0.2.10    2001:db8::10   + VIP (answers ARP/ND)
#   xipt-rsN     eth0 192.0.2.1N    2001:db8::1N   + VIP on lo, nginx,
#                                                   xdp_iptunnel --real
#   xipt-br      br0 with ports to-client, to-lb, to-rsN
#
# With LAB_ROUTER_MTU=N set, the client sits behind a router instead, on
# a segment of its own, and the router's route toward it is N bytes
# (see lab_router):
#   xipt-client  eth0 198.51.100.2  2001:db8:c::2
#   xipt-router  eth0 192.0.2.1     2001:db8::1    on br0 (to-router)
#                to-client 198.51.100.1 2001:db8:c::1
#
# Nothing here touches the initial namespace's links or addresses.

LAB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_RUN=${LAB_RUN:-/run/xdp_iptunnel-lab}
LAB_LOADER=${LAB_LOADER:-$LAB_TOP/xdp_iptunnel}
LAB_DECAP_OBJ=$LAB_TOP/lab/xdp_pass_kern.o	# xdp_pass, for veth peers
LAB_BPFFS=/sys/fs/bpf/xipt-lab	# the decap programs' pins, of old
LAB_LOCK=/run/xdp_iptunnel-lab.lock	# whose lab is up: see lab_lock
VIP4=192.0.2.33
VIP6=2001:db8::33

lab_ns() { echo "xipt-$1"; }
in_ns() { local host=$1; shift; ip netns exec "xipt-$host" "$@"; }
host4() {
	case $1 in
	client) [ -n "${LAB_ROUTER_MTU:-}" ] && echo 198.51.100.2 || echo 192.0.2.2 ;;
	router) echo 192.0.2.1 ;; lb) echo 192.0.2.10 ;; rs*) echo "192.0.2.1${1#rs}" ;;
	esac
}
host6() {
	case $1 in
	client) [ -n "${LAB_ROUTER_MTU:-}" ] && echo 2001:db8:c::2 || echo 2001:db8::2 ;;
	router) echo 2001:db8::1 ;; lb) echo 2001:db8::10 ;; rs*) echo "2001:db8::1${1#rs}" ;;
	esac
}
host_mac() { ip -n "xipt-$1" -br link show eth0 | awk '{ print $3 }'; }
lab_reals() { local i; for i in $(seq "${LAB_NREALS:-1}"); do echo "rs$i"; done; }

# Does this kernel have the IP-in-IP tunnel drivers the seed used?
lab_kernel_tunnels() {
	local ok=1
	ip netns add xipt-probe 2>/dev/null || return 1
	ip -n xipt-probe link add name probe4 type ipip 2>/dev/null &&
		ip -n xipt-probe link add name probe6 type ip6tnl 2>/dev/null &&
		ip -n xipt-probe link add name probe46 type sit 2>/dev/null && ok=0
	ip netns del xipt-probe
	return $ok
}

# The lab's namespaces have fixed names, so one lab runs at a time: the
# process that brings it up holds $LAB_LOCK (a directory, made
# atomically, with its pid) until lab_down. Another one waits for it
# instead of tearing it down under it; a holder that died without
# lab_down (SIGKILL, or lab.sh --keep) leaves a stale lock, taken over.
lab_lock() {
	local i owner=""
	[ -n "${LAB_LOCKED:-}" ] && return 0
	for i in $(seq 9000); do
		if mkdir "$LAB_LOCK" 2>/dev/null; then
			echo $$ >"$LAB_LOCK/pid"
			LAB_LOCKED=1
			return 0
		fi
		owner=$(cat "$LAB_LOCK/pid" 2>/dev/null || true)
		if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
			rm -rf "$LAB_LOCK"
			continue
		fi
		[ "$i" = 1 ] && echo "lab: process ${owner:-?} has the lab up; waiting for it" >&2
		sleep 0.1
	done
	echo "lab: gave up after 15 min waiting for process $owner's lab" >&2
	return 1
}

# lab_owned: may this process tear the lab down? Not while another live
# process holds it.
lab_owned() {
	local owner
	[ -n "${LAB_LOCKED:-}" ] && return 0
	[ -d "$LAB_LOCK" ] || return 0
	# no pid yet: another process is just taking it
	owner=$(cat "$LAB_LOCK/pid" 2>/dev/null) || return 1
	! kill -0 "$owner" 2>/dev/null
}

# lab_up MODE NREALS: MODE native or generic XDP for the data path
lab_up() {
	local mode=$1 host xdp
	LAB_NREALS=$2
	lab_lock
	lab_teardown
	mkdir -p "$LAB_RUN"
	echo "$LAB_NREALS" >"$LAB_RUN/nreals"
	xdp=$([ "$mode" = native ] && echo xdpdrv || echo xdpgeneric)

	ip netns add xipt-br
	ip -n xipt-br link add br0 type bridge
	ip -n xipt-br link set br0 up
	[ -n "${LAB_ROUTER_MTU:-}" ] && ip netns add xipt-router
	for host in client lb $(lab_reals); do
		ip netns add "xipt-$host"
		in_ns "$host" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0
		if [ "$host" = client ] && [ -n "${LAB_ROUTER_MTU:-}" ]; then
			ip -n xipt-router link add to-client type veth \
				peer name eth0 netns xipt-client
		else
			ip -n xipt-br link add "to-$host" type veth \
				peer name eth0 netns "xipt-$host"
			ip -n xipt-br link set "to-$host" master br0 up
		fi
		ip -n "xipt-$host" addr add "$(host4 "$host")/24" dev eth0
		ip -n "xipt-$host" addr add "$(host6 "$host")/64" dev eth0 nodad
		ip -n "xipt-$host" link set lo up
		ip -n "xipt-$host" link set eth0 up
	done

	[ -n "${LAB_ROUTER_MTU:-}" ] && lab_router "$LAB_ROUTER_MTU"

	# the client's TCP checksums must be filled in before its frames
	# reach a native XDP program (veth TX checksum offload leaves them)
	in_ns client ethtool -K eth0 tx off >/dev/null

	# the director owns the VIP: it answers ARP and ND for it
	ip -n xipt-lb addr add "$VIP4/32" dev eth0
	ip -n xipt-lb addr add "$VIP6/128" dev eth0 nodad
	# native XDP_TX on a veth reaches the peer only if the peer has an
	# XDP program of its own
	[ "$mode" = native ] &&
		ip -n xipt-br link set dev to-lb xdpdrv obj "$LAB_DECAP_OBJ" \
			sec xdp program xdp_pass

	for host in $(lab_reals); do
		# LVS-TUN: the VIP is local, but ARP for it is not answered
		ip -n "xipt-$host" addr add "$VIP4/32" dev lo
		ip -n "xipt-$host" addr add "$VIP6/128" dev lo nodad
		in_ns "$host" sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.eth0.arp_ignore=1 \
			net.ipv4.conf.eth0.arp_announce=2 \
			net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.eth0.rp_filter=0
		if [ "${LAB_DECAP:-auto}" != xdp ] && lab_kernel_tunnels; then
			in_ns "$host" sh -c 'for t in tunl0 ip6tnl0 sit0; do
				ip link set $t up; done
				sysctl -qw net.ipv4.conf.tunl0.rp_filter=0'
			echo kernel >"$LAB_RUN/decap"
		else
			# native XDP_TX, to a previous real, needs a program
			# on the bridge's side of the veth too
			[ "$mode" = native ] &&
				ip -n xipt-br link set dev "to-$host" xdpdrv \
					obj "$LAB_DECAP_OBJ" sec xdp program xdp_pass
			lab_decap "$host" "$xdp"
			echo xdp >"$LAB_RUN/decap"
		fi
		lab_nginx "$host"
	done
}

# lab_router MTU: xipt-router forwards between the client's segment and
# the bridge. Its routes toward the client are MTU bytes, locked, so that
# it sends "fragmentation needed" / "packet too big" for full-size
# answers from the reals: TCP's MSS (client and servers keep 1500) does
# not avoid it, path MTU discovery must. Errors are not rate limited.
lab_router() {
	local mtu=$1 host
	in_ns router sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 \
		net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
	ip -n xipt-br link add to-router type veth peer name eth0 \
		netns xipt-router
	ip -n xipt-br link set to-router master br0 up
	ip -n xipt-router addr add "$(host4 router)/24" dev eth0
	ip -n xipt-router addr add "$(host6 router)/64" dev eth0 nodad
	ip -n xipt-router addr add 198.51.100.1/24 dev to-client
	ip -n xipt-router addr add 2001:db8:c::1/64 dev to-client nodad
	ip -n xipt-router link set lo up
	ip -n xipt-router link set eth0 up
	ip -n xipt-router link set to-client up
	ip -n xipt-router route add "$(host4 client)/32" dev to-client \
		mtu lock "$mtu"
	ip -n xipt-router route add "$(host6 client)/128" dev to-client \
		mtu lock "$mtu"
	ip -n xipt-router route add "$VIP4/32" via "$(host4 lb)"
	ip -n xipt-router route add "$VIP6/128" via "$(host6 lb)"
	ip -n xipt-client route add default via 198.51.100.1
	ip -n xipt-client route add default via 2001:db8:c::1
	for host in lb $(lab_reals); do
		ip -n "xipt-$host" route add 198.51.100.0/24 via "$(host4 router)"
		ip -n "xipt-$host" route add 2001:db8:c::/64 via "$(host6 router)"
	done
}

# lab_bpffs: the BPF filesystem the pins live on. A fresh machine has
# none mounted until a BPF tool mounts it (the loader does, as late as it
# can): mount it, as the loader would, and say so.
lab_bpffs() {
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] && return 0
	echo "lab: mounting the BPF filesystem on /sys/fs/bpf (none was mounted)"
	mount -t bpf -o mode=0700 bpf /sys/fs/bpf
}

# lab_decap HOST xdpdrv|xdpgeneric: the real server's program on HOST's
# eth0 (xdp_iptunnel --real: it finds the host's addresses and its peers'
# MACs itself), in the background like the director, until lab_teardown
lab_decap() {
	local host=$1 log=$LAB_RUN/real-$1.log pid i
	lab_bpffs
	: >"$log"	# there before the loader writes to it: the wait greps it
	nsenter --net=/run/netns/"xipt-$host" "$LAB_LOADER" --real -i eth0 \
		"$([ "$2" = xdpdrv ] && echo -N || echo -S)" >"$log" 2>&1 &
	pid=$!
	echo $pid >"$LAB_RUN/real-$host.pid"
	for i in $(seq 100); do
		grep -q attached "$log" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	return 1
}

lab_nginx() {
	local host=$1 conf=$LAB_RUN/nginx-$1.conf
	cat >"$conf" <<EOF
worker_processes 1;
pid $LAB_RUN/nginx-$host.pid;
error_log $LAB_RUN/nginx-$host.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $LAB_RUN/nginx-$host-body;
	server {
		listen 80; listen [::]:80; listen 81; listen [::]:81;
		location / { return 200 "$host\n"; }
		location /slow { limit_rate 100k; alias $LAB_RUN/big; }
		location /big { alias $LAB_RUN/big; }
		location = /health { alias $LAB_RUN/health-$host; }
	}
}
EOF
	# a health check's page: removing it fails the check, and only that
	echo ok >"$LAB_RUN/health-$host"
	in_ns "$host" nginx -c "$conf"
}

# lab_cut_loader DIR SED: a copy of the loader in DIR beside a copy of
# the director's program built with one line changed by SED (the loader
# loads the object beside it), to show what a test sees without a part
# of the program; fails when SED changes nothing
lab_cut_loader() {
	local dir=$1
	sed "$2" "$LAB_TOP/xdp_iptunnel_kern.c" >"$dir/xdp_iptunnel_kern.c"
	if cmp -s "$LAB_TOP/xdp_iptunnel_kern.c" "$dir/xdp_iptunnel_kern.c"; then
		echo "lab: '$2' changes nothing in xdp_iptunnel_kern.c" >&2
		return 1
	fi
	cp "$LAB_TOP/xdp_iptunnel_common.h" "$LAB_TOP/xdp_iptunnel" "$dir/"
	clang -O2 -g -Wall -target bpf \
		-I"/usr/include/$(gcc -print-multiarch)" \
		-c "$dir/xdp_iptunnel_kern.c" -o "$dir/xdp_iptunnel_kern.o"
}

# lab_director ARGS...: start xdp_iptunnel on the director's eth0 in the
# background (nsenter keeps the host's bpffs, so --update can reach it)
lab_director() {
	local i
	: >"$LAB_RUN/director.log"
	nsenter --net=/run/netns/xipt-lb "$LAB_LOADER" -i eth0 "$@" \
		>>"$LAB_RUN/director.log" 2>&1 &
	echo $! >"$LAB_RUN/director.pid"
	for i in $(seq 100); do
		grep -q attached "$LAB_RUN/director.log" && return 0
		kill -0 "$(cat "$LAB_RUN/director.pid")" 2>/dev/null || break
		sleep 0.05
	done
	cat "$LAB_RUN/director.log" >&2
	return 1
}

# alive PID: running, not a zombie (exited, not yet reaped)
alive() {
	local state
	read -r _ _ state _ 2>/dev/null <"/proc/$1/stat" && [ "$state" != Z ]
}

# stop_process PIDFILE [SIGNAL]: send SIGNAL (default INT; 0 sends none)
# to the process, a child of this shell, and wait up to 5 s for it to
# exit (then SIGKILL). Prints its exit status, "running" if it had to be
# killed; removes PIDFILE.
stop_process() {
	local pid i rc=0
	pid=$(cat "$1" 2>/dev/null) || return 0
	[ "${2:-INT}" = 0 ] || kill -"${2:-INT}" "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		rc=running
	fi
	# reap it here: no "Killed" notice from the shell later
	if [ "$rc" = running ]; then
		{ wait "$pid"; } 2>/dev/null || true
	else
		{ wait "$pid"; } 2>/dev/null || rc=$?
	fi
	echo "$rc"
	rm -f "$1"
}

# lab_stop_director [SIGNAL]: stop_process on the director; its exit
# status goes to $LAB_RUN/director.status
lab_stop_director() {
	[ -e "$LAB_RUN/director.pid" ] || return 0
	stop_process "$LAB_RUN/director.pid" "${1:-INT}" >"$LAB_RUN/director.status"
}

director_status() { cat "$LAB_RUN/director.status" 2>/dev/null; }

# capture_start NS DIR NAME [TCPDUMP_ARGS...]: tcpdump on br0 in
# namespace NS into DIR/NAME.pcap, returning once it listens;
# capture_stop DIR NAME ends it. Shared with lab/ecmp_lib.sh.
capture_start() {
	local ns=$1 dir=$2 name=$3
	shift 3
	# not through a function: $! must be tcpdump itself
	ip netns exec "$ns" tcpdump -i br0 --immediate-mode -U -nn \
		-w "$dir/$name.pcap" "$@" >"$dir/$name.tcpdump" 2>&1 &
	echo $! >"$dir/capture-$name.pid"
	for _ in $(seq 100); do
		grep -q listening "$dir/$name.tcpdump" && return 0
		sleep 0.05
	done
}

capture_stop() {
	local pid
	pid=$(cat "$1/capture-$2.pid" 2>/dev/null) || return 0
	sleep 0.2
	# background jobs of a script ignore SIGINT
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$1/capture-$2.pid"
}

# lab_capture_start NAME / lab_capture_stop NAME: all of the bridge
lab_capture_start() { capture_start xipt-br "$LAB_RUN" "$1"; }
lab_capture_stop() { capture_stop "$LAB_RUN" "$1"; }

lab_xdp_attached() { ip -n xipt-lb link show eth0 | grep -q " xdp"; }

# lab_down: remove the lab, unless another live process has it up
lab_down() {
	if ! lab_owned; then
		echo "lab: process $(cat "$LAB_LOCK/pid" 2>/dev/null) has the lab up; left alone" >&2
		return 0
	fi
	lab_teardown
	# ours, or a dead process's
	rm -rf "$LAB_LOCK"
	LAB_LOCKED=""
}

lab_teardown() {
	local f ns
	lab_stop_director TERM 2>/dev/null || true
	for f in "$LAB_RUN"/capture-*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	for f in "$LAB_RUN"/nginx-*.pid "$LAB_RUN"/real-*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	for ns in $(ip netns list | awk '/^xipt-(br|client|lb|router|rs[0-9]+)( |$)/ { print $1 }'); do
		ip netns del "$ns"
	done
	rm -rf /sys/fs/bpf/xdp_iptunnel/xipt-lb /sys/fs/bpf/xdp_iptunnel/xipt-rs* \
		"$LAB_BPFFS"
	rmdir /sys/fs/bpf/xdp_iptunnel 2>/dev/null || true
	rm -rf "$LAB_RUN"
}
