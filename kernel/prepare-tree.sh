#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# prepare-tree.sh - make (once) a prepared linux-source-6.1 tree for the
# in-tree build of xdp_iptunnel (make M=samples/bpf).
#
# The tree lives in a cache directory outside the repository:
#   KCACHE (default /var/cache/xdp_iptunnel/linux-source-6.1)
# and is keyed by the Debian linux-source-6.1 package version plus the
# version of this recipe: a stamp file records both, and a tree whose stamp
# does not match is prepared again (unpacked anew if its version differs).
#
# Steps: install missing packages (apt-get update first, only then), unpack
# /usr/src/linux-source-6.1.tar.xz, make defconfig, make headers_install,
# make modules_prepare, and build the tree's tools/lib/bpf (libbpf.a and its
# installed headers) into $KCACHE/libbpf, which a build may reuse with
#   make M=samples/bpf LIBBPF_OUTPUT=$KCACHE/libbpf ...
# A prepared tree takes about a second to check.
#
# Progress goes to stderr; stdout gets only the tree path, on the last line:
#   tree=$(kernel/prepare-tree.sh)
#
# Environment: KCACHE (tree path), JOBS (make -j, default nproc),
# FORCE=1 (prepare again even if the stamp matches).

set -eu

KCACHE=${KCACHE:-/var/cache/xdp_iptunnel/linux-source-6.1}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FORCE=${FORCE:-0}
PKG=linux-source-6.1
TARBALL=/usr/src/linux-source-6.1.tar.xz
# Bump when the preparation steps change, so cached trees are redone.
RECIPE=1
DEPS="$PKG rsync bc flex bison libelf-dev libssl-dev zlib1g-dev dwarves \
pkg-config gcc make clang llvm"

STAMP=.xdp_iptunnel-prepared	# "$PKG <version> recipe <n>": all done
UNPACKED=.xdp_iptunnel-unpacked	# "$PKG <version>": tarball fully unpacked

say() { echo "prepare-tree: $*" >&2; }
die() { say "error: $*"; exit 1; }

case $KCACHE in
/*) ;;
*) KCACHE=$PWD/$KCACHE ;;
esac
KCACHE=${KCACHE%/}
case $KCACHE in
"" | / | /usr | /usr/* | /var | /var/cache | /etc* | /bin* | /lib* | /home)
	die "refusing KCACHE=$KCACHE" ;;
esac

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
		grep -q '^install ok installed$'
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}

install_missing() {
	local missing="" p
	for p in $DEPS; do
		pkg_installed "$p" || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	say "installing:$missing"
	as_root apt-get update >&2
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $missing >&2
}

# The tree's own version, e.g. 6.1.192, from its top Makefile.
tree_kernelversion() {
	awk -F' *= *' '
		$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		$1 == "SUBLEVEL" { s = $2 } END { print v "." p "." s }
	' "$1/Makefile" 2>/dev/null
}

unpack() {
	local ver=$1 upstream=${1%%-*} tmp
	upstream=${upstream#*:}
	if [ "$(cat "$KCACHE/$UNPACKED" 2>/dev/null)" = "$PKG $ver" ]; then
		return 0
	fi
	[ -r "$TARBALL" ] || die "$TARBALL missing after installing $PKG"
	if [ -f "$KCACHE/Makefile" ] && [ -f "$KCACHE/Kbuild" ] &&
	   [ "$(tree_kernelversion "$KCACHE")" = "$upstream" ]; then
		# Same version, unpacked by someone else (or interrupted):
		# unpack over it, which restores every file of the tarball.
		say "refreshing $KCACHE from $TARBALL ($PKG $ver)"
		rm -f "$KCACHE/$STAMP"
		tar -xf "$TARBALL" -C "$KCACHE" --strip-components=1
	else
		if [ -e "$KCACHE" ]; then
			[ -f "$KCACHE/Kbuild" ] || [ -f "$KCACHE/$UNPACKED" ] ||
				[ -z "$(ls -A "$KCACHE")" ] ||
				die "$KCACHE exists and is no kernel tree"
			say "removing old tree $KCACHE"
		fi
		say "unpacking $TARBALL ($PKG $ver) into $KCACHE"
		mkdir -p "$(dirname "$KCACHE")"
		tmp=$(mktemp -d "$KCACHE.new.XXXXXX")
		tar -xf "$TARBALL" -C "$tmp" --strip-components=1
		rm -rf "$KCACHE"
		mv "$tmp" "$KCACHE"
	fi
	echo "$PKG $ver" >"$KCACHE/$UNPACKED"
}

prepare() {
	local k=$KCACHE
	if [ ! -f "$k/.config" ]; then
		say "make defconfig"
		make -C "$k" -j"$JOBS" defconfig >&2
	fi
	say "make headers_install"
	make -C "$k" -j"$JOBS" headers_install >&2
	say "make modules_prepare"
	make -C "$k" -j"$JOBS" modules_prepare >&2
	# libbpf.a and its headers, as samples/bpf/Makefile builds them
	# for itself, but into $k/libbpf so that copies of the tree can
	# share them. No EXTRA_CFLAGS: libbpf's own (-g -O2) are the ones
	# that work (see kernel/NOTES.md, "libbpf").
	say "make -C tools/lib/bpf (into $k/libbpf)"
	mkdir -p "$k/libbpf"
	make -C "$k/tools/lib/bpf" -j"$JOBS" RM='rm -rf' \
		srctree="$k" O= OUTPUT="$k/libbpf/" DESTDIR="$k/libbpf" \
		prefix= "$k/libbpf/libbpf.a" install_headers >&2
}

main() {
	local ver key lock
	install_missing
	ver=$(pkg_version "$PKG")
	[ -n "$ver" ] || die "$PKG is not installed"
	key="$PKG $ver recipe $RECIPE"

	if [ "$FORCE" != 1 ] &&
	   [ "$(cat "$KCACHE/$STAMP" 2>/dev/null)" = "$key" ]; then
		say "up to date ($key)"
		echo "$KCACHE"
		return 0
	fi

	mkdir -p "$(dirname "$KCACHE")"
	lock=$KCACHE.lock
	exec 9>"$lock"
	if ! flock -n 9; then
		say "waiting for another prepare-tree.sh ($lock)"
		flock 9
	fi
	# Someone else may have finished while we waited.
	if [ "$FORCE" != 1 ] &&
	   [ "$(cat "$KCACHE/$STAMP" 2>/dev/null)" = "$key" ]; then
		say "up to date ($key)"
		echo "$KCACHE"
		return 0
	fi

	unpack "$ver"
	rm -f "$KCACHE/$STAMP"
	prepare
	echo "$key" >"$KCACHE/$STAMP"
	say "prepared ($key)"
	echo "$KCACHE"
}

main "$@"
