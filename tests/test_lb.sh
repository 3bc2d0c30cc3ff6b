#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Load-balancer properties of xdp_iptunnel, measured on many synthetic
# flows (tests/flowpick runs the attached program once per flow):
# consistency, two directors agree, Maglev disruption on removal, weights,
# per-flow outer source, MAC resolution, live updates under traffic,
# health checks, statistics.
#
# Topology, all in namespaces made here:
#   xipt-lbt-d:  va0 192.0.2.10/24 ---- va1 (xipt-lbt-rs) 192.0.2.11-14/24
#                vb0 (no address)  ---- vb1 (xipt-lbt-rs, down the line)
# Director A runs on va0, director B on vb0, both with pins in the host's
# bpffs under xdp_iptunnel/$D/ (nsenter --net keeps our mount namespace).

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
lb=$top/xdp_iptunnel
pick=$top/tests/flowpick
D=xipt-lbt-d
RS=xipt-lbt-rs
VIP=192.0.2.33
FLOWS=100000
NETNS="$D $RS"
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
# shellcheck source=tests/netns.sh
. "$top/tests/netns.sh"

setup() {
	netns_begin TERM
	links va vb 11 12 13 14
	ip -n $D route add 198.51.100.0/24 via 192.0.2.11
}

# which real: the hints of moved flows (on by default) are test_grace.sh's
picks() { in_d "$pick" "$@" | sed 's/ hint [^ ]*//g'; }

# share FILE REAL: percentage of flows tunnelled to REAL
share() {
	awk -v r="$2" '$3 == "TX" && $5 == r { n++ } END { printf "%.2f", 100 * n / NR }' "$1"
}

# moved BASE NEW EXCEPT: % of flows not on EXCEPT in BASE whose real changed
moved() {
	paste -d' ' "$1" "$2" | awk -v x="$3" '
		$5 != x { n++; if ($5 != $10) m++ }
		END { printf "%.3f", 100 * m / n }'
}

within() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { exit !(a - b <= d && b - a <= d) }'; }

reals4="-d 192.0.2.11 -d 192.0.2.12 -d 192.0.2.13 -d 192.0.2.14"
mac="-m 02:00:00:00:00:01"

setup

# ---- consistency and agreement ----------------------------------------
director a va0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4
director b vb0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4
picks va0 $VIP 80 $FLOWS 7 >"$tmp/base"
picks va0 $VIP 80 $FLOWS 7 >"$tmp/again"
picks vb0 $VIP 80 $FLOWS 7 >"$tmp/other"
check "all $FLOWS flows tunnelled" \
	test "$(grep -c ' TX 192.0.2.10 192.0.2.1[1-4]$' "$tmp/base")" = $FLOWS
check "every packet of a flow goes to the same real" cmp "$tmp/base" "$tmp/again"
check "two directors with the same configuration agree on every flow" \
	cmp "$tmp/base" "$tmp/other"
for r in 11 12 13 14; do
	s=$(share "$tmp/base" 192.0.2.$r)
	check "4 equal reals: 192.0.2.$r gets 25% +-1 ($s%)" within "$s" 25 1
done

# ---- removal and return (Maglev disruption) ----------------------------
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac \
	-d 192.0.2.11 -d 192.0.2.12 -d 192.0.2.13 >/dev/null
picks va0 $VIP 80 $FLOWS 7 >"$tmp/removed"
check "removed real 192.0.2.14 gets no flow" \
	test "$(share "$tmp/removed" 192.0.2.14)" = 0.00
m=$(moved "$tmp/base" "$tmp/removed" 192.0.2.14)
check "removing 1 of 4 reals moves $m% of the other reals' flows (<= 5%)" \
	within "$m" 0 5
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4 >/dev/null
picks va0 $VIP 80 $FLOWS 7 >"$tmp/back"
check "adding the real back restores every flow's real" cmp "$tmp/base" "$tmp/back"

# ---- weights -----------------------------------------------------------
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac -d 192.0.2.11,weight=1 \
	-d 192.0.2.12,weight=2 -d 192.0.2.13,weight=3 -d 192.0.2.14,weight=4 \
	>/dev/null
picks va0 $VIP 80 $FLOWS 7 >"$tmp/weighted"
for r in 11 12 13 14; do
	want=$(((r - 10) * 10))
	s=$(share "$tmp/weighted" 192.0.2.$r)
	check "weight $((r - 10)) of 10: 192.0.2.$r gets $want% +-1 ($s%)" \
		within "$s" $want 1
done
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac -d 192.0.2.11,weight=0 \
	-d 192.0.2.12 >/dev/null
picks va0 $VIP 80 1000 7 >"$tmp/w0"
check "weight 0 takes a real out: all flows on 192.0.2.12" \
	test "$(share "$tmp/w0" 192.0.2.12)" = 100.00

# ---- live updates under traffic ---------------------------------------
# Each packet must go to its real under the old table or the new one:
# never dropped, passed, or sent by a half-written table.
three="-d 192.0.2.11 -d 192.0.2.12 -d 192.0.2.13"
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4 >/dev/null
picks va0 $VIP 80 20000 9 >"$tmp/live_old"
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $three >/dev/null
picks va0 $VIP 80 20000 9 >"$tmp/live_new"
in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4 >/dev/null
picks -r 40 va0 $VIP 80 20000 9 >"$tmp/live" &
live=$!
sleep 0.2
for _ in 1 2 3 4 5; do
	in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $three >/dev/null
	in_d "$lb" -U -i va0 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4 >/dev/null
done
wait $live
# changed lines: CLIENT SPORT TX SRC A -> TX SRC B; A and B must each be
# the flow's real in the old table or in the new one
awk 'FILENAME == ARGV[1] { old[$1 " " $2] = $5; next }
     FILENAME == ARGV[2] { new[$1 " " $2] = $5; next }
     $1 == "rounds" { next }
     { k = $1 " " $2 }
     ($5 != old[k] && $5 != new[k]) || ($9 != old[k] && $9 != new[k])' \
	"$tmp/live_old" "$tmp/live_new" "$tmp/live" >"$tmp/lost"
moved=$(grep -vc '^rounds' "$tmp/live" || true)
check "10 live updates during $(tail -n 1 "$tmp/live" | cut -d' ' -f1-2) x 20000 flows: $moved moves, each between the old and the new table's real" \
	test ! -s "$tmp/lost"
check "live updates: no packet dropped or passed" \
	test "$(grep -c -e PASS -e DROP -e ABORTED "$tmp/live")" = 0

# ---- outer source per flow (RSS on the real servers) -------------------
stop b
director b vb0 --flow-src 198.51.100.0/24 -a $VIP -p 80 -s 192.0.2.10 $mac $reals4
picks vb0 $VIP 80 10000 3 >"$tmp/src1"
picks vb0 $VIP 80 10000 3 >"$tmp/src2"
check "per-flow outer source is stable for a flow" cmp "$tmp/src1" "$tmp/src2"
check "per-flow outer sources stay inside 198.51.100.0/24" \
	test "$(grep -c ' TX 198\.51\.100\.[0-9]* 192\.0\.2\.1[1-4]$' "$tmp/src1")" = 10000
n=$(awk '{ print $4 }' "$tmp/src1" | sort -u | wc -l)
check "per-flow outer sources spread: $n of 256 addresses used by 10000 flows" \
	test "$n" -ge 250
check "per-flow outer source does not change the real picked" \
	cmp <(awk '{ print $1, $2, $5 }' "$tmp/base" | head -n 10000) \
	    <(picks va0 $VIP 80 10000 7 | awk '{ print $1, $2, $5 }')
stop b

# ---- MAC of the real or of its gateway from the kernel's tables --------
stop a
va1_mac=$(ip -n $RS -br link show va1 | awk '{ print $3 }')
director a va0 -a $VIP -p 80 -s 192.0.2.10 -d 192.0.2.11 -d 198.51.100.7
check "-m left out: the real's MAC from the neighbour table" \
	grep -q "192.0.2.11: MAC $va1_mac of neighbour 192.0.2.11 on va0" "$tmp/a.log"
check "-m left out: the gateway's MAC for a routed real" \
	grep -q "198.51.100.7: MAC $va1_mac of gateway 192.0.2.11 on va0" "$tmp/a.log"
stop a

# ---- health checks -----------------------------------------------------
http 192.0.2.11
http 192.0.2.12
listening 192.0.2.11
listening 192.0.2.12
# TCP checks: the kernel completes the handshake even when the single-
# threaded python server is busy (HTTP checks run against nginx in
# tests/e2e/test_lb_lab.sh)
director a va0 --check tcp --check-interval 1 --check-fall 2 --check-rise 2 \
	-a $VIP -p 80 -s 192.0.2.10 $mac -d 192.0.2.11 -d 192.0.2.12
picks va0 $VIP 80 10000 5 >"$tmp/h_base"
seen=$(wc -l <"$tmp/a.log")
kill -TERM "$http_192_0_2_12"
wait "$http_192_0_2_12" 2>/dev/null || true
await "a real whose TCP check fails is logged down" \
	"real 192.0.2.12 port 80 is down" "$tmp/a.log" "$seen"
picks va0 $VIP 80 10000 5 >"$tmp/h_down"
check "the failed real gets no flow" test "$(share "$tmp/h_down" 192.0.2.12)" = 0.00
seen=$(wc -l <"$tmp/a.log")
http 192.0.2.12
await "a recovered real is logged up" "real 192.0.2.12 port 80 is up" \
	"$tmp/a.log" "$seen"
picks va0 $VIP 80 10000 5 >"$tmp/h_up"
check "a recovered real gets its flows back" cmp "$tmp/h_base" "$tmp/h_up"
stop a

# ---- statistics --------------------------------------------------------
director a va0 -j -s 192.0.2.10 $mac -d 192.0.2.11 -d 192.0.2.12 \
	-a $VIP -p 80 -a 2001:db8::33 -p 443
picks va0 $VIP 80 3000 1 >/dev/null
picks va0 2001:db8::33 443 1000 1 >/dev/null
# a VIP added after the first statistics: they read the new VIP table
await "JSON stats: a first line" '^{' "$tmp/a.log"
in_d "$lb" -U -i va0 -s 192.0.2.10 $mac -d 192.0.2.11 -d 192.0.2.12 \
	-a $VIP -p 80 -a 2001:db8::33 -p 443 -a 2001:db8::34 -p 8080 >/dev/null
picks va0 2001:db8::34 8080 500 1 >/dev/null
sleep 2.2
stop a
last=$(grep '^{' "$tmp/a.log" | tail -n 1)
stat() {
	echo "$last" | tr '{' '\n' | grep "\"name\":\"$1\"" |
		sed 's/.*"packets":\([0-9]*\).*/\1/'
}
check "JSON stats: VIP $VIP:80 counted 3000 packets" test "$(stat "$VIP:80-80/6")" = 3000
check "JSON stats: VIP [2001:db8::33]:443 counted 1000 packets" \
	test "$(stat "\\[2001:db8::33\\]:443-443/6")" = 1000
r11=$(stat "192.0.2.10->192.0.2.11")
r12=$(stat "192.0.2.10->192.0.2.12")
check "JSON stats: VIP [2001:db8::34]:8080, added by --update, counted 500 packets" \
	test "$(stat "\\[2001:db8::34\\]:8080-8080/6")" = 500
check "JSON stats: per-real packets add up to 4500 ($r11 + $r12)" \
	test $((r11 + r12)) = 4500
check "JSON stats: per-protocol view counts 4500 TCP packets" \
	test "$(stat 6)" = 4500

summary
