#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make patch [KDIR=<tree>] [OUT=<file>]: a git format-patch that adds
# xdp_iptunnel to an unmodified tree's samples/bpf the way upstream
# samples are added: the three sources, and tprogs-y / -objs / always-y
# lines in samples/bpf/Makefile (no Kbuild, which would shadow that
# Makefile for the other samples). Signed off by git's configured
# identity, or by a placeholder to replace.

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${KDIR:-$("$top/kernel/prepare-tree.sh" | tail -n 1)}
out=${OUT:-$top/kernel/out/0001-samples-bpf-add-xdp_iptunnel.patch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

name=$(git -C "$top" config user.name || echo "Your Name")
email=$(git -C "$top" config user.email || echo "you@example.org")
ident=(-c "user.name=$name" -c "user.email=$email")

mkdir -p "$work/samples/bpf"
cp "$tree/samples/bpf/Makefile" "$work/samples/bpf/"
git -C "$work" init -q
git -C "$work" add samples/bpf/Makefile
git -C "$work" "${ident[@]}" commit -q -m "6.1 samples/bpf/Makefile"

cp "$top/xdp_iptunnel_kern.c" "$top/xdp_iptunnel_user.c" \
	"$top/xdp_iptunnel_common.h" "$work/samples/bpf/"
patch -s -d "$work" -p1 <"$top/kernel/samples-bpf-Makefile.diff"
git -C "$work" add samples/bpf
git -C "$work" "${ident[@]}" commit -q -s -F - <<'MSG'
samples/bpf: add xdp_iptunnel, an XDP IP-in-IP load balancer

xdp_tx_iptunnel shows how XDP_TX and bpf_xdp_adjust_head() turn a
packet to a VIP into an IP-in-IP packet to one real server. Used as a
starting point for a load balancer it falls short: it tunnels IPv4 in
IPv4 and IPv6 in IPv6 only, writes one hash entry per port of a range
and refuses ranges over 256 ports, sends every VIP to a single real,
reads IPv4 ports at a fixed offset, hard-codes TTL 8 and clears the
TOS, sends frames that no longer fit the MTU, and attaches through
netlink, so a killed loader leaves the program behind.

xdp_iptunnel keeps xdp_tx_iptunnel's command line and adds:

- IPv6 and mixed IPv4-in-IPv6 and IPv6-in-IPv4 underlays
- any port range in two numbers, and port-less protocols (ICMP, ...)
- several real servers per VIP, picked by Maglev consistent hashing
  with weights; tables built aside and switched in with one update
- live updates of a running director through pinned maps, and
  optional health checks of the real servers
- parsing of IPv4 options, fragments and IPv6 extension headers
- ICMP fragmentation needed / packet too big for datagrams that would
  exceed the MTU once tunnelled
- TTL 64, DSCP and ECN copied to the outer header
- attachment through a bpf_link, and BTF-typed maps with per-VIP and
  per-real statistics

The kern half reads top-down: parse, match, pick a real, encapsulate,
transmit.
MSG
mkdir -p "$(dirname "$out")"
git -C "$work" format-patch -q -1 --stdout >"$out"
echo "$out"
