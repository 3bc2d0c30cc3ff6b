// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_decap: the real server's half of xdp_iptunnel, for kernels without
 * the ipip / ip6_tunnel / sit drivers.
 *
 * An IPv4 packet of protocol 4 or 41, or an IPv6 packet whose next header
 * is 4 or 41, addressed to one of the host's tunnel addresses loses its
 * outer header here; the inner packet goes on up the stack as if it had
 * arrived bare. The tunnel addresses are the keys of local_addrs, filled
 * when the program is attached (lab/lib.sh does it with bpftool; the
 * kernel's bpf_fib_lookup() could tell local addresses, but only on hosts
 * that forward). Everything else passes untouched.
 */
#ifdef __KERNEL__
#include <uapi/linux/bpf.h>	/* samples/bpf's flags: not include/linux/bpf.h */
#else
#include <linux/bpf.h>
#endif
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct local_addr {
	__be32 addr[4];		/* IPv4 in addr[0], the rest zero */
	__u32 family;		/* 4 or 6 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct local_addr);
	__type(value, __u8);
} local_addrs SEC(".maps");

/* The ethertype of what an IP-in-IP packet carries, or 0. */
static __always_inline __be16 inner_proto(__u8 protocol)
{
	if (protocol == IPPROTO_IPIP)
		return bpf_htons(ETH_P_IP);
	if (protocol == IPPROTO_IPV6)
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct local_addr dst = {};
	struct ethhdr *eth = data, *moved;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	int outer_len;
	__be16 proto;

	if (data + sizeof(*eth) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = data + sizeof(*eth);
		if ((void *)(iph + 1) > data_end || iph->ihl != 5)
			return XDP_PASS;
		proto = inner_proto(iph->protocol);
		dst.family = 4;
		dst.addr[0] = iph->daddr;
		outer_len = sizeof(*iph);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6h = data + sizeof(*eth);
		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		proto = inner_proto(ip6h->nexthdr);
		dst.family = 6;
		__builtin_memcpy(dst.addr, &ip6h->daddr, sizeof(dst.addr));
		outer_len = sizeof(*ip6h);
	} else {
		return XDP_PASS;
	}
	if (!proto || !bpf_map_lookup_elem(&local_addrs, &dst))
		return XDP_PASS;

	/* the Ethernet header moves up over the outer IP header */
	moved = data + outer_len;
	if ((void *)(moved + 1) > data_end)
		return XDP_PASS;
	__builtin_memmove(moved, eth, 2 * ETH_ALEN);
	moved->h_proto = proto;
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return XDP_DROP;
	return XDP_PASS;
}

/* The peer of a veth that sends with native XDP_TX needs a program. */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
