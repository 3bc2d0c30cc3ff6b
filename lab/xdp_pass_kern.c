// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pass: a program that passes every packet, for the lab's veth peers.
 * Native XDP_TX on a veth reaches the peer only when the peer has an XDP
 * program of its own (measured on 6.18; GRO on is not enough).
 */
#ifdef __KERNEL__
#include <uapi/linux/bpf.h>	/* samples/bpf's flags: not include/linux/bpf.h */
#else
#include <linux/bpf.h>
#endif
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
