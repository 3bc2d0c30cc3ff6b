#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Grace periods of xdp_iptunnel (connections survive changes of the real
# set), seen in the frames the attached program sends (tests/flowpick runs
# it once per flow and names the hint a frame carries): after --update,
# exactly the flows whose real changed name their previous real; two
# directors given the same updates agree on every hint; a second change
# keeps earlier hints and a removed real stays reachable; the running
# director ends the grace period (hints, flags and the kept real go);
# --grace 0 turns it off; a VIP drained to one real hints too; health
# checks; bad values are refused.
#
# Topology, in namespaces made here:
#   xipt-grace-d: ga0 192.0.2.10/24 ---- ga1 (xipt-grace-rs) 192.0.2.11-14
#                 gb0 (no address)  ---- gb1 (xipt-grace-rs)
# Director A runs on ga0, director B on gb0; pins under
# xdp_iptunnel/xipt-grace-d/ in the host's bpffs.

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
lb=$top/xdp_iptunnel
pick=$top/tests/flowpick
D=xipt-grace-d
RS=xipt-grace-rs
PINS=/sys/fs/bpf/xdp_iptunnel/$D
VIP=192.0.2.33
FLOWS=20000
GRACE=6
NETNS="$D $RS"
# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"
# shellcheck source=tests/netns.sh
. "$top/tests/netns.sh"

netns_begin TERM
links ga gb 11 12

# update IFNAME ARGS...: --update the director on IFNAME
update() {
	local dev=$1
	shift
	in_d "$lb" -U -i "$dev" "$@" >/dev/null
}

picks() { in_d "$pick" "$1" $VIP 80 $FLOWS 7; }

# flows BEFORE AFTER: per flow "REAL HINT REAL HINT" before and after
# (HINT "-" when none)
flows() {
	awk '{ r = $5; h = $6 == "hint" ? $7 : "-" }
	     FNR == NR { old[FNR] = r " " h; next }
	     { print old[FNR], r, h }' "$1" "$2"
}

# hints BEFORE AFTER: "moved M hinted H wrong W": flows whose real
# changed, flows with a hint, and hints other than the flow's old real
hints() {
	flows "$1" "$2" | awk '
		$1 != $3 { m++ }
		$4 != "-" { h++ }
		($1 != $3 && $4 != $1) || ($1 == $3 && $4 != "-") { w++ }
		END { printf "moved %d hinted %d wrong %d\n", m, h, w }'
}

# all_hinted "moved M hinted H wrong W" MIN: every moved flow, more than
# MIN, names its previous real, and no other flow names one
all_hinted() {
	local moved hinted wrong

	read -r _ moved _ hinted _ wrong <<<"$1"
	test "$wrong" = 0 -a "$moved" = "$hinted" -a "$moved" -gt "$2"
}

svc="-a $VIP -p 80 -s 192.0.2.10 -m 02:00:00:00:00:01"
three="-d 192.0.2.11 -d 192.0.2.12 -d 192.0.2.13"
four="$three -d 192.0.2.14"

out=$("$lb" -i lo --grace abc $svc $three 2>&1) && rc=0 || rc=$?
check "--grace abc: one line, exit 1" \
	test "$rc:$out" = "1:xdp_iptunnel: --grace 'abc': not a number of seconds 0-86400"
check "--grace 86401: refused" \
	sh -c "! '$lb' -i lo --grace 86401 $svc $three 2>/dev/null"

director a ga0 --grace $GRACE $svc $three
director b gb0 --grace $GRACE $svc $three
picks ga0 >"$tmp/base"
check "no hint before any change" test "$(grep -c hint "$tmp/base")" = 0

# ---- a real added --------------------------------------------------------
update ga0 --grace $GRACE $svc $four
update gb0 --grace $GRACE $svc $four
picks ga0 >"$tmp/added"
picks gb0 >"$tmp/added_b"
r=$(hints "$tmp/base" "$tmp/added")
check "adding a 4th real: every moved flow names its previous real, no other ($r)" \
	all_hinted "$r" $((FLOWS / 5))
check "no flow names the added real" \
	test "$(grep -c 'hint 192.0.2.14' "$tmp/added" || true)" = 0
check "two directors given the same updates agree on every real and hint" \
	cmp "$tmp/added" "$tmp/added_b"
check "the VIP is flagged in the VIP table" \
	sh -c "'$top/tests/vip_table.py' $PINS/ga0 | grep -q ' ring grace$'"
# a director replaced in a grace period (--replace takes its maps over)
old_b=$b_pid
director b gb0 --replace --grace $GRACE $svc $four
wait "$old_b" || true
picks gb0 >"$tmp/replaced_b"
check "--replace in the grace period keeps every hint" \
	cmp "$tmp/added_b" "$tmp/replaced_b"
# a limit: restarted cold, a director has new maps and no previous owners
old_b=$b_pid
director b gb0 --replace=cold --grace $GRACE $svc $four
wait "$old_b" || true
picks gb0 >"$tmp/cold_b"
check "--replace=cold in the grace period: the hints are lost, the reals kept" \
	test "$(grep -c hint "$tmp/cold_b" || true):$(cut -d' ' -f1-5 "$tmp/added_b" | cmp - "$tmp/cold_b" && echo same)" = "0:same"

# ---- a real removed in the grace period ------------------------------------
update ga0 --grace $GRACE $svc -d 192.0.2.11 -d 192.0.2.13 -d 192.0.2.14
picks ga0 >"$tmp/removed"
# flows the removed real held name it; flows the first change moved and
# the second did not keep their hint; a flow moved twice names its last
# real only (hints: the old real, or none)
held_by_removed() {
	flows "$tmp/added" "$tmp/removed" |
		awk '$1 == "192.0.2.12" { n++; if ($4 == "192.0.2.12") k++ }
		     END { print n + 0, k + 0; exit !(n > 0 && n == k) }'
}
kept_hints() {
	flows "$tmp/added" "$tmp/removed" |
		awk '$2 != "-" && $1 == $3 { n++; if ($4 == $2) k++ }
		     END { print n + 0, k + 0; exit !(n > 0 && n == k) }'
}
moved_twice() {
	flows "$tmp/added" "$tmp/removed" |
		awk '$2 != "-" && $1 != $3 { n++; if ($4 == $1) k++ }
		     END { print n + 0, k + 0; exit !(n > 0 && n == k) }'
}
check "the removed real stays reachable: every flow it held names it" \
	held_by_removed
check "flows moved by the first change only keep their hint" kept_hints
check "a flow moved twice names its last real only" moved_twice

# ---- the running director ends the grace period ----------------------------
check "director A ends the grace period itself" \
	sh -c "for i in \$(seq 100); do grep -q 'grace period over' '$tmp/a.log' && exit 0; sleep 0.1; done; exit 1"
picks ga0 >"$tmp/over"
check "no hint once the grace period is over" test "$(grep -c hint "$tmp/over" || true)" = 0
check "the VIP's grace flag is gone" \
	sh -c "! '$top/tests/vip_table.py' $PINS/ga0 | grep -q grace"
check "previous owners are gone" \
	test "$(bpftool -j map dump pinned $PINS/ga0/prev_rings | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0
check "the removed real, kept for the grace period, is gone" \
	test "$(bpftool -j map dump pinned $PINS/ga0/reals | grep -o '"family":2' | wc -l)" = 3
check "every flow still reaches its real" \
	cmp <(cut -d' ' -f1-5 "$tmp/removed") "$tmp/over"

# ---- --grace 0 -------------------------------------------------------------
update ga0 --grace 0 $svc $four
picks ga0 >"$tmp/off"
check "--grace 0: moved flows carry no hint" test "$(grep -c hint "$tmp/off" || true)" = 0
check "--grace 0: the flows did move" \
	test "$(hints "$tmp/over" "$tmp/off" | cut -d' ' -f2)" -gt $((FLOWS / 5))

# ---- drained to a single real ------------------------------------------------
update ga0 --grace 0 $svc -d 192.0.2.11 -d 192.0.2.12
picks ga0 >"$tmp/pair"
update ga0 --grace $GRACE $svc -d 192.0.2.11
picks ga0 >"$tmp/single"
r=$(hints "$tmp/pair" "$tmp/single")
check "one of two reals drained: its flows name it ($r)" \
	all_hinted "$r" $((FLOWS / 3))
check "the one real left takes every flow" \
	test "$(grep -c ' 192.0.2.11 hint\| 192.0.2.11$' "$tmp/single")" = $FLOWS

# ---- health checks ---------------------------------------------------------
http 192.0.2.11
http 192.0.2.12
listening 192.0.2.11
listening 192.0.2.12
two="-d 192.0.2.11 -d 192.0.2.12"
stop a
director a ga0 --grace 30 --check tcp --check-interval 1 --check-fall 2 \
	--check-rise 2 $svc $two
picks ga0 >"$tmp/h_base"
seen=$(wc -l <"$tmp/a.log")
kill -TERM "$http_192_0_2_12"
wait "$http_192_0_2_12" 2>/dev/null || true
await "a real fails its check" "192.0.2.12 port 80 is down" "$tmp/a.log" "$seen"
picks ga0 >"$tmp/h_down"
check "a real that is down is never named: its flows move without a hint" \
	test "$(grep -c hint "$tmp/h_down" || true)" = 0 -a \
	     "$(grep -c ' 192.0.2.12$' "$tmp/h_down" || true)" = 0
seen=$(wc -l <"$tmp/a.log")
http 192.0.2.12
await "the real comes back" "192.0.2.12 port 80 is up" "$tmp/a.log" "$seen"
picks ga0 >"$tmp/h_up"
r=$(hints "$tmp/h_down" "$tmp/h_up")
check "the flows it takes back name the real that held them meanwhile ($r)" \
	all_hinted "$r" $((FLOWS / 3))

summary
