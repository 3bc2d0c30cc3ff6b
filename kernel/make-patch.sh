#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make patch [KDIR=<tree>] [OUT=<file>]: a git format-patch that adds
# xdp_iptunnel to an unmodified tree's samples/bpf the way upstream
# samples are added: the sources, and tprogs-y / -objs / always-y
# lines in samples/bpf/Makefile (no Kbuild, which would shadow that
# Makefile for the other samples).
#
# KDIR: an unmodified tree (default: the cached linux-source-6.1 that
# kernel/prepare-tree.sh prepares). OUT: the patch file (default
# kernel/out/0001-samples-bpf-add-xdp_iptunnel.patch). The commit is made
# in a scratch git repository holding only samples/bpf/Makefile, author
# and Signed-off-by from git config user.name/user.email; without them,
# a placeholder that the patch itself says to replace.
# Prints the patch's path.

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${KDIR:-$("$top/kernel/prepare-tree.sh" | tail -n 1)}
out=${OUT:-$top/kernel/out/0001-samples-bpf-add-xdp_iptunnel.patch}
mk=$tree/samples/bpf/Makefile

die() { echo "make-patch: $*" >&2; exit 1; }

[ -f "$mk" ] || die "$mk: no such file (KDIR=$tree is no kernel tree)"
if ! grep -q '^tprogs-y ' "$mk" || grep -q xdp_iptunnel "$mk"; then
	die "$mk is not an unmodified upstream samples/bpf/Makefile"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

name=$(git -C "$top" config user.name || true)
email=$(git -C "$top" config user.email || true)
note=""
if [ -z "$name" ] || [ -z "$email" ]; then
	name="Your Name"
	email="you@example.org"
	note="Author and Signed-off-by are placeholders: replace
\"$name <$email>\" with your own identity before sending,
or set git config user.name and user.email and run make patch again."
	echo "make-patch: warning: no git identity." "$note" >&2
fi
git() {
	command git -C "$work" -c "user.name=$name" -c "user.email=$email" \
		-c core.abbrev=12 -c commit.gpgsign=false "$@"
}

mkdir -p "$work/samples/bpf"
cp "$mk" "$work/samples/bpf/"
git init -q
git add samples/bpf/Makefile
git commit -q -m "samples/bpf/Makefile of $(basename "$tree")"

cp "$top/xdp_iptunnel_kern.c" "$top/xdp_iptunnel_real_kern.c" \
	"$top/xdp_iptunnel_common.h" \
	"$top"/xdp_iptunnel_user.[ch] "$top/xdp_iptunnel_opts.c" \
	"$top/xdp_iptunnel_maps.c" "$top/xdp_iptunnel_net.c" \
	"$top/xdp_iptunnel_real.c" "$top"/xdp_iptunnel_trace.[ch] \
	"$top/xdp_iptunnel_replace.c" "$top/xdp_iptunnel_stats.c" \
	"$work/samples/bpf/"
patch -s -F0 --no-backup-if-mismatch -d "$work" -p1 \
	<"$top/kernel/samples-bpf-Makefile.diff" ||
	die "kernel/samples-bpf-Makefile.diff does not apply to $mk"
git add samples/bpf
git commit -q -s -F - <<'MSG'
samples/bpf: Add xdp_iptunnel, an XDP IP-in-IP load balancer

xdp_tx_iptunnel shows how XDP_TX and bpf_xdp_adjust_head() turn a
packet to a VIP into an IP-in-IP packet to one real server. Used as a
starting point for a load balancer it falls short: it tunnels IPv4 in
IPv4 and IPv6 in IPv6 only, writes one hash entry per port of a range
and refuses ranges over 256 ports, sends every VIP to a single real,
reads IPv4 ports at a fixed offset, hard-codes TTL 8 and clears the
TOS, sends frames that no longer fit the MTU, and attaches through
netlink, so a killed loader leaves the program behind.

xdp_iptunnel is its successor. It keeps xdp_tx_iptunnel's command line,
so existing invocations work unchanged, and adds:

- IPv6 and mixed IPv4-in-IPv6 and IPv6-in-IPv4 underlays
- any port range in two numbers, and port-less protocols (ICMP, ...)
- several real servers per VIP, picked by Maglev consistent hashing
  with weights; tables built aside and switched in with one update
- live updates of a running director through pinned maps, and
  optional health checks of the real servers
- a per-packet decision trace (--trace [FILTER]) from a ring buffer,
  filtered and rate-limited in the program, one flag check when off
- parsing of IPv4 options, fragments and IPv6 extension headers
- ICMP fragmentation needed / packet too big for datagrams that would
  exceed the MTU once tunnelled
- TTL 64, DSCP and ECN copied to the outer header
- connections that survive changes of the real set: moved TCP flows
  carry their previous real in the outer header, and the real server's
  program (xdp_iptunnel_real_kern.c) hands those it does not know to it
- attachment through a bpf_link, and BTF-typed maps with per-VIP and
  per-real statistics

The kern half reads top-down: parse, match, pick a real, encapsulate,
transmit. xdp_tx_iptunnel is left as it is; both build side by side.
MSG
if [ -n "$note" ]; then
	git notes add -m "$note"
fi
mkdir -p "$(dirname "$out")"
git format-patch -q -1 --notes --stdout >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
