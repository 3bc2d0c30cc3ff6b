#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# xdp_iptunnel --trace on a running director, with packets sent for real:
# what a line says, filters, the rate limit, JSON, bad filters, and what
# stopping a tracer leaves (SIGINT: flag cleared, director untouched;
# SIGKILL: the flag expires and the program stops tracing).
#
#   xipt-trc-d: t0 192.0.2.10/24 ---- t1 (xipt-trc-c) 198.51.100.7/24
# The client reaches 192.0.2.0/24 through t1 (static neighbours); the
# director tunnels to 192.0.2.11 at t1's MAC, where nobody decapsulates.

set -eu
# job control: background jobs keep SIGINT, which stops a tracer
set -m
top=$(cd "$(dirname "$0")/.." && pwd)
D=xipt-trc-d
C=xipt-trc-c
NETNS="$D $C"
PINS=/sys/fs/bpf/xdp_iptunnel/$D/t0
VIP=192.0.2.33
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
# shellcheck source=tests/netns.sh
. "$top/tests/netns.sh"

netns_begin KILL
ip netns add $D
ip netns add $C
ip -n $D link add t0 type veth peer name t1 netns $C
ip -n $D addr add 192.0.2.10/24 dev t0
ip -n $C addr add 198.51.100.7/24 dev t1
for dev in t0 lo; do ip -n $D link set $dev up; done
for dev in t1 lo; do ip -n $C link set $dev up; done
d_mac=$(ip -n $D -br link show t0 | awk '{ print $3 }')
c_mac=$(ip -n $C -br link show t1 | awk '{ print $3 }')
ip -n $C route add 192.0.2.0/24 dev t1
for a in 33 34; do
	ip -n $C neigh add 192.0.2.$a lladdr "$d_mac" dev t1
done

lb() { in_d "$top/xdp_iptunnel" "$@"; }

# udp DST PORT [SIZE [DF]]: one datagram from 198.51.100.7:40001
udp() {
	ip netns exec $C /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2 if sys.argv[4] == "df" else 0)
s.bind(("198.51.100.7", 40001))
s.sendto(b"x" * int(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
' "$1" "$2" "${3:-8}" "${4:-nodf}"
}

# expires_ns of trace_ctl, as the program reads it
expires() {
	bpftool -j map lookup pinned "$PINS/trace_ctl" key 0 0 0 0 |
		jq -r '.formatted.value.expires_ns'
}
limited() {
	bpftool -j map lookup pinned "$PINS/trace_buckets" key 0 0 0 0 |
		jq '[.formatted.values[].value.limited] | add'
}
mono_ns() { /usr/bin/python3 -c 'import time; print(time.monotonic_ns())'; }

# tracer NAME ARGS...: start one, wait for its first line on stderr
tracer() {
	local name=$1
	shift
	# not through lb(): $! must be the tracer, for the signals
	nsenter --net=/run/netns/$D "$top/xdp_iptunnel" -i t0 "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" &
	started "$name" tracing "$tmp/$name.err"
}

# ---- bad filters: one line, exit 1, nothing started -----------------------
bad() {
	local name=$1 want=$2 rc=0
	shift 2
	lb -i t0 --trace "$@" >"$tmp/bad.out" 2>"$tmp/bad.err" || rc=$?
	if [ "$rc" != 1 ]; then
		not_ok "$name" "exit status $rc, want 1"
	elif [ "$(cat "$tmp/bad.err")" != "$want" ]; then
		not_ok "$name" "stderr '$(cat "$tmp/bad.err")', want '$want'"
	elif [ -s "$tmp/bad.out" ]; then
		not_ok "$name" "stdout: $(head -n 1 "$tmp/bad.out")"
	else
		ok "$name"
	fi
}
bad "bad filter: a port out of range" \
	"xdp_iptunnel: --trace 'port 65536': not a number 1-65535" port 65536
bad "bad filter: a port that is not a number" \
	"xdp_iptunnel: --trace 'port http': not a number 1-65535" port http
bad "bad filter: a VIP that is not an address" \
	"xdp_iptunnel: --trace 'vip 192.0.2': not an IPv4 or IPv6 address" \
	vip 192.0.2
bad "bad filter: client without an address" \
	"xdp_iptunnel: --trace 'client': needs an IPv4 or IPv6 address" client
bad "bad filter: an unknown word" \
	"xdp_iptunnel: --trace 'host': not a filter: vip ADDR, client ADDR, port N, passed, dropped, sent, limit N, joined by 'and'" \
	host 192.0.2.33
bad "bad filter: a dangling 'and'" \
	"xdp_iptunnel: --trace 'and': not a filter: vip ADDR, client ADDR, port N, passed, dropped, sent, limit N, joined by 'and'" \
	passed and
bad "bad filter: limit 0" \
	"xdp_iptunnel: --trace 'limit 0': not a number 1-1000000" limit 0
bad "no director on the interface" \
	"xdp_iptunnel: -i 't0': no director with a trace runs there ($PINS/trace_ctl: No such file or directory)"

# ---- a director --------------------------------------------------------------
nsenter --net=/run/netns/$D "$top/xdp_iptunnel" -i t0 -a $VIP -P udp -p 5000-5001 -s 192.0.2.10 -d 192.0.2.11 \
	-m "$c_mac" >"$tmp/director.log" 2>&1 &
director_pid=$!
await "director attached" attached "$tmp/director.log"
prog=$(ip -n $D -d link show t0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')

# ---- one line per packet, with why --------------------------------------------
tracer all --trace
udp $VIP 5000
udp $VIP 6000
udp 192.0.2.34 5000
udp $VIP 5001 1460 nodf
udp $VIP 5001 1460 df
sleep 0.5
stop all
t='[0-9:.]* t0 udp'
lines=(
	"$t 198.51.100.7.40001 > $VIP.5000 len 50: sent: tunnelled to a real; vip $VIP udp 5000-5001 id 0; real 0; outer ipv4 192.0.2.10 > 192.0.2.11$"
	"$t 198.51.100.7.40001 > $VIP.6000 len 50: passed: port outside the VIP's ranges$"
	"$t 198.51.100.7 > 192.0.2.34 len 50: passed: not a VIP$"
	"$t 198.51.100.7.40001 > $VIP.5001 len 1502: dropped: too big once tunnelled; vip $VIP udp 5000-5001 id 0; real 0; event too_big$"
	"$t 198.51.100.7.40001 > $VIP.5001 len 1502: sent: too big once tunnelled; vip $VIP udp 5000-5001 id 0; real 0; event too_big$"
)
grep -v '^xdp_iptunnel:' "$tmp/all.out" | grep -v ' ipv6-\| icmp6 \|proto 2 ' |
	grep ' udp ' >"$tmp/all.udp" || true
check "trace: five datagrams, five lines" \
	test "$(wc -l <"$tmp/all.udp")" = 5
for i in 0 1 2 3 4; do
	check "trace: line $((i + 1)) says why" \
		grep -q -e "^${lines[$i]}" "$tmp/all.udp"
done
check "trace: the closing line counts them" \
	grep -q '^xdp_iptunnel: trace stopped: [0-9]* packets traced, 0 not traced (rate limit), 0 lost (ring buffer full)$' \
	"$tmp/all.out"
check "SIGINT: the flag is cleared" test "$(expires)" = 0
check "SIGINT: the director still runs" kill -0 $director_pid
check "SIGINT: the same program is attached" \
	sh -c "ip -n $D -d link show t0 | grep -q 'prog/xdp id $prog '"

# ---- filters chosen in the program ------------------------------------------
send_all() {
	udp $VIP 5000
	udp $VIP 6000
	udp 192.0.2.34 5000
	udp $VIP 5001 1460 nodf
	sleep 0.5
}
# filter NAME WANT-COUNT PATTERN WORDS...: every line matches PATTERN
filter() {
	local name=$1 want=$2 pattern=$3 n
	shift 3
	tracer f --trace "$@"
	send_all
	stop f
	grep -v '^xdp_iptunnel:' "$tmp/f.out" >"$tmp/f.lines" || true
	n=$(wc -l <"$tmp/f.lines")
	if [ "$n" != "$want" ]; then
		not_ok "filter $name" "$n lines, want $want: $(cat "$tmp/f.lines")"
	elif grep -v -q -e "$pattern" "$tmp/f.lines"; then
		not_ok "filter $name" "$(grep -v -e "$pattern" "$tmp/f.lines")"
	else
		ok "filter $name"
	fi
}
filter "vip: the VIP's three" 3 "> $VIP\." vip $VIP
filter "vip and port" 1 "> $VIP\.6000 " vip $VIP and port 6000
# ports are read for a VIP's address only: not the datagram to .34
filter "port: either port" 3 "198.51.100.7.40001 > " port 40001
filter "client" 4 " 198.51.100.7[. ]" client 198.51.100.7
filter "client elsewhere: none" 0 x client 198.51.100.8
filter "passed" 2 ": passed: " client 198.51.100.7 passed
filter "dropped" 1 ": dropped: too big" dropped
filter "sent" 1 ": sent: tunnelled" sent
filter "passed and sent" 3 ": \(passed\|sent\): " client 198.51.100.7 passed sent

# ---- JSON ----------------------------------------------------------------------
tracer j --trace -j vip $VIP and port 5000
udp $VIP 5000
sleep 0.5
stop j
check "-j: a JSON line with the decision" sh -c "head -n 1 '$tmp/j.out' |
	jq -e '.iface == \"t0\" and .src == \"198.51.100.7\" and
	.dst == \"$VIP\" and .protocol == 17 and .sport == 40001 and
	.dport == 5000 and .verdict == \"sent\" and .reason == \"tunnelled\" and
	.vip.id == 0 and .vip.ports == [5000, 5001] and .real == 0 and
	.outer.family == 4 and .outer.src == \"192.0.2.10\" and
	.outer.dst == \"192.0.2.11\"' >/dev/null"
check "-j: the closing line is JSON" sh -c "tail -n 1 '$tmp/j.out' |
	jq -e '.trace_end.traced == 1 and .trace_end.limited == 0' >/dev/null"

# ---- the rate limit ----------------------------------------------------------
# 200 datagrams in well under a second at 10 a second: at most the
# burst (a tenth of a second's, at least one per CPU) and what a second
# adds get through; the rest are counted, and the tracer says so.
tracer r --trace limit 10 vip $VIP
ip netns exec $C /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200):
    s.sendto(b"x", ("192.0.2.33", 5000))
'
sleep 0.3
stop r
n=$(grep -vc '^xdp_iptunnel:' "$tmp/r.out" || true)
lim=$(sed -n 's/.* traced, \([0-9]*\) not traced.*/\1/p' "$tmp/r.out" | tail -n 1)
check "rate limit: 10 a second lets through at most 12 of 200 ($n)" \
	test "$n" -ge 1 -a "$n" -le 12
check "rate limit: the rest counted and reported ($lim)" \
	test "$((n + lim))" = 200

# ---- two tracers -------------------------------------------------------------
tracer one --trace
rc=0
lb -i t0 --trace >/dev/null 2>"$tmp/two.err" || rc=$?
check "a second tracer: exit 1, one line" sh -c "[ $rc = 1 ] &&
	[ \"\$(cat '$tmp/two.err')\" = \"xdp_iptunnel: -i 't0': a trace runs there (or ended without clearing, under 3 s ago)\" ]"
stop one

# ---- SIGKILL: the flag expires ----------------------------------------------
tracer k --trace limit 1
udp $VIP 5000
stop k KILL
exp=$(expires)
check "SIGKILL: the flag stays set, expiring within 3 s" \
	test "$exp" -gt 0 -a "$exp" -le "$(($(mono_ns) + 3000000000))"
sleep 3.2
check "SIGKILL: 3 s later, expired" test "$(expires)" -lt "$(mono_ns)"
before=$(limited)
for _ in 1 2 3; do udp $VIP 5000; done
check "SIGKILL: once expired, the program traces nothing" \
	test "$(limited)" = "$before"
check "SIGKILL: the director still runs" kill -0 $director_pid
tracer after --trace
stop after
check "a tracer starts once the flag expired" \
	grep -q 'trace stopped' "$tmp/after.out"

# ---- the director goes: the tracer ends -------------------------------------
tracer gone --trace
kill -INT $director_pid
wait $director_pid 2>/dev/null || true
await "director gone: the tracer says so" "the director has stopped" \
	"$tmp/gone.err"
wait "$gone_pid" 2>/dev/null || true
check "director gone: nothing left pinned" test ! -e "$PINS"

summary
