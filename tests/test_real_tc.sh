#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# xdp_iptunnel --real --tc, the real server's check at tc ingress: bad
# input (one line, exit 1, nothing attached or pinned), attaching, a
# hinted packet of a connection the real does not know sent on to the
# previous real with the MACs the kernel resolved, and every way of
# stopping, SIGKILL included (a tc filter is no bpf_link).
#
#   xipt-tcreal: r0 (192.0.2.1/24, 2001:db8:7::1/64), the real
#     |
#   xipt-tcreal-peer: p0 (192.0.2.2/24, 2001:db8:7::2/64), the previous
#     real; the frames of the director are sent from there too

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/tap.sh"
NS=xipt-tcreal
PEER=xipt-tcreal-peer
PINS=/sys/fs/bpf/xdp_iptunnel/$NS
D=$NS
NETNS="$NS $PEER"
# shellcheck source=tests/netns.sh
. "$top/tests/netns.sh"
netns_begin KILL
ip netns add $NS
ip netns add $PEER
ip -n $NS link add r0 type veth peer name p0 netns $PEER
ip -n $NS addr add 192.0.2.1/24 dev r0
ip -n $NS addr add 2001:db8:7::1/64 dev r0 nodad
ip -n $PEER addr add 192.0.2.2/24 dev p0
ip -n $PEER addr add 2001:db8:7::2/64 dev p0 nodad
ip -n $NS link set r0 up
ip -n $NS link set lo up
ip -n $PEER link set p0 up
real_mac=$(ip -n $NS -o link show r0 | sed 's/.*ether \([^ ]*\).*/\1/')
peer_mac=$(ip -n $PEER -o link show p0 | sed 's/.*ether \([^ ]*\).*/\1/')

run() { nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" "$@"; }
# our filter on r0's ingress, as tc lists it (the name cut to 15 characters)
filter() {
	tc -n $NS filter show dev r0 ingress 2>/dev/null |
		grep 'pref 65000 bpf .* handle 0x1 .* name xdp_iptunnel_re '
}
nothing_left() { ! filter >/dev/null && [ ! -e "$PINS" ]; }
left() { filter | grep -q 'direct-action' && [ -d "$PINS/r0" ]; }

# bad NAME EXPECTED-STDERR-LINE ARGS...: exit 1, that one line on stderr,
# nothing attached or pinned
bad() {
	local name=$1 want=$2 rc=0
	shift 2
	run "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" != 1 ]; then
		not_ok "$name" "exit status $rc, want 1"
	elif [ "$(cat "$tmp/err")" != "$want" ]; then
		not_ok "$name" "stderr '$(head -n 3 "$tmp/err")', want '$want'"
	elif ! nothing_left; then
		not_ok "$name" "something is left attached or pinned"
	else
		ok "$name: $want"
	fi
}

p="xdp_iptunnel: "
bad "--tc without --real" "$p--tc: only with --real" -i r0 --tc
bad "--tc with --update" "$p--tc: only with --real" \
	-U -i r0 --tc -a 192.0.2.33 -p 80 -s 192.0.2.1 -d 192.0.2.2 -m "$peer_mac"
bad "--tc with generic XDP" "$p-S '--tc': an XDP mode: the tc program has none" \
	--real --tc -S -i r0
bad "--tc with native XDP" "$p-N '--tc': an XDP mode: the tc program has none" \
	--real --tc -N -i r0
bad "--tc with -F" "$p-F '--tc': replaces XDP programs only (--stop removes a tc one)" \
	--real --tc -F -i r0
bad "--real --tc with a VIP" "$p--real '-a': takes no VIP" \
	--real --tc -i r0 -a 192.0.2.33
bad "--real --tc on an unknown interface" "$p-i 'nosuch0': no such interface" \
	--real --tc -i nosuch0

# start ARGS...: the loader in the background, until it says attached
start() {
	nsenter --net=/run/netns/$NS "$top/xdp_iptunnel" "$@" >"$tmp/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q attached "$tmp/log" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

finish() {
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	wait "$pid" 2>/dev/null || true
}

# The Python both frame builders below start with: a checksum, and the
# inner IPv4 segment 198.51.100.7:40000 -> 192.0.2.33:9 with TCP flags
frames_py=$(cat <<'EOF'
import socket, struct, sys, time
mac = lambda s: bytes.fromhex(s.replace(":", ""))

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

src, dst = socket.inet_aton("198.51.100.7"), socket.inet_aton("192.0.2.33")

def segment(tcpflags):
    tcp = struct.pack("!HHIIBBHHH", 40000, 9, 1, 1, 5 << 4, tcpflags, 65535,
                      0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack(
        "!HH", 6, 20) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 63, 6, 0, src,
                     dst)
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + tcp
EOF
)

# exchange OUTER PREV FLAGS TCPFLAGS: from p0, the director's frame to
# the real (outer OUTER family, hint PREV with FLAGS, an inner TCP segment
# with TCPFLAGS to a port nothing listens on); prints the first frame
# back on p0 that is tunnelled to PREV, in hex, or "none" after 2 s
exchange() {
	{
		echo "$frames_py"
		cat <<'EOF'
outer, prev, flags, tcpflags, real_mac, peer_mac = sys.argv[1:]
inner = segment(int(tcpflags, 0))
if outer == "4":
    opt = struct.pack("!BBBB4s", 0x9e, 8, int(flags, 0), 0,
                      socket.inet_aton(prev))
    hdr = struct.pack("!BBHHHBBH4s4s", 0x47, 0, 28 + len(inner), 0, 0x4000,
                      64, 4, 0, socket.inet_aton("192.0.2.10"),
                      socket.inet_aton("192.0.2.1")) + opt
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    ethertype = 0x0800
else:
    a6 = lambda s: socket.inet_pton(socket.AF_INET6, s)
    opt = struct.pack("!BBBBBB16sBB", 4, 2, 0x3e, 18, int(flags, 0), 0,
                      a6(prev), 1, 0)
    hdr = struct.pack("!IHBB16s16s", 6 << 28, 24 + len(inner), 60, 64,
                      a6("2001:db8:7::10"), a6("2001:db8:7::1")) + opt
    ethertype = 0x86dd
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("p0", 0))
s.settimeout(0.2)
s.send(mac(real_mac) + mac(peer_mac) + struct.pack("!H", ethertype) +
       hdr + inner)
end = time.time() + 2
while time.time() < end:
    try:
        f, addr = s.recvfrom(2048)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    to = f[30:34] if outer == "4" else f[38:54]
    if f[12:14] == struct.pack("!H", ethertype) and \
       to == (socket.inet_aton(prev) if outer == "4" else a6(prev)):
        print(f.hex())
        sys.exit(0)
print("none")
EOF
	} | nsenter --net=/run/netns/$PEER python3 - "$@" "$real_mac" "$peer_mac"
}

# want OUTER PREV: the frame exchange must get back, built here: from the
# real's MAC to the previous real's, the outer destination PREV, TTL or
# hop limit 63, the IPv4 header checksum again, the hint marked used
want() {
	{
		echo "$frames_py"
		cat <<'EOF'
outer, prev, real_mac, peer_mac = sys.argv[1:]
inner = segment(0x10)
if outer == "4":
    hdr = struct.pack("!BBHHHBBH4s4sBBBB4s", 0x47, 0, 68, 0, 0x4000, 63, 4,
                      0, socket.inet_aton("192.0.2.10"),
                      socket.inet_aton(prev), 0x9e, 8, 1, 0,
                      socket.inet_aton(prev))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    ethertype = 0x0800
else:
    a6 = lambda s: socket.inet_pton(socket.AF_INET6, s)
    hdr = struct.pack("!IHBB16s16sBBBBBB16sBB", 6 << 28, 64, 60, 63,
                      a6("2001:db8:7::10"), a6(prev), 4, 2, 0x3e, 18, 1, 0,
                      a6(prev), 1, 0)
    ethertype = 0x86dd
print((mac(peer_mac) + mac(real_mac) + struct.pack("!H", ethertype) + hdr +
       inner).hex())
EOF
	} | nsenter --net=/run/netns/$PEER python3 - "$@" "$real_mac" "$peer_mac"
}

# same GOT WANT: equal, or both shown
same() {
	[ "$1" = "$2" ] && return 0
	echo "got $1"
	echo "want $2"
	return 1
}

start --real --tc -i r0 || true
check "--real --tc -i r0 attaches at tc ingress ($(grep attached "$tmp/log"))" \
	left
check "it found the host's addresses" \
	sh -c "grep -q 'tunnels to 192.0.2.1 (r0) end here' '$tmp/log' &&
		grep -q 'tunnels to 2001:db8:7::1 (r0) end here' '$tmp/log'"
rc=0
run --real --tc -i r0 -T 1 >/dev/null 2>"$tmp/err" || rc=$?
check "a second loader on the interface is refused ($(head -n 1 "$tmp/err"))" \
	sh -c "test $rc = 1 && kill -0 $pid"
check "the first still runs, attached" left

got=$(exchange 4 192.0.2.2 0 0x10)
check "a hinted ACK the real does not know, IPIP: sent on to 192.0.2.2, MACs from ARP, byte for byte" \
	same "$got" "$(want 4 192.0.2.2)"
got=$(exchange 6 2001:db8:7::2 0 0x10)
check "the same in an IPv6 outer header (4in6): MACs from ND, byte for byte" \
	same "$got" "$(want 6 2001:db8:7::2)"
check "a used hint is not sent on" \
	same "$(exchange 4 192.0.2.2 1 0x10)" none
check "nor a hinted SYN" same "$(exchange 4 192.0.2.2 0 0x02)" none
kill -INT $pid
finish
check "SIGINT: the last statistics count them: $(grep '^real:' "$tmp/log" | tail -n 1)" \
	sh -c "grep '^real:' '$tmp/log' | tail -n 1 |
		grep -q 'plain 0 (+[0-9]*) syn 1 (+[0-9]*) known 0 (+[0-9]*) cookie 0 (+[0-9]*) last_resort 1 (+[0-9]*) forwarded 2 (+[0-9]*)$'"
check "SIGINT detaches the filter and removes the pins" nothing_left

start --real --tc -i r0 || true
kill -KILL $pid
finish 2>/dev/null
check "SIGKILL leaves the filter attached (no bpf_link) and the pins" left
start --real --tc -i r0 -T 1 || true
finish
check "the next start removes them" \
	sh -c "grep -q 'removing stale pins in $PINS/r0' '$tmp/log' &&
		grep -q 'removed a stale tc program from r0' '$tmp/log'"
check "-T 1 stops by itself, nothing left" nothing_left

run --real --tc -i r0 -K -T 1 >/dev/null 2>&1 || true
check "--keep leaves the filter and the pins" left
check "--stop removes both" \
	sh -c "nsenter --net=/run/netns/$NS '$top/xdp_iptunnel' -i r0 --stop >/dev/null &&
		test -z \"\$(tc -n $NS filter show dev r0 ingress)\" &&
		test ! -e $PINS"
start --real --tc -i r0 || true
kill -KILL $pid
finish 2>/dev/null
rm -rf "$PINS"
check "--stop removes a killed loader's filter whose pins are gone" \
	sh -c "nsenter --net=/run/netns/$NS '$top/xdp_iptunnel' -i r0 --stop >/dev/null &&
		test -z \"\$(tc -n $NS filter show dev r0 ingress)\""

summary
