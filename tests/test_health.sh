#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Without -m, the MACs of 300 reals not yet in the neighbour table are
# resolved together: the director attaches within 3 s (one at a time,
# 50 ms each at least, took 17 s), each real's MAC reported.
#
# Health checks at scale: a director with 1,000 IPv6 reals, HTTP checks
# every 2 s, a fall count of 3. Of the reals 920 answer at once, 30
# answer after 0.5 s, 25 refuse the connection and 25 are silent (no
# host answers neighbour discovery for them). Checked:
#   - every refusing and every silent real is logged down, with its
#     reason, within the fall count's intervals (3 rounds: 2 x 2 s, plus
#     the last probe's 1 s and 1 s to spare);
#   - no answering real, slow or not, is logged down;
#   - the statistics line keeps its 2 s period meanwhile;
#   - SIGINT while probes are in flight ends the director within 200 ms.
# The loader is the one built in this tree (make); it needs root.
#
#   xipt-health-PID: d0 2001:db8:ffff::10/64 -- r0 (xipt-health-PID-r)
#       2001:db8:ffff::11/64, 2001:db8:1::1-3cf/128 (1-975: the reals
#       that answer or refuse; 976-1000 are nowhere)

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
lb=$top/xdp_iptunnel
NS=xipt-health-$$
RS=xipt-health-$$-r
PIN_ROOT=/sys/fs/bpf/xdp_iptunnel
tmp=$(mktemp -d)
FAST=920 SLOW=30 REFUSED=25 SILENT=25
INTERVAL=2 FALL=3
pid=

cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null
	[ -z "${server:-}" ] || kill -KILL "$server" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$RS" 2>/dev/null
	[ -n "${XIPT_KEEP:-}" ] || rm -rf "$tmp"; rm -rf "${PIN_ROOT:?}/$NS"
	rmdir "$PIN_ROOT" 2>/dev/null
	true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

real() { printf '2001:db8:1::%x' "$1"; }

ip netns add "$NS"
ip netns add "$RS"
ip -n "$NS" link add d0 type veth peer name r0 netns "$RS"
ip -n "$NS" addr add 2001:db8:ffff::10/64 dev d0 nodad
ip -n "$RS" addr add 2001:db8:ffff::11/64 dev r0 nodad
ip -n "$NS" link set lo up
ip -n "$NS" link set d0 up
ip -n "$RS" link set lo up
ip -n "$RS" link set r0 up
# the reals are on the link: neighbour discovery finds those r0 holds
ip -n "$NS" route add 2001:db8:1::/64 dev d0
n_held=$((FAST + SLOW + REFUSED))
for i in $(seq "$n_held"); do
	echo "addr add $(real "$i")/128 dev r0 nodad"
done | ip -n "$RS" -batch -

# One HTTP server for the answering reals; the slow ones wait 0.5 s.
cat >"$tmp/server.py" <<'EOF'
import asyncio, sys

fast, slow = int(sys.argv[1]), int(sys.argv[2])

async def serve(reader, writer, delay):
    await reader.read(512)
    if delay:
        await asyncio.sleep(delay)
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()

async def main():
    for i in range(1, fast + slow + 1):
        delay = 0.5 if i > fast else 0
        await asyncio.start_server(
            lambda r, w, d=delay: serve(r, w, d), "2001:db8:1::%x" % i, 80,
            backlog=64)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
EOF
ip netns exec "$RS" python3 "$tmp/server.py" $FAST $SLOW >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 200); do
	grep -q ready "$tmp/server.log" && break
	sleep 0.1
done
check "the $((FAST + SLOW)) answering reals listen" grep -q ready "$tmp/server.log"

# Every line of the director's output, after its arrival time in seconds.
cat >"$tmp/stamp.py" <<'EOF'
import sys, time
for line in sys.stdin:
    sys.stdout.write("%.3f %s" % (time.time(), line))
    sys.stdout.flush()
EOF

# ---- the MACs of 300 reals, asked together --------------------------------
RESOLVE=300
rmac=$(ip netns exec "$RS" cat /sys/class/net/r0/address)
reals=""
: >"$tmp/want"
for i in $(seq $RESOLVE); do
	reals="$reals -d $(real "$i")"
	echo "-d $(real "$i"): MAC $rmac of neighbour $(real "$i") on d0" >>"$tmp/want"
done
started=$EPOCHREALTIME
# shellcheck disable=SC2086
nsenter --net="/run/netns/$NS" "$lb" -i d0 -S -T 1 -a 2001:db8:ffff::33 \
	-p 80 -s 2001:db8:ffff::10 $reals \
	> >(python3 "$tmp/stamp.py" >"$tmp/resolve.log") 2>&1
at=$(sed -n 's/^\([0-9.]*\) .* attached.*/\1/p' "$tmp/resolve.log")
took=$([ -z "$at" ] || printf '%.2f' "$(echo "$at - $started" | bc)")
sed -n 's/^[0-9.]* xdp_iptunnel: \(-d .*\)/\1/p' "$tmp/resolve.log" |
	sort >"$tmp/got"
sort -o "$tmp/want" "$tmp/want"
check "without -m, the $RESOLVE reals' MACs come from the neighbour table" \
	diff "$tmp/want" "$tmp/got"
check "resolved together: attached ${took:-never}s after starting (at most 3)" \
	sh -c "[ -n '$took' ] && echo '$took <= 3' | bc | grep -qx 1"

# ---- 1,000 reals health-checked ------------------------------------------
reals=""
for i in $(seq $((n_held + SILENT))); do
	reals="$reals -d $(real "$i")"
done
# shellcheck disable=SC2086
nsenter --net="/run/netns/$NS" "$lb" -i d0 -S -j -a 2001:db8:ffff::33 -p 80 \
	-s 2001:db8:ffff::10 -m 02:00:00:00:00:01 $reals --check http \
	--check-interval $INTERVAL --check-fall $FALL \
	> >(python3 "$tmp/stamp.py" >"$tmp/log") 2>&1 &
pid=$!
for _ in $(seq 100); do
	grep -q " attached" "$tmp/log" 2>/dev/null && break
	sleep 0.1
done
check "the director attaches with 1,000 reals and --check http" \
	grep -q " attached" "$tmp/log"
attached=$(sed -n 's/^\([0-9.]*\) .* attached.*/\1/p' "$tmp/log")
# the first round starts at once: the last of FALL failures comes after
# FALL - 1 intervals and one probe's time (1 s); 1 s more to spare
bound=$(((FALL - 1) * INTERVAL + 2))
sleep "$bound"
sleep 0.5

down=$(grep -c " is down" "$tmp/log")
want=""
for i in $(seq $((FAST + SLOW + 1)) "$n_held"); do
	want="$want$(real "$i") port 80 is down: Connection refused\n"
done
for i in $(seq $((n_held + 1)) $((n_held + SILENT))); do
	want="$want$(real "$i") port 80 is down: Connection timed out\n"
done
printf "%b" "$want" | sort >"$tmp/want"
sed -n 's/^[0-9.]* xdp_iptunnel: real //p' "$tmp/log" | sort >"$tmp/got"
check "the $REFUSED refusing and $SILENT silent reals, and no other, are logged down with their reason ($down lines)" \
	diff "$tmp/want" "$tmp/got"
last=$(sed -n 's/^\([0-9.]*\) xdp_iptunnel: real .* is down.*/\1/p' "$tmp/log" |
	sort -n | tail -n 1)
check "all of them within the fall count's $FALL rounds: the last ${last:+$(echo "$last - $attached" | bc) s} after attaching (at most $bound s)" \
	sh -c "[ -n '$last' ] && echo '$last - $attached <= $bound' | bc | grep -qx 1"

# the statistics' period, over the rounds above and three more
sleep $((3 * INTERVAL))
grep '^[0-9.]* {' "$tmp/log" | cut -d' ' -f1 >"$tmp/ticks"
gaps=$(awk 'NR > 1 { printf "%.2f ", $1 - prev } { prev = $1 }' "$tmp/ticks")
check "the statistics line keeps its 2 s period while probing (gaps: $gaps)" \
	awk 'NR > 1 { d = $1 - prev; if (d < 1.8 || d > 2.2) bad = 1 }
	     { prev = $1 } END { exit bad || NR < 5 }' "$tmp/ticks"

# SIGINT 0.3 s after a statistics line: a round began with it, and its
# silent reals' probes are out for another 0.7 s
seen=$(wc -l <"$tmp/ticks")
for _ in $(seq 30); do
	[ "$(grep -c '^[0-9.]* {' "$tmp/log")" -gt "$seen" ] && break
	sleep 0.1
done
sleep 0.3
sent=$EPOCHREALTIME
kill -INT "$pid"
wait "$pid"
rc=$?
ended=$EPOCHREALTIME
pid=
ms=$(echo "($ended - $sent) * 1000 / 1" | bc)
check "SIGINT with probes in flight: exit 0 after $ms ms (at most 200)" \
	test "$rc" = 0 -a "$ms" -le 200
sleep 0.2
check "it detached and removed its pins" \
	sh -c "grep -q 'detached from d0' '$tmp/log' &&
		! ip -n '$NS' link show d0 | grep -q xdp &&
		test ! -e '$PIN_ROOT/$NS/d0'"

summary
