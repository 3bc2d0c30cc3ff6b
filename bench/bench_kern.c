// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's own XDP programs:
 *
 *   xdp_floor  returns XDP_PASS at once: the cost of BPF_PROG_TEST_RUN
 *              itself, the floor under every per-packet figure
 *   xdp_bounce counts and returns XDP_TX: the floor as a live director
 *   xdp_sink   counts and drops what the director transmits to it, and
 *              apart the frames that are IP-in-IP (outer protocol 4 or
 *              41): a director that bounced frames untouched would
 *              otherwise look as fast as one that tunnels
 *   xdp_gen    run by BPF_PROG_TEST_RUN in live-frame mode: writes the
 *              frame afresh (pages come back modified by the director)
 *              with a source port per flow, and redirects it to gen.ifindex
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define GEN_FRAME_MIN	60	/* 64 on a wire, with the FCS */
#define GEN_FRAME_MAX	80

struct gen_config {
	__u8 frame[GEN_FRAME_MAX];	/* as long as the test run's data */
	__u32 ifindex;			/* redirect target */
	__u32 sport_off;		/* source port offset in the frame */
	__u32 flows;			/* source ports sport .. sport+flows-1 */
	__u16 sport;
};

struct gen_config gen;	/* .bss: written by livegen after loading */

struct counter {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
};

struct counter sink_count SEC(".maps");	/* 0: all, 1: IP-in-IP */
struct counter bounce_count SEC(".maps");
struct counter gen_count SEC(".maps");

static __always_inline void count(struct counter *map, __u32 key)
{
	__u64 *n = bpf_map_lookup_elem(map, &key);

	if (n)
		*n += 1;
}

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_bounce(struct xdp_md *ctx)
{
	count(&bounce_count, 0);
	return XDP_TX;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *data = (void *)(long)ctx->data;
	__u8 proto = 0;

	count(&sink_count, 0);
	if ((void *)(data + 54) > data_end)
		return XDP_DROP;
	if (*(__be16 *)(data + 12) == bpf_htons(ETH_P_IP))
		proto = data[23];
	else if (*(__be16 *)(data + 12) == bpf_htons(ETH_P_IPV6))
		proto = data[20];
	if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6)
		count(&sink_count, 1);
	return XDP_DROP;
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 zero = 0, off = gen.sport_off, i;
	__u16 sport;
	__u64 *n;

	if (data + GEN_FRAME_MIN > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, gen.frame, GEN_FRAME_MIN);
	for (i = GEN_FRAME_MIN; i < GEN_FRAME_MAX; i += 2) {
		if (data + i + 2 > data_end)
			break;
		*(__u16 *)(data + i) = *(__u16 *)&gen.frame[i];
	}
	n = bpf_map_lookup_elem(&gen_count, &zero);
	if (!n)
		return XDP_ABORTED;
	*n += 1;
	if (gen.flows > 1 && off < GEN_FRAME_MAX) {
		__u8 *port = data + off;

		if ((void *)(port + 2) > data_end)
			return XDP_ABORTED;
		sport = gen.sport + *n % gen.flows;
		port[0] = sport >> 8;
		port[1] = sport;
	}
	return bpf_redirect(gen.ifindex, 0);
}

char _license[] SEC("license") = "GPL";
