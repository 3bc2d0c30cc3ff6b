#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The loader's command line: every bad input gets one line on stderr
# naming the option and the value, exit status 1, and leaves nothing
# attached or pinned; the ways of stopping leave nothing attached.
#
#   xipt-cli: c0 (192.0.2.10/24) ---- c1 (xipt-cli-peer, 192.0.2.11/24)

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/tap.sh"
NS=xipt-cli
PEER=xipt-cli-peer
PINS=/sys/fs/bpf/xdp_iptunnel/$NS
D=$NS
NETNS="$NS $PEER"
# shellcheck source=tests/netns.sh
. "$top/tests/netns.sh"
netns_begin KILL
ip netns add $NS
ip netns add $PEER
ip -n $NS link add c0 type veth peer name c1 netns $PEER
ip -n $NS addr add 192.0.2.10/24 dev c0
ip -n $PEER addr add 192.0.2.11/24 dev c1
ip -n $NS link set c0 up
ip -n $NS link set lo up
ip -n $PEER link set c1 up
ifindex=$(ip -n $NS -o link show c0 | cut -d: -f1)

# the loader as a user would start it in that namespace
run() { nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" "$@"; }
good="-i c0 -a 192.0.2.33 -p 80-81 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5"
nothing_left() { ! ip -n $NS link show c0 | grep -q " xdp" && [ ! -e "$PINS" ]; }

# bad NAME EXPECTED-STDERR-LINE ARGS...: exit 1, that first line on
# stderr, a single line unless usage follows, nothing attached or pinned
bad() {
	local name=$1 want=$2 rc=0 lines
	shift 2
	run "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	lines=$(grep -vc '^ ' "$tmp/err" || true)
	if [ "$rc" != 1 ]; then
		not_ok "$name" "exit status $rc, want 1"
	elif [ "$(head -n 1 "$tmp/err")" != "$want" ]; then
		not_ok "$name" "stderr '$(head -n 1 "$tmp/err")', want '$want'"
	elif ! grep -q '^usage:' "$tmp/err" && [ "$lines" != 1 ]; then
		not_ok "$name" "$lines lines on stderr, want 1"
	elif ! nothing_left; then
		not_ok "$name" "something is left attached or pinned"
	else
		ok "$name: $want"
	fi
}

# shellcheck disable=SC2086
{
p="xdp_iptunnel: "
bad "invalid VIP" "$p-a '192.0.2.333': not an IPv4 or IPv6 address" \
	-i c0 -a 192.0.2.333 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "invalid tunnel source" "$p-s 'tunnel': not an IPv4 or IPv6 address" \
	$good -s tunnel
bad "invalid real" "$p-d '192.0.2.x': not an IPv4 or IPv6 address" \
	$good -d 192.0.2.x
bad "-s/-d family mismatch" "$p-d '192.0.2.11': not of the same address family as -s" \
	-i c0 -a 192.0.2.33 -p 80 -s 2001:db8::10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "invalid MAC" "$p-m '08:00:27:96:39': not a MAC address xx:xx:xx:xx:xx:xx" \
	$good -m 08:00:27:96:39
bad "invalid MAC digits" "$p-m '08:00:27:96:39:zz': not a MAC address xx:xx:xx:xx:xx:xx" \
	$good -m 08:00:27:96:39:zz
bad "MAC with a space or sign for a digit" "$p-m ' 8:00:27:96:39:-1': not a MAC address xx:xx:xx:xx:xx:xx" \
	$good -m ' 8:00:27:96:39:-1'
for port in 0 65536 http 80x ""; do
	bad "port '$port'" "$p-p '$port': not a port 1-65535 or a range lo-hi" \
		-i c0 -a 192.0.2.33 -p "$port" -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
done
for range in 80- -80 1-65536 0-80 80-90x; do
	bad "port range '$range'" "$p-p '$range': not a port range lo-hi within 1-65535" \
		-i c0 -a 192.0.2.33 -p "$range" -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
done
bad "reversed port range" "$p-p '90-80': reversed port range" \
	-i c0 -a 192.0.2.33 -p 90-80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "overlapping port ranges" "$p-a '192.0.2.33': port ranges overlap" $good -p 81-90
bad "a VIP given twice" "$p-a '192.0.2.33': port ranges overlap" $good -a 192.0.2.33 -p 80
bad "more than 8 ranges on one VIP" "$p-p '8': too many port ranges" \
	$good -p 1 -p 2 -p 3 -p 4 -p 5 -p 6 -p 7 -p 8
bad "more than 8 ranges on one address" \
	"$p-a '192.0.2.33': more than 8 port ranges for this protocol" \
	$good -p 1 -p 2 -p 3 -p 4 -a 192.0.2.33 -p 5 -p 6 -p 7 -p 8
bad "unknown interface name" "$p-i 'nosuch0': no such interface" \
	-i nosuch0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "unknown interface index" "$p-i '999': no such interface" \
	-i 999 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
for proto in 300 -1 tcpx; do
	bad "-P '$proto'" "$p-P '$proto': not an IP protocol number 0-255 or tcp/udp/icmp/icmpv6" \
		$good -P "$proto"
done
for secs in -5 x 1.5; do
	bad "-T '$secs'" "$p-T '$secs': not a number of seconds >= 0" $good -T "$secs"
done
bad "-p with a port-less protocol" "$p-a '192.0.2.33': -p applies to TCP and UDP only, not to this -P" \
	-i c0 -a 192.0.2.33 -P icmp -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "missing -i" "${p}missing -i <ifname|ifindex>" \
	-a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "missing -a" "${p}missing -a <vip-service-address>" \
	-i c0 -p 80 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "missing -p for TCP" "${p}missing -p <vip-service-port> (required for TCP and UDP)" \
	-i c0 -a 192.0.2.33 -s 192.0.2.10 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "missing -s" "${p}missing -s <source-ip>" \
	-i c0 -a 192.0.2.33 -p 80 -d 192.0.2.11 -m 08:00:27:96:39:d5
bad "missing -d" "${p}missing -d <dest-ip>" \
	-i c0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -m 08:00:27:96:39:d5
bad "no -m and no neighbour to ask" "$p-d '192.0.2.99': no MAC known for it or its gateway: give -m" \
	-i c0 -a 192.0.2.33 -p 80 -s 192.0.2.10 -d 192.0.2.99
bad "-S with -N" "$p-N '-S': -S and -N exclude each other" $good -S -N
bad "--flow-src without a length" "$p--flow-src '198.51.100.0': not ADDR/LEN" \
	--flow-src 198.51.100.0 $good
bad "--replace of an unknown kind" "$p--replace 'hot': expected --replace or --replace=cold" \
	$good --replace=hot
bad "--replace with --update" "$p--replace '--update': not together: --replace starts a director" \
	$good --replace -U
bad "--check of an unknown kind" "$p--check 'ftp': expected tcp[:port] or http[:port][/path]" \
	--check ftp $good
# keys the VIP table cannot hold: one slot's VIP_PROBES_MAX (16) are
# taken by 16 others, or more than VIP_ADDR_MAX (16384) of them
same_slot=$("$top/tests/vip_table.py" --same-slot 17)
slot_vips=$(for a in $same_slot; do printf ' -a %s -p 80' "$a"; done)
bad "17 VIPs on one slot of the VIP table" \
	"$p-a '${same_slot##* }': the 16 slots of the VIP table where it would go are taken" \
	-i c0 -s 2001:db8::10 -d 2001:db8::11 -m 08:00:27:96:39:d5 $slot_vips
bad "16,385 VIP addresses" \
	"$p-a '2001:db8:1::4001': more than 16384 VIP addresses and protocols" \
	-i c0 -s 2001:db8::10 -d 2001:db8::11 -m 08:00:27:96:39:d5 \
	$(seq 16385 | awk '{ printf " -a 2001:db8:1::%x -p 80", $1 }')
bad "--update with no director running" \
	"$p-i 'c0': no director runs there ($PINS/c0/vip_tables: No such file or directory)" \
	-U $good
}

# ---- the BPF object ----------------------------------------------------
mkdir "$tmp/bin"
cp "$top/xdp_iptunnel" "$tmp/bin/"
run() { nsenter --net=/run/netns/$NS "$tmp/bin/xdp_iptunnel" "$@"; }
# shellcheck disable=SC2086
bad "missing BPF object" "${p}cannot find the BPF object $tmp/bin/xdp_iptunnel_kern.o" \
	$good
echo "not an ELF file" >"$tmp/bin/xdp_iptunnel_kern.o"
# shellcheck disable=SC2086
bad "corrupt BPF object" \
	"$p$tmp/bin/xdp_iptunnel_kern.o: not a usable BPF object: BPF object format invalid" \
	$good
head -c 400 "$top/xdp_iptunnel_kern.o" >"$tmp/bin/xdp_iptunnel_kern.o"
rc=0
# shellcheck disable=SC2086
run $good >/dev/null 2>"$tmp/err" || rc=$?
check "truncated 400-byte BPF object: exit 1, one line, no crash ($(head -n 1 "$tmp/err"))" \
	test "$rc" = 1 -a "$(wc -l <"$tmp/err")" = 1
cp "$top/xdp_iptunnel_kern.o" "$tmp/bin/"
rc=0
(cd / && nsenter --net=/run/netns/$NS "$tmp/bin/xdp_iptunnel" $good -T 1) \
	>"$tmp/out" 2>&1 || rc=$?
check "started from another directory, it finds the object next to itself" \
	test "$rc" = 0
# shellcheck disable=SC2086
run() { nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" "$@"; }

# ---- privilege ---------------------------------------------------------
rc=0
nsenter --net=/run/netns/$NS setpriv --reuid=65534 --regid=65534 \
	--clear-groups "$top/xdp_iptunnel" $good >"$tmp/out" 2>"$tmp/err" || rc=$?
check "an unprivileged user: exit 1, one clear line, nothing attached or pinned ($(head -n 1 "$tmp/err"))" \
	sh -c "test $rc = 1 && test \$(wc -l <'$tmp/err') = 1 &&
		grep -q 'run as root' '$tmp/err' && ! ip -n $NS link show c0 | grep -q ' xdp' &&
		test ! -e $PINS"

# ---- attaching, and every way of stopping --------------------------------
# start ARGS...: the director in the background, until it says attached
start() {
	# not through run(): $! must be the loader, not a subshell
	nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" "$@" >"$tmp/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q attached "$tmp/log" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# started NAME ARGS...: start, reported as a check (in this shell: $pid)
started() {
	local name=$1
	shift
	if start "$@"; then
		ok "$name"
	else
		not_ok "$name" "$(head -n 3 "$tmp/log")"
	fi
}

finish() {
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	wait "$pid" 2>/dev/null || true
}

# the seed's exact command-line shape, with the interface's index
started "the seed's command line (-i $ifindex -a ... -p 80-81 -s ... -d ... -m ...) attaches" \
	-i "$ifindex" -a 192.0.2.33 -p 80-81 -s 192.0.2.10 -d 192.0.2.11 \
	-m 08:00:27:96:39:d5
# every level of the pin path and every pin: only root may touch them
modes=$(stat -c '%a %n' /sys/fs/bpf/xdp_iptunnel "$PINS" "$PINS/c0" \
	"$PINS"/c0/* 2>&1 | awk '$1 != ($2 ~ /\/c0\// ? 600 : 700)')
check "while running, the pins are root-only: $(find "$PINS/c0" -type f | wc -l) files 0600, their 3 directories 0700${modes:+: $modes}" \
	sh -c "test -z '$modes' && test -e $PINS/c0/vip_tables"
# nobody may stop or change a running director
id=$(ip -n $NS -d link show c0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
vips=$(bpftool map dump pinned "$PINS/c0/vip_tables" | md5sum)
for args in "-i c0 --stop" "-U $good -p 443"; do
	rc=0
	# shellcheck disable=SC2086
	nsenter --net=/run/netns/$NS setpriv --reuid=65534 --regid=65534 \
		--clear-groups "$top/xdp_iptunnel" $args >"$tmp/out" 2>"$tmp/err" || rc=$?
	check "unprivileged ${args%% -a*}: exit $rc, $(head -n 1 "$tmp/err"); the director, its program $id and VIP table unchanged" \
		sh -c "test $rc = 1 && test \$(wc -l <'$tmp/err') = 1 &&
			grep -q 'run as root' '$tmp/err' && kill -0 $pid &&
			ip -n $NS -d link show c0 | grep -q 'prog/xdp id $id ' &&
			test \"\$(bpftool map dump pinned $PINS/c0/vip_tables | md5sum)\" = '$vips'"
done
# the map id of the VIP table the director uses now
table_id() {
	bpftool -j map dump pinned "$PINS/c0/vip_tables" | python3 -c '
import json, sys
value = json.load(sys.stdin)[0]["value"]
print(int.from_bytes(bytes(int(b, 16) for b in value), "little"))'
}
check "bpftool prints the pinned maps and the VIP table with their BTF field names" \
	sh -c "bpftool map dump pinned $PINS/c0/reals | grep -q dmac &&
		bpftool map lookup id $(table_id) key 0 0 0 0 | grep -q port_min"
rc=0
run $good -T 1 >/dev/null 2>"$tmp/err" || rc=$?
check "a second loader on the interface is refused ($(head -n 1 "$tmp/err"))" \
	test "$rc" = 1
check "the first director still runs" kill -0 $pid
kill -INT $pid
finish
check "SIGINT detaches and removes the pins" nothing_left

start $good
kill -TERM $pid
finish
check "SIGTERM detaches and removes the pins" nothing_left

start $good -T 1
finish
check "-T 1 stops by itself, detached, pins removed" nothing_left

start $good
kill -KILL $pid
finish
check "SIGKILL leaves no program attached (bpf_link)" \
	sh -c "! ip -n $NS link show c0 | grep -q ' xdp'"
check "SIGKILL leaves the pins, which the next start removes" test -d "$PINS/c0"
start $good -T 1
finish
check "the next director on the interface removed the stale pins" \
	grep -q "removing stale pins in $PINS/c0" "$tmp/log"
check "and leaves nothing behind itself" nothing_left

# ---- another XDP program on the interface ---------------------------------
ip -n $NS link set dev c0 xdpgeneric obj "$top/lab/xdp_pass_kern.o" \
	sec xdp program xdp_pass
rc=0
run $good -T 1 >/dev/null 2>"$tmp/err" || rc=$?
check "without -F, an interface with an XDP program is refused ($(head -n 1 "$tmp/err"))" \
	sh -c "test $rc = 1 && grep -q 'already attached (-F replaces it)' '$tmp/err'"
started "with -F the netlink-attached program is replaced" $good -F
check "and ours runs" sh -c "ip -n $NS -d link show c0 | grep -q 'name xdp_iptunnel'"
kill -INT $pid
finish
check "after that director stops, nothing is attached" nothing_left

# ---- --keep and --stop ---------------------------------------------------
run $good -K -T 1 >/dev/null 2>&1
check "--keep leaves the program attached after the loader exits" \
	sh -c "ip -n $NS link show c0 | grep -q ' xdp' && test -e $PINS/c0/link"
check "--update reaches a kept director" run -U $good -p 443

# the VIP table as "VIP PROTOCOL PORTS VIP_ID RING" lines (each key where
# the program looks for it), and vip_rings' keys: an update keeps the
# vip_id (and counters) of every range it keeps, gives new ranges ids the
# running table does not use, and removes what it no longer names
vips() {
	"$top/tests/vip_table.py" "$PINS/c0"
	bpftool -j map dump pinned "$PINS/c0/vip_rings" | python3 -c '
import json, sys
ids = sorted(int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
             for e in json.load(sys.stdin))
print("rings:", " ".join(map(str, ids)) or "none")'
}
mac=08:00:27:96:39:d5
run -U -i c0 -s 192.0.2.10 -a 192.0.2.33 -p 80-81 -p 443 -d 192.0.2.11 -m $mac \
	-a 192.0.2.34 -p 22 -d 192.0.2.11,mac=$mac -d 192.0.2.12,mac=$mac >/dev/null
check "--update adds a VIP with a ring, keeps the others' ids" \
	diff -u - <(vips) <<EOF
192.0.2.33 6 443-443 1 -
192.0.2.33 6 80-81 0 -
192.0.2.34 6 22-22 2 ring
rings: 2
EOF
check "the VIP table --update switched in has BTF too" \
	sh -c "bpftool map lookup id $(table_id) key 0 0 0 0 | grep -q port_min"
run -U -i c0 -s 192.0.2.10 -a 192.0.2.33 -p 443 -d 192.0.2.11 -m $mac \
	-a 192.0.2.35 -p 8080 -d 192.0.2.11 -m $mac >/dev/null
check "--update removes a range, a VIP and its ring; a new VIP takes an unused id" \
	diff -u - <(vips) <<EOF
192.0.2.33 6 443-443 1 -
192.0.2.35 6 8080-8080 3 -
rings: none
EOF
slot_vips=$(for a in ${same_slot% *}; do printf ' -a %s -p 80' "$a"; done)
run -U -i c0 -s 2001:db8::10 -d 2001:db8::11 -m $mac $slot_vips >/dev/null
check "--update to 16 VIPs on one slot: each where the program looks for it" \
	sh -c "'$top/tests/vip_table.py' '$PINS/c0' >'$tmp/table' &&
		test \$(grep -c ' 6 80-80 ' '$tmp/table') = 16"
check "--stop detaches it and removes the pins" \
	sh -c "nsenter --net=/run/netns/$NS $top/xdp_iptunnel -i c0 --stop >/dev/null &&
		! ip -n $NS link show c0 | grep -q ' xdp' && test ! -e $PINS"

summary
