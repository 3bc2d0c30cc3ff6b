#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The first run, as a new user has it, whatever this machine did before:
# a copy of the tree with no build products (what a fresh clone holds),
# in a directory only root can enter (as a clone in root's home is), run
# in a private mount namespace where /sys/fs/bpf has nothing mounted.
# There `make demo`, `make demo-ecmp` and one end-to-end suite must pass.
#   tests/test_first_run.sh [--inside DIR]

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/tap.sh"

bpffs_mounted() { [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; }

# ---- inside the private mount namespace ----------------------------------
if [ "${1:-}" = --inside ]; then
	cd "$2"
	# the machine's mount (and any stacked on it) is gone in here only
	while bpffs_mounted; do
		umount /sys/fs/bpf
	done
	check "no BPF filesystem on /sys/fs/bpf before the first command" \
		sh -c "! stat -f -c %T /sys/fs/bpf | grep -q bpf_fs"
	# what a lab killed mid-run leaves (SIGKILL, a machine reset with
	# /run kept): its lock and pid files naming processes long gone, a
	# pid above pid_max, so that no live process can have it
	stale=""
	if [ ! -e /run/xdp_iptunnel-lab ] &&
	   mkdir /run/xdp_iptunnel-lab.lock 2>/dev/null; then
		gone=$(($(cat /proc/sys/kernel/pid_max) + 1))
		mkdir /run/xdp_iptunnel-lab
		for f in xdp_iptunnel-lab.lock/pid xdp_iptunnel-lab/real-rs1.pid \
			 xdp_iptunnel-lab/nginx-rs1.pid xdp_iptunnel-lab/director.pid; do
			echo "$gone" >"/run/$f"
		done
		stale=1
	fi
	for target in demo demo-ecmp; do
		rc=0
		make "$target" >"$target.log" 2>&1 || rc=$?
		check "make $target: exit $rc ($(grep -c . "$target.log") lines)" \
			test "$rc" = 0
		[ "$rc" = 0 ] || tail -n 20 "$target.log"
	done
	check "make demo: the page came through the VIP from rs1" \
		grep -q '^  answer: rs1$' demo.log
	check "make demo: the tunnelled packet on the wire, 192.0.2.10 > 192.0.2.11" \
		grep -q 'lb > rs1.*192\.0\.2\.10 > 192\.0\.2\.11' demo.log
	[ -z "$stale" ] || check "make demo: took over what a killed lab left" \
		grep -q '^  answer: rs1$' demo.log
	check "make demo: said, once, that it mounted the BPF filesystem" \
		test "$(grep -c 'mounting the BPF filesystem' demo.log)" = 1
	check "make demo-ecmp: pages through both directors" \
		sh -c "grep -q 'e-lb1' demo-ecmp.log && grep -q 'e-lb2' demo-ecmp.log"
	rc=0
	tests/e2e/test_lb_lab.sh >e2e-lb.log 2>&1 || rc=$?
	check "tests/e2e/test_lb_lab.sh: exit $rc, $(tail -n 1 e2e-lb.log)" \
		test "$rc" = 0
	[ "$rc" = 0 ] || grep '^not ok' e2e-lb.log
	summary
	exit
fi

# ---- outside: the fresh copy, then the namespace -------------------------
[ "$(id -u)" = 0 ] || { echo "test_first_run.sh: run as root" >&2; exit 1; }
tmp=$(mktemp -d)	# mode 0700: bird and nginx workers cannot enter it
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
clone=$tmp/xdp_iptunnel
mkdir "$clone"
# the files a clone of this tree would hold, uncommitted changes included
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 cp --parents -t "$clone")
check "the copy is only root's (mode $(stat -c %a "$tmp")) and has no build products" \
	sh -c "test $(stat -c %a "$tmp") = 700 && test ! -e '$clone/xdp_iptunnel' &&
		test ! -e '$clone/xdp_iptunnel_kern.o'"
# its checks count here; its closing line is replaced by ours
while read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) line=${line#not ok * - }
		    not_ok "${line%%: *}" "${line#*: }" ;;
	*" passed, "*" failed") ;;
	*) echo "# $line" ;;
	esac
done < <(unshare --mount --propagation private \
	"$clone/tests/test_first_run.sh" --inside "$clone" 2>&1)
summary
