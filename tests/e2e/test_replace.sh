#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Restarting and upgrading a director in the lab (lab/lib.sh) with
# --replace: slow downloads through the VIP while the director is
# replaced several times, also after its loader (started with -K) was
# killed with SIGKILL; none may break, and the director's own stack, which
# holds the VIP, must never answer (no RST from it in a capture). The
# counters carry on across a replacement. An object whose maps changed is
# refused with the running director untouched, and --replace=cold then
# restarts it. First the baseline: stop and start breaks the downloads.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/lab/lib.sh"
. "$top/tests/tap.sh"

PINS=/sys/fs/bpf/xdp_iptunnel/xipt-lb/eth0
NDOWN=30		# downloads per round
FIRST=42000		# their client ports
variants=$(mktemp -d)

cleanup() {
	local f
	for f in "$LAB_RUN"/loader-*.pid "$LAB_RUN"/down-*.pid; do
		[ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
	done
	# lab_down first: it stops the real servers' loaders, our jobs too
	lab_down
	wait 2>/dev/null || true
	rm -rf "$PINS" "$variants"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

director_args() {
	echo -i eth0 -a "$VIP4" -p 80 -s "$(host4 lb)" \
		-d "$(host4 rs1),mac=$(host_mac rs1)" \
		-d "$(host4 rs2),mac=$(host_mac rs2)"
}

# loader NAME [LOADER] ARGS...: start a loader on the director in the
# background, its output in $LAB_RUN/NAME.log; returns once it says
# "attached" (or when it has exited)
loader() {
	local name=$1 bin=$LAB_LOADER i
	shift
	case ${1:-} in /*) bin=$1; shift ;; esac
	: >"$LAB_RUN/$name.log"
	# shellcheck disable=SC2046
	nsenter --net=/run/netns/xipt-lb "$bin" $(director_args) "$@" \
		>"$LAB_RUN/$name.log" 2>&1 &
	echo $! >"$LAB_RUN/loader-$name.pid"
	for i in $(seq 200); do
		grep -q attached "$LAB_RUN/$name.log" && return 0
		alive "$(cat "$LAB_RUN/loader-$name.pid")" || return 1
		sleep 0.05
	done
	return 1
}

# ended NAME [SIGNAL]: wait for the loader to exit (after SIGNAL, if
# given); its exit status, "running" if it had not within 5 s, in
# $LAB_RUN/NAME.rc. In this shell: only it can wait for its children.
ended() { stop_process "$LAB_RUN/loader-$1.pid" "${2:-0}" >"$LAB_RUN/$1.rc"; }
status() { cat "$LAB_RUN/$1.rc"; }

prog_id() {
	ip -n xipt-lb -d link show eth0 |
		sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'
}

# the ids of the pinned maps, "name:id" sorted
map_ids() {
	local f
	for f in "$PINS"/*; do
		[ "${f##*/}" = link ] && continue
		echo "${f##*/}:$(bpftool map show pinned "$f" | cut -d: -f1 | head -n 1)"
	done
}

# whether the director's program uses every pinned map
uses_pins() {
	local used
	used=$(bpftool prog show id "$(prog_id)" | sed -n 's/.*map_ids \([0-9,]*\).*/\1/p' | tr , ' ')
	map_ids | while IFS=: read -r name id; do
		case " $used " in *" $id "*) ;; *) echo "$name:$id unused"; exit 1 ;; esac
	done
}

# packets counted for the VIP (vip_id 0), over all CPUs
vip_packets() {
	bpftool -j map lookup pinned "$PINS/vip_stats" key 0 0 0 0 |
		grep -o '"packets":[0-9]*' | awk -F: '{ n += $2 } END { print n + 0 }'
}

# how many downloads ended: each curl writes its time then
finished() { if [ -e "$LAB_RUN/times" ]; then wc -l <"$LAB_RUN/times"; else echo 0; fi; }

# downloads start: NDOWN slow downloads of $LAB_RUN/big through the VIP;
# downloads wait: the number of them that did not complete intact in
# $LAB_RUN/broken
downloads() {
	local i port n=0
	for i in $(seq 1200); do
		[ "$1" = start ] || [ "$(finished)" -ge "$NDOWN" ] && break
		sleep 0.1
	done
	for i in $(seq 0 $((NDOWN - 1))); do
		port=$((FIRST + i))
		if [ "$1" = start ]; then
			in_ns client curl -s --max-time 60 --local-port "$port" \
				-o "$LAB_RUN/got-$port" -w '%{time_total}\n' \
				"http://$VIP4/slow" >>"$LAB_RUN/times" &
			echo $! >"$LAB_RUN/down-$port.pid"
			continue
		fi
		if [ "$(stop_process "$LAB_RUN/down-$port.pid" 0)" != 0 ] ||
		   [ "$(sha256sum <"$LAB_RUN/got-$port")" != "$want" ]; then
			n=$((n + 1))
		fi
		rm -f "$LAB_RUN/got-$port"
	done
	echo "$n" >"$LAB_RUN/broken"
}

# resets NAME: RSTs the director sent (its MAC as the source) in a capture
resets() {
	tcpdump -nn -e -r "$LAB_RUN/$1.pcap" 2>/dev/null |
		awk -v mac="$(host_mac lb)" '$2 == mac' | wc -l
}

rst_capture() {
	capture_start xipt-br "$LAB_RUN" "$1" "tcp[tcpflags] & tcp-rst != 0"
}

# variant NAME SED: the object built from a copy of the sources with SED
# applied to the kern half, next to a copy of the loader
variant() {
	mkdir -p "$variants/$1"
	cp "$top/Makefile" "$top/xdp_iptunnel_common.h" "$variants/$1/"
	sed "$2" "$top/xdp_iptunnel_kern.c" >"$variants/$1/xdp_iptunnel_kern.c"
	cp "$top/xdp_iptunnel" "$variants/$1/"
	make -s -C "$variants/$1" xdp_iptunnel_kern.o KDIR= >/dev/null
}

"$top/tests/deps.sh" demo
make -s -C "$top" all lab/xdp_pass_kern.o
variant events 's/__uint(max_entries, EV_MAX);/__uint(max_entries, EV_MAX + 1);/'
variant ring 's/__uint(max_entries, MAGLEV_RING_SIZE);/__uint(max_entries, MAGLEV_RING_SIZE + 2);/'
check "the variants build, each with one map changed" \
	sh -c "! cmp -s $variants/events/xdp_iptunnel_kern.o $variants/ring/xdp_iptunnel_kern.o &&
		test -s $variants/events/xdp_iptunnel_kern.o"
lab_up native 2
# about 25 s per download at the lab nginx's 100 kB/s: time for the
# replacements on a busy machine
head -c 2500000 /dev/urandom >"$LAB_RUN/big"
want=$(sha256sum <"$LAB_RUN/big")

# ---- the baseline: stop, then start again ------------------------------
loader base
rst_capture base
rm -f "$LAB_RUN/times"
downloads start
sleep 2
ended base INT
sleep 0.5
loader base2
downloads wait
broken=$(cat "$LAB_RUN/broken")
capture_stop "$LAB_RUN" base
rst=$(resets base)
check "baseline: stop + start 0.5 s later breaks downloads ($broken of $NDOWN) and the director's stack resets them ($rst RSTs)" \
	test "$broken" -gt 0 -a "$rst" -gt 0
ended base2 INT

# ---- replaced several times, and after a SIGKILL ------------------------
loader v1
check "a director runs (program $(prog_id))" test -n "$(prog_id)"
ids=$(map_ids)
rc=0
loader fail --replace=hot || rc=1
ended fail
check "--replace=hot is refused, the director untouched" \
	sh -c "test $rc = 1 && test '$(status fail)' = 1 && test '$(map_ids)' = '$ids'"
rst_capture replace
rm -f "$LAB_RUN/times"
downloads start
sleep 1.5
before=$(vip_packets)
prog=$(prog_id)
loader v2 --replace || true
after=$(vip_packets)
ended v1
check "--replace: program $prog -> $(prog_id), without detaching (log: $(grep -o 'took over.*' "$LAB_RUN/v2.log"))" \
	sh -c "grep -q 'program $prog -> $(prog_id), attached throughout' '$LAB_RUN/v2.log' &&
		test $prog != $(prog_id)"
check "the replaced loader left by itself, status 0, saying so" \
	sh -c "test '$(status v1)' = 0 &&
		grep -q 'replaced on eth0 by another loader: left it attached and pinned' '$LAB_RUN/v1.log'"
check "every pinned map taken over: the same map ids, used by the new program" \
	sh -c "test '$(map_ids)' = '$ids' && test -z '$(uses_pins)'"
# nginx sends each download's share in a burst per second: wait for two
sleep 2.5
later=$(vip_packets)
check "the counters carry on: $before VIP packets before the swap, $after after, $later 2.5 s later" \
	test "$before" -gt 0 -a "$after" -ge "$before" -a "$later" -gt "$after"
loader v3 --replace -K || true
ended v2
check "replaced again, with -K: the link pinned" \
	sh -c "test '$(status v2)' = 0 && test -e $PINS/link"
sleep 1
ended v3 KILL
prog=$(prog_id)
check "the -K loader killed with SIGKILL: program $prog still attached" \
	test -n "$prog"
sleep 1
loader v4 --replace || true
check "--replace after the SIGKILL: program $prog -> $(prog_id), the link no longer pinned (no -K)" \
	sh -c "grep -q 'program $prog -> $(prog_id), attached throughout' '$LAB_RUN/v4.log' &&
		test ! -e $PINS/link"
sleep 1
loader v5 --replace || true
ended v4
check "and once more" test "$(status v4)" = 0
going=$((NDOWN - $(finished)))
check "the downloads were still going at the last replacement: $going of $NDOWN" \
	test "$going" = "$NDOWN"
downloads wait
broken=$(cat "$LAB_RUN/broken")
capture_stop "$LAB_RUN" replace
rst=$(resets replace)
check "$NDOWN downloads through 4 replacements and a SIGKILL: $broken broken" \
	test "$broken" = 0
check "the director's stack answered none of them: $rst RSTs from it" \
	test "$rst" = 0
check "the maps are still the first director's" test "$(map_ids)" = "$ids"

# ---- a changed map: refused, the director untouched; then cold ----------
prog=$(prog_id)
# the running director's, as the kernel has it: the variant has one more
events_max=$(bpftool -j map show pinned "$PINS/events" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["max_entries"])')
for v in events ring; do
	rc=0
	# shellcheck disable=SC2046
	nsenter --net=/run/netns/xipt-lb "$variants/$v/xdp_iptunnel" \
		$(director_args) --replace -T 2 >"$LAB_RUN/$v.out" 2>"$LAB_RUN/$v.err" || rc=$?
	case $v in
	events) want_err="xdp_iptunnel: --replace: map 'events': max entries $((events_max + 1)) now, $events_max in the running director (--replace=cold restarts it, with a window)" ;;
	ring) want_err="xdp_iptunnel: --replace: map 'vip_rings': inner maps' max entries 65539 now, 65537 in the running director (--replace=cold restarts it, with a window)" ;;
	esac
	check "an object with $v changed is refused: exit $rc, $(head -n 1 "$LAB_RUN/$v.err")" \
		sh -c "test $rc = 1 && test \"\$(cat '$LAB_RUN/$v.err')\" = \"$want_err\""
	running=$(alive "$(cat "$LAB_RUN/loader-v5.pid")" && echo yes)
	check "and the director is untouched: program $prog, the same maps, its loader running" \
		sh -c "test '$(prog_id)' = $prog && test '$(map_ids)' = '$ids' &&
			test '$running' = yes"
done
loader cold "$variants/events/xdp_iptunnel" --replace=cold || true
check "--replace=cold with the changed object: stopped program $prog, then started $(prog_id)" \
	sh -c "grep -q 'stopped program $prog on eth0' '$LAB_RUN/cold.log' &&
		test -n '$(prog_id)' -a '$(prog_id)' != $prog &&
		grep -q attached '$LAB_RUN/cold.log'"
ended v5
check "the old loader left by itself, status 0; new maps pinned" \
	sh -c "test '$(status v5)' = 0 && test '$(map_ids)' != '$ids'"
answer=$(in_ns client curl -s --max-time 2 "http://$VIP4/" || true)
check "the cold-started director answers ($answer)" \
	sh -c "echo '$answer' | grep -q '^rs'"
ended cold INT
attached=$(if lab_xdp_attached; then echo yes; fi)
check "SIGINT to it detaches and removes every pin" \
	sh -c "test '$(status cold)' = 0 && test -z '$attached' && test ! -e $PINS"
summary
