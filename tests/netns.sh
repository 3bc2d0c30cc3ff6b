# SPDX-License-Identifier: GPL-2.0
#
# Namespaces, directors and real servers of the shell suites that build
# a topology of their own (test_lb.sh, test_grace.sh, test_trace.sh).
# The suite sets top (the tree), D (the director's namespace), NETNS
# (every namespace it makes) and RS (the real servers' one) if it has
# one, sources this file after tap.sh and calls netns_begin.

# netns_cleanup: end the background jobs with $JOB_SIGNAL, delete the
# namespaces, the pins of the directors in $D and $tmp
netns_cleanup() {
	local pid ns
	for pid in $(jobs -p); do
		kill "-$JOB_SIGNAL" "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	for ns in $NETNS; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "/sys/fs/bpf/xdp_iptunnel/$D" ${tmp:+"$tmp"}
	rmdir /sys/fs/bpf/xdp_iptunnel 2>/dev/null || true
}

# netns_begin SIGNAL: clear what a killed run left, make $tmp, clean up
# at exit, ending the background jobs with SIGNAL (a script's background
# jobs ignore SIGINT)
netns_begin() {
	JOB_SIGNAL=$1
	netns_cleanup
	tmp=$(mktemp -d)
	trap netns_cleanup EXIT
	trap 'exit 1' INT TERM
}

# links A B N...: namespaces $D and $RS; $D's A0 (192.0.2.10/24) and B0
# (no address) joined to A1 (192.0.2.N/24 for each N) and B1 in $RS;
# all up
links() {
	local n dev
	ip netns add "$D"
	ip netns add "$RS"
	ip -n "$D" link add "${1}0" type veth peer name "${1}1" netns "$RS"
	ip -n "$D" link add "${2}0" type veth peer name "${2}1" netns "$RS"
	ip -n "$D" addr add 192.0.2.10/24 dev "${1}0"
	for n in "${@:3}"; do
		ip -n "$RS" addr add "192.0.2.$n/24" dev "${1}1"
	done
	for dev in "${1}0" "${2}0" lo; do ip -n "$D" link set "$dev" up; done
	for dev in "${1}1" "${2}1" lo; do ip -n "$RS" link set "$dev" up; done
}

in_d() { nsenter --net="/run/netns/$D" "$@"; }

# started NAME WORD FILE: the job just started is NAME ($NAME_pid); wait
# up to 5 s for WORD in FILE, else show FILE and fail
started() {
	eval "${1}_pid=$!"
	for _ in $(seq 50); do
		grep -q "$2" "$3" && return 0
		sleep 0.1
	done
	cat "$3" >&2
	return 1
}

# director NAME IFNAME ARGS...: start one in $D in the background, its
# output in $tmp/NAME.log, and wait for it to attach
director() {
	local name=$1 dev=$2
	shift 2
	# not through in_d(): $! must be the director, for the signals
	# shellcheck disable=SC2154 # top is the suite's
	nsenter --net="/run/netns/$D" "$top/xdp_iptunnel" -i "$dev" "$@" \
		>"$tmp/$name.log" 2>&1 &
	started "$name" attached "$tmp/$name.log"
}

# stop NAME [SIGNAL]: send NAME SIGNAL (INT) and wait for it to end
stop() {
	local pid
	eval "pid=\$${1}_pid"
	kill "-${2:-INT}" "$pid"
	wait "$pid" 2>/dev/null || true
}

# http ADDR: a web server on ADDR port 80 in $RS, its pid in http_ADDR
# (dots as underscores), its log in $tmp/http-ADDR.log
http() {
	nsenter --net="/run/netns/$RS" python3 -m http.server 80 \
		--bind "$1" >"$tmp/http-$1.log" 2>&1 &
	eval "http_${1//./_}=$!"
}

# listening ADDR: wait up to 10 s for ADDR port 80 to take a connection
# from $D (python starts slowly on a busy machine)
listening() {
	for _ in $(seq 100); do
		in_d bash -c "exec 3<>/dev/tcp/$1/80" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
