#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Where the sample belongs: built in a linux-source-6.1 tree against the
# tree's own headers and libbpf, passing the same tests there, and as an
# upstream patch that applies, passes checkpatch and builds with the
# tree's samples/bpf. The prepared tree is cached (kernel/prepare-tree.sh);
# a scratch copy of it is kept beside it and reset from it each run.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/tap.sh"
tree=$("$top/kernel/prepare-tree.sh" | tail -n 1)
work=${INTREE_WORK:-$(dirname "$tree")/intree-work}
samples=$work/samples/bpf
libbpf="LIBBPF_OUTPUT=$tree/libbpf"
# checkpatch's SPDX check runs python3 from PATH: Debian's has ply and git
checkpatch() { PATH=/usr/bin:$PATH perl "$tree/scripts/checkpatch.pl" "$@"; }

reset_tree() {
	rsync -a --delete "$tree/" "$work/"
}

# ---- the project placed as the tree's samples/bpf --------------------------
reset_tree
rm -rf "$samples"
mkdir -p "$samples"
git -C "$top" ls-files | tar -C "$top" -cf - -T - | tar -C "$samples" -xf -
check "make M=samples/bpf builds xdp_iptunnel and xdp_iptunnel_kern.o" \
	sh -c "make -s -C '$work' M=samples/bpf $libbpf >'$work/build.log' 2>&1 &&
		test -x '$samples/xdp_iptunnel' &&
		llvm-readelf -S '$samples/xdp_iptunnel_kern.o' | grep -q ' xdp '"
check "no compiler warnings in the in-tree build" \
	sh -c "! grep -i 'warning:' '$work/build.log' | grep -v Module.symvers"
check "the user half is linked statically against the tree's libbpf" \
	sh -c "! ldd '$samples/xdp_iptunnel' | grep -q libbpf &&
		nm '$samples/xdp_iptunnel' | grep -q ' bpf_object__open_file'"
check "make -C samples/bpf works too" \
	sh -c "make -s -C '$samples' $libbpf >/dev/null 2>&1"
check "make KDIR=<tree> from a copy of the project directory" \
	sh -c "rm -rf '$work.proj' && mkdir '$work.proj' &&
		git -C '$top' ls-files | tar -C '$top' -cf - -T - |
		tar -C '$work.proj' -xf - &&
		make -s -C '$work.proj' KDIR='$tree' $libbpf >/dev/null 2>&1 &&
		test -x '$work.proj/xdp_iptunnel' && rm -rf '$work.proj'"

# the in-tree binary and object pass the same tests
make -s -C "$samples/tests" test_kern test_real \
	LIBBPF_CFLAGS="-I$tree/libbpf/include" \
	LIBBPF_LDLIBS="$tree/libbpf/libbpf.a -lelf -lz"
make -s -C "$samples" KDIR= tests/flowpick lab/xdp_pass_kern.o
for suite in "tests/test_kern ./xdp_iptunnel_kern.o" \
	"tests/test_real ./xdp_iptunnel_real_kern.o" tests/test_real_tc.sh \
	tests/test_lb.sh "tests/e2e/run.sh native"; do
	line=$(cd "$samples" && $suite 2>&1 | tail -n 1)
	check "in-tree build: $suite: $line" \
		sh -c "echo '$line' | grep -q '^[1-9][0-9]* passed, 0 failed'"
done

# a broken kern half fails the build and leaves no object
echo '#error a broken kern half' >>"$samples/xdp_iptunnel_kern.c"
rm -f "$samples/xdp_iptunnel_kern.o"
check "a broken kern half fails the build, leaving no object" \
	sh -c "! make -s -C '$work' M=samples/bpf $libbpf >/dev/null 2>&1 &&
		test ! -e '$samples/xdp_iptunnel_kern.o'"

# ---- the upstream patch -----------------------------------------------------
reset_tree
patch=$work.patch
KDIR=$tree OUT=$patch "$top/kernel/make-patch.sh" >/dev/null
check "make patch writes a patch with an upstream subject and a sign-off" \
	sh -c "grep -q '^Subject: \[PATCH\] samples/bpf: Add xdp_iptunnel' '$patch' &&
		grep -q '^Signed-off-by: ' '$patch'"
check "it applies to an unmodified tree (git apply --check, patch --dry-run)" \
	sh -c "cd '$work' && git apply --check '$patch' &&
		patch -p1 --dry-run -s <'$patch' >/dev/null"
checkpatch --strict --terse "$patch" >"$work.checkpatch" 2>&1 || true
check "checkpatch --strict: 0 errors, no warning but MAINTAINERS ($(tail -n 1 "$work.checkpatch"))" \
	sh -c "grep -q 'total: 0 errors, [01] warnings, 0 checks' '$work.checkpatch' &&
		! grep 'WARNING' '$work.checkpatch' | grep -vq 'MAINTAINERS need updating'"
(cd "$work" && patch -p1 -s <"$patch")
check "after applying, make M=samples/bpf builds xdp_iptunnel with the other samples" \
	sh -c "make -s -C '$work' M=samples/bpf VMLINUX_BTF=/sys/kernel/btf/vmlinux \
		-j$(nproc) >'$work.upstream.log' 2>&1 &&
		test -x '$samples/xdp_iptunnel' && test -x '$samples/xdp_tx_iptunnel' &&
		llvm-readelf -S '$samples/xdp_iptunnel_kern.o' | grep -q ' xdp '"
check "the object built by upstream's rules passes the verifier" \
	sh -c "bpftool prog loadall '$samples/xdp_iptunnel_kern.o' \
		/sys/fs/bpf/xipt-intree type xdp && rm -rf /sys/fs/bpf/xipt-intree"
check "so does the real server's, its XDP and tc programs" \
	sh -c "bpftool prog loadall '$samples/xdp_iptunnel_real_kern.o' \
		/sys/fs/bpf/xipt-intree-real &&
		test -e /sys/fs/bpf/xipt-intree-real/xdp_iptunnel_real_tc &&
		rm -rf /sys/fs/bpf/xipt-intree-real"

# ---- every C source passes checkpatch -----------------------------------------
sources=$(git -C "$top" ls-files '*.c' '*.h' | sed "s|^|$top/|")
# shellcheck disable=SC2086
checkpatch --strict --no-tree --terse -f $sources >"$work.sources" 2>&1 || true
check "checkpatch --strict --no-tree -f: no error, warning or check in $(echo $sources | wc -w) files" \
	sh -c "! grep -E 'ERROR|WARNING|CHECK' '$work.sources'"
summary
