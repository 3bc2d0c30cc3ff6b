#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages that building and testing xdp_iptunnel
# need, saying what is installed; quiet when everything is there.
#   tests/deps.sh [build|check|demo|bench|kernel]...

set -eu

build="clang llvm libbpf-dev libelf-dev zlib1g-dev gcc make pkg-config"
# clang -target bpf reads glibc's headers as a 32-bit target's
[ "$(dpkg --print-architecture)" = amd64 ] && build="$build libc6-dev-i386"
run="iproute2 bpftool ethtool"
lab="nginx-light curl tcpdump tshark bird2 iputils-ping"
kernel="linux-source-6.1 rsync bc flex bison libssl-dev dwarves xz-utils perl python3-ply python3-git"
check="$build $run $lab python3 valgrind libclang-rt-14-dev util-linux"

want=""
for set in "${@:-check}"; do
	case $set in
	build) want="$want $build" ;;
	check) want="$want $check" ;;
	demo) want="$want $build $run $lab" ;;
	bench) want="$want $build $run $kernel xdp-tools python3-matplotlib time" ;;
	kernel) want="$want $build $kernel" ;;
	*) echo "deps.sh: unknown set '$set'" >&2; exit 1 ;;
	esac
done

missing=""
for pkg in $want; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing Debian packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps.sh: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
